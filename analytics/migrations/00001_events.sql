-- The analytics database (DATA/analytics.db), apart from the main one so that an
-- ingestion batch never holds the lock a chat message waits for.
--
-- events holds every accepted event as it came (enriched). The other tables are
-- rollups kept by the ingester in the same transaction: one row per visit
-- (visits), per visit and page (page_visits), per visit and custom event
-- (event_visits), per visit, event and property value (event_props). Keyed by
-- visit, they can be summed for any range and erased visitor by visitor.
-- day and hour are the visit's start in the site's time zone. Times are Unix ms.
-- events has one index, on (site, ts): appends in time order are cheap. Erasure
-- finds a visitor's events through its visits (each event lies within its
-- visit's start_ts..end_ts); the realtime report reads the last minutes of it.
-- Rows name their site by a small number (sites), not its 26-character id:
-- every index key repeats it.

-- +goose Up
CREATE TABLE sites (
    site    INTEGER PRIMARY KEY,
    site_id TEXT NOT NULL UNIQUE
);

CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    site         INTEGER NOT NULL,
    ts           INTEGER NOT NULL,
    visitor      TEXT NOT NULL,
    visit        TEXT NOT NULL,
    type         TEXT NOT NULL,
    path         TEXT NOT NULL DEFAULT '',
    title        TEXT NOT NULL DEFAULT '',
    ref_host     TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL DEFAULT '',
    props        TEXT NOT NULL DEFAULT '',
    engaged_ms   INTEGER NOT NULL DEFAULT 0,
    scroll       INTEGER NOT NULL DEFAULT 0,
    user_id      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_site_ts ON events(site, ts);

CREATE TABLE visits (
    site         INTEGER NOT NULL,
    visit        TEXT NOT NULL,
    visitor      TEXT NOT NULL,
    visit_n      INTEGER NOT NULL DEFAULT 1,
    day          TEXT NOT NULL,
    hour         INTEGER NOT NULL,
    start_ts     INTEGER NOT NULL,
    end_ts       INTEGER NOT NULL,
    pageviews    INTEGER NOT NULL DEFAULT 0,
    events       INTEGER NOT NULL DEFAULT 0,
    engaged_ms   INTEGER NOT NULL DEFAULT 0,
    entry_path   TEXT NOT NULL DEFAULT '',
    exit_path    TEXT NOT NULL DEFAULT '',
    ref_host     TEXT NOT NULL DEFAULT '',
    source       TEXT NOT NULL DEFAULT '',
    medium       TEXT NOT NULL DEFAULT '',
    utm_source   TEXT NOT NULL DEFAULT '',
    utm_medium   TEXT NOT NULL DEFAULT '',
    utm_campaign TEXT NOT NULL DEFAULT '',
    utm_term     TEXT NOT NULL DEFAULT '',
    utm_content  TEXT NOT NULL DEFAULT '',
    browser      TEXT NOT NULL DEFAULT '',
    os           TEXT NOT NULL DEFAULT '',
    device       TEXT NOT NULL DEFAULT '',
    language     TEXT NOT NULL DEFAULT '',
    screen       TEXT NOT NULL DEFAULT '',
    user_id      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (site, visit)
) WITHOUT ROWID;
CREATE INDEX visits_day ON visits(site, day, visitor, pageviews, events, start_ts, end_ts);
CREATE INDEX visits_visitor ON visits(site, visitor);
CREATE INDEX visits_user ON visits(site, user_id) WHERE user_id <> '';

CREATE TABLE page_visits (
    site       INTEGER NOT NULL,
    visit      TEXT NOT NULL,
    path       TEXT NOT NULL,
    visitor    TEXT NOT NULL,
    day        TEXT NOT NULL,
    views      INTEGER NOT NULL DEFAULT 0,
    engaged_ms INTEGER NOT NULL DEFAULT 0,
    scroll     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, visit, path)
) WITHOUT ROWID;
CREATE INDEX page_visits_day ON page_visits(site, day, path);

CREATE TABLE event_visits (
    site    INTEGER NOT NULL,
    visit   TEXT NOT NULL,
    name    TEXT NOT NULL,
    visitor TEXT NOT NULL,
    day     TEXT NOT NULL,
    count   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, visit, name)
) WITHOUT ROWID;
CREATE INDEX event_visits_day ON event_visits(site, day, name);

CREATE TABLE event_props (
    site    INTEGER NOT NULL,
    visit   TEXT NOT NULL,
    name    TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    visitor TEXT NOT NULL,
    day     TEXT NOT NULL,
    count   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, visit, name, key, value)
) WITHOUT ROWID;
CREATE INDEX event_props_day ON event_props(site, day, name, key);

-- Daily salts for the visitor hash of cookieless sites; deleted after 48 hours.
CREATE TABLE salts (
    day  TEXT PRIMARY KEY,
    salt BLOB NOT NULL
);

-- +goose Down
DROP TABLE salts;
DROP TABLE event_props;
DROP TABLE event_visits;
DROP TABLE page_visits;
DROP TABLE visits;
DROP TABLE events;
DROP TABLE sites;
