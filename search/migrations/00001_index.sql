-- The embedded search index. It holds no text: every word of a message is
-- stored as a keyed hash (HMAC with the tenant's search key), so the file
-- reveals nothing of the transcripts, and a query's words are hashed the same
-- way to find them. docs maps the full-text rows to messages.

-- +goose Up
CREATE TABLE docs (
    rowid           INTEGER PRIMARY KEY,
    tenant          TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (conversation_id, seq)
);
CREATE INDEX docs_tenant_time ON docs(tenant, created_at);
CREATE VIRTUAL TABLE terms USING fts5(t, content='', contentless_delete=1, tokenize='ascii');
CREATE TABLE meta (
    k TEXT PRIMARY KEY,
    v INTEGER NOT NULL
);

-- +goose Down
DROP TABLE meta;
DROP TABLE terms;
DROP TABLE docs;
