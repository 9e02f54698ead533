-- Docs' rowids become their time (ms × a million plus a slot), so that a search
-- by date reads the full-text index newest first and stops after a page.
-- Rows numbered the old way would sort before every new one: the index
-- starts empty and the feeder reads every message back from the store.

-- +goose Up
DROP TABLE terms;
DELETE FROM docs;
DELETE FROM conv_agents;
DELETE FROM convs;
DELETE FROM meta;
CREATE VIRTUAL TABLE terms USING fts5(t, content='', contentless_delete=1, tokenize='ascii');

-- +goose Down
DROP TABLE terms;
DELETE FROM docs;
DELETE FROM conv_agents;
DELETE FROM convs;
DELETE FROM meta;
CREATE VIRTUAL TABLE terms USING fts5(t, content='', contentless_delete=1, tokenize='ascii');
