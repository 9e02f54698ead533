-- A rolled day now keeps at most MaxDayValues values of a dimension and adds
-- up the rest in an "(other)" row. Rolled days are rolled again.

-- +goose Up
UPDATE rolled_days SET dirty = 1;

-- +goose Down
UPDATE rolled_days SET dirty = 1;
