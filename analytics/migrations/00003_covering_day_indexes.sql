-- Covering day indexes: reports scan a range of days and read a few columns;
-- with these they never visit the tables themselves. visits_day carries the
-- device and source filters too.

-- +goose Up
DROP INDEX visits_day;
CREATE INDEX visits_day ON visits(site, day, device, source, visitor, pageviews, events, start_ts, end_ts, hour);
DROP INDEX page_visits_day;
CREATE INDEX page_visits_day ON page_visits(site, day, path, visitor, views);
DROP INDEX event_visits_day;
CREATE INDEX event_visits_day ON event_visits(site, day, name, visitor, count);
DROP INDEX event_props_day;
CREATE INDEX event_props_day ON event_props(site, day, name, key, value, visitor, count);

-- +goose Down
DROP INDEX event_props_day;
CREATE INDEX event_props_day ON event_props(site, day, name, key);
DROP INDEX event_visits_day;
CREATE INDEX event_visits_day ON event_visits(site, day, name);
DROP INDEX page_visits_day;
CREATE INDEX page_visits_day ON page_visits(site, day, path);
DROP INDEX visits_day;
CREATE INDEX visits_day ON visits(site, day, visitor, pageviews, events, start_ts, end_ts);
