-- Tokens get shorter (15 bits a byte of a beginning, 40 of the whole word,
-- blind.go): a third less for FTS5 to write and merge. The old tokens cannot
-- be converted: the index starts empty and the feeder reads every message
-- back from the store. The index of docs by tenant and time goes: every
-- search reads docs by rowid, and each message paid for its upkeep.

-- +goose Up
DROP TABLE terms;
DROP INDEX docs_tenant_time;
DELETE FROM docs;
DELETE FROM meta;
CREATE VIRTUAL TABLE terms USING fts5(t, f, content='', contentless_delete=1, tokenize='ascii');

-- +goose Down
DROP TABLE terms;
DELETE FROM docs;
CREATE INDEX docs_tenant_time ON docs(tenant, created_at);
DELETE FROM meta;
CREATE VIRTUAL TABLE terms USING fts5(t, f, content='', contentless_delete=1, tokenize='ascii');
