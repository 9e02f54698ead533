-- One row written per visit and batch instead of one per event, page, event
-- name and property (docs/benchmarks.md, "Analytics ingestion"):
--
-- event_log holds the raw events, one row per accepted batch (a batch is one
-- visit's): data is a JSON array of the enriched events. The events view
-- shows them as rows, as the events table did.
-- visits carries what happened in the visit in three lists (visitdoc.go):
-- pages, evs and props replace page_visits, event_visits and event_props;
-- exit_title is the last page's title. It becomes a rowid table, so that a
-- day's visits lie together in insertion order.

-- +goose Up
CREATE TABLE visits_new (
    id           INTEGER PRIMARY KEY,
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
    exit_title   TEXT NOT NULL DEFAULT '',
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
    pages        BLOB,
    evs          BLOB,
    props        BLOB
);

INSERT INTO visits_new (site, visit, visitor, visit_n, day, hour, start_ts, end_ts, pageviews, events, engaged_ms,
    entry_path, exit_path, exit_title, ref_host, source, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    browser, os, device, language, screen, user_id, pages, evs, props)
SELECT v.site, v.visit, v.visitor, v.visit_n, v.day, v.hour, v.start_ts, v.end_ts, v.pageviews, v.events, v.engaged_ms,
    v.entry_path, v.exit_path,
    coalesce((SELECT e.title FROM events e WHERE e.site = v.site AND e.ts BETWEEN v.start_ts AND v.end_ts AND e.visit = v.visit
        AND e.type = 'pageview' ORDER BY e.ts DESC LIMIT 1), ''),
    v.ref_host, v.source, v.medium, v.utm_source, v.utm_medium, v.utm_campaign, v.utm_term, v.utm_content,
    v.browser, v.os, v.device, v.language, v.screen, v.user_id,
    (SELECT CAST(group_concat(char(0) || replace(replace(p.path, char(0), ''), char(1), '') || char(1) || p.views || char(1) || p.engaged_ms || char(1) || p.scroll, '') AS BLOB)
        FROM page_visits p WHERE p.site = v.site AND p.visit = v.visit),
    (SELECT CAST(group_concat(char(0) || replace(replace(x.name, char(0), ''), char(1), '') || char(1) || x.count, '') AS BLOB)
        FROM event_visits x WHERE x.site = v.site AND x.visit = v.visit),
    (SELECT CAST(group_concat(char(0) || replace(replace(x.name, char(0), ''), char(1), '') || char(1) || replace(replace(x.key, char(0), ''), char(1), '')
            || char(1) || replace(replace(x.value, char(0), ''), char(1), '') || char(1) || x.count, '') AS BLOB)
        FROM event_props x WHERE x.site = v.site AND x.visit = v.visit)
FROM visits v ORDER BY v.start_ts;

CREATE TABLE event_log (
    id      INTEGER PRIMARY KEY,
    site    INTEGER NOT NULL,
    ts      INTEGER NOT NULL, -- the batch's latest event
    visit   TEXT NOT NULL,
    visitor TEXT NOT NULL,
    n       INTEGER NOT NULL, -- events in data
    data    TEXT NOT NULL     -- a JSON array of events
);
INSERT INTO event_log (site, ts, visit, visitor, n, data)
SELECT site, MAX(ts), visit, visitor, COUNT(*), json_group_array(json_object('ts', ts, 'type', type, 'path', path, 'title', title,
    'ref_host', ref_host, 'name', name, 'props', CASE WHEN props <> '' THEN json(props) END, 'engaged_ms', engaged_ms, 'scroll', scroll, 'user_id', user_id))
FROM (SELECT * FROM events ORDER BY site, visit, ts, id) GROUP BY site, visit, visitor ORDER BY MAX(ts);
CREATE INDEX event_log_ts ON event_log(site, ts);

DROP TABLE events;
DROP TABLE page_visits;
DROP TABLE event_visits;
DROP TABLE event_props;
DROP TABLE visits;
ALTER TABLE visits_new RENAME TO visits;
CREATE UNIQUE INDEX visits_visit ON visits(site, visit);
CREATE INDEX visits_day ON visits(site, day);
CREATE INDEX visits_visitor ON visits(site, visitor);
CREATE INDEX visits_user ON visits(site, user_id) WHERE user_id <> '';
CREATE INDEX visits_end ON visits(site, end_ts);

CREATE VIEW events AS
SELECT l.id * 1000 + e.key AS id, l.site, e.value ->> 'ts' AS ts, l.visitor, l.visit, e.value ->> 'type' AS type,
    coalesce(e.value ->> 'path', '') AS path, coalesce(e.value ->> 'title', '') AS title, coalesce(e.value ->> 'ref_host', '') AS ref_host,
    coalesce(e.value ->> 'name', '') AS name, coalesce(CASE WHEN json_type(e.value, '$.props') = 'object' THEN e.value -> 'props' END, '') AS props, coalesce(e.value ->> 'engaged_ms', 0) AS engaged_ms,
    coalesce(e.value ->> 'scroll', 0) AS scroll, coalesce(e.value ->> 'user_id', '') AS user_id
FROM event_log l, json_each(l.data) e;

-- +goose Down
SELECT RAISE(ABORT, 'analytics 00008 (visit documents) cannot be undone');
