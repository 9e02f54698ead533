-- bot_days counts, per site and day (the site's), the events dropped because
-- a bot sent them: nothing of the bot is kept, but a dashboard left empty by
-- them can say why.

-- +goose Up
CREATE TABLE bot_days (
    site   INTEGER NOT NULL,
    day    TEXT NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (site, day)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE bot_days;
