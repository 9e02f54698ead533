-- A rolled day's visits carry their visitor's number (vn), written by the
-- roll, so that a day table reads it with the visit rather than looking it
-- up in visitor_numbers for each row. Live days' visits have none yet.

-- +goose Up
ALTER TABLE visits ADD COLUMN vn INTEGER;
UPDATE rolled_days SET dirty = 1;

-- +goose Down
ALTER TABLE visits DROP COLUMN vn;
