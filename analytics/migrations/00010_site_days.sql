-- site_days counts, per site and day (the site's), the events accepted against
-- the site's daily budget and those dropped: past the budget, or larger than
-- the site's limit for one event. The budget holds across restarts, and the
-- dashboard can say what was not stored.

-- +goose Up
CREATE TABLE site_days (
    site     INTEGER NOT NULL,
    day      TEXT NOT NULL,
    accepted INTEGER NOT NULL DEFAULT 0,
    dropped  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE site_days;
