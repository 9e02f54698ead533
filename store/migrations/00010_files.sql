-- Files sent in conversations. The body is sealed (AES-256-GCM under the
-- tenant's data key, with tenant, conversation and file id as associated
-- data); type is what the content sniffed as, never what the sender said.

-- +goose Up
CREATE TABLE files (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    uploader_kind   TEXT NOT NULL,
    uploader_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    type            TEXT NOT NULL,
    size            INTEGER NOT NULL,
    body            BLOB NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX files_conversation ON files(conversation_id, id);

-- +goose Down
DROP TABLE files;
