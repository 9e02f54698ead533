-- Daily rollups: what reports read for closed days (two days or more before
-- today in the site's time zone), so that a report costs the number of days
-- and values, not the number of visits.
--
-- day_rollups: per site, day, dimension and value: additive counts, and the
-- day's visitors as a roaring bitmap of visitor numbers, whose unions give
-- exact distinct counts over any range. dim is '' (the whole site), 'hour'
-- (value 00..23), a visit column (source, device, entry_path…), 'page', 'event',
-- or 'prop:' and an event name (value key=value).
-- rolled_days: which days are rolled. The writer and erasure mark a rolled day
-- dirty when they change it; reports compute dirty or unrolled days from the
-- visit-keyed tables until the roller rolls them again.

-- +goose Up
CREATE TABLE visitor_numbers (
    n       INTEGER PRIMARY KEY,
    site    INTEGER NOT NULL,
    visitor TEXT NOT NULL,
    UNIQUE (site, visitor)
);

CREATE TABLE rolled_days (
    site      INTEGER NOT NULL,
    day       TEXT NOT NULL,
    ready     INTEGER NOT NULL DEFAULT 0,
    dirty     INTEGER NOT NULL DEFAULT 0,
    rolled_at INTEGER NOT NULL,
    PRIMARY KEY (site, day)
) WITHOUT ROWID;

CREATE TABLE day_rollups (
    site        INTEGER NOT NULL,
    day         TEXT NOT NULL,
    dim         TEXT NOT NULL,
    value       TEXT NOT NULL,
    visits      INTEGER NOT NULL,
    pageviews   INTEGER NOT NULL,
    bounces     INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    visitors    BLOB NOT NULL,
    PRIMARY KEY (site, dim, day, value)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE day_rollups;
DROP TABLE rolled_days;
DROP TABLE visitor_numbers;
