-- Conversations and their messages. A message's seq is its place in the
-- conversation (1, 2, 3… without gaps); body is sealed (AES-256-GCM under the
-- tenant's data key, with tenant, conversation and seq as associated data).
-- client_id is the sender's idempotency key: a resend finds the original.

-- +goose Up
CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    site_id    TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    visitor    TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'open',
    last_seq   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at  INTEGER
);
CREATE INDEX conversations_tenant ON conversations(tenant_id, id);
CREATE INDEX conversations_visitor ON conversations(site_id, visitor);

CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    id              TEXT NOT NULL,
    sender_kind     TEXT NOT NULL CHECK (sender_kind IN ('visitor', 'agent', 'bot', 'system')),
    sender_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    body            BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_client ON messages(conversation_id, sender_kind, sender_id, client_id) WHERE client_id <> '';

-- +goose Down
DROP TABLE messages;
DROP TABLE conversations;
