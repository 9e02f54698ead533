-- Page rollups now carry the metrics of the visits that viewed the page
-- (count: their pageviews; bounces; duration). Rolled days are rolled again.
-- A change of what a rollup means always ships with such a migration.

-- +goose Up
UPDATE rolled_days SET dirty = 1;

-- +goose Down
UPDATE rolled_days SET dirty = 1;
