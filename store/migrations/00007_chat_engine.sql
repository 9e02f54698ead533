-- The chat engine's configuration and state. Queue, agent and chat settings
-- are JSON documents the chat package validates (their shape is its own);
-- conversations gain what routing, reporting and a restart need.
-- token_hash is the SHA-256 of the visitor's chat token, which is bound to
-- its conversation; the token itself is never stored.

-- +goose Up
CREATE TABLE queues (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    config     TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX queues_name ON queues(tenant_id, name COLLATE NOCASE);

CREATE TABLE agents (
    tenant_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    config     TEXT NOT NULL DEFAULT '{}',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES memberships(tenant_id, user_id) ON DELETE CASCADE
);

ALTER TABLE tenants ADD COLUMN chat_settings TEXT NOT NULL DEFAULT '{}';

ALTER TABLE conversations ADD COLUMN token_hash BLOB;
ALTER TABLE conversations ADD COLUMN queue_id TEXT;
ALTER TABLE conversations ADD COLUMN agent_id TEXT;
ALTER TABLE conversations ADD COLUMN last_agent_id TEXT;
ALTER TABLE conversations ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE conversations ADD COLUMN queued_at INTEGER;
ALTER TABLE conversations ADD COLUMN assigned_at INTEGER;
ALTER TABLE conversations ADD COLUMN first_response_at INTEGER;
ALTER TABLE conversations ADD COLUMN close_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN disposition TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE conversations ADD COLUMN csat INTEGER;
CREATE INDEX conversations_open ON conversations(status) WHERE status <> 'closed';
CREATE INDEX conversations_closed ON conversations(tenant_id, closed_at) WHERE closed_at IS NOT NULL;

-- Who is in a conversation besides the visitor: its agent (owner), a visible
-- second agent (conference), an agent the visitor does not see (consult), a
-- supervisor listening (monitor). left_at is set when they leave.
CREATE TABLE participants (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'conference', 'consult', 'monitor')),
    joined_at       INTEGER NOT NULL,
    left_at         INTEGER,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX participants_user ON participants(user_id, conversation_id);

-- audience 'agents': a whisper, a consult or an internal note the visitor never sees.
ALTER TABLE messages ADD COLUMN audience TEXT NOT NULL DEFAULT 'all' CHECK (audience IN ('all', 'agents'));

INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES
    ('p', 'owner', 'chat', 'work'),
    ('p', 'admin', 'chat', 'work'),
    ('p', 'supervisor', 'chat', 'work'),
    ('p', 'agent', 'chat', 'work'),
    ('p', 'bot', 'chat', 'work'),
    ('p', 'owner', 'chat', 'supervise'),
    ('p', 'admin', 'chat', 'supervise'),
    ('p', 'supervisor', 'chat', 'supervise'),
    ('p', 'owner', 'queues', 'read'),
    ('p', 'admin', 'queues', 'read'),
    ('p', 'supervisor', 'queues', 'read'),
    ('p', 'agent', 'queues', 'read'),
    ('p', 'bot', 'queues', 'read'),
    ('p', 'owner', 'queues', 'write'),
    ('p', 'admin', 'queues', 'write'),
    ('p', 'owner', 'agents', 'read'),
    ('p', 'admin', 'agents', 'read'),
    ('p', 'supervisor', 'agents', 'read'),
    ('p', 'owner', 'agents', 'write'),
    ('p', 'admin', 'agents', 'write'),
    ('p', 'supervisor', 'agents', 'write'),
    ('p', 'owner', 'chat_settings', 'read'),
    ('p', 'admin', 'chat_settings', 'read'),
    ('p', 'owner', 'chat_settings', 'write'),
    ('p', 'admin', 'chat_settings', 'write');

-- +goose Down
DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 IN ('chat', 'queues', 'agents', 'chat_settings');
ALTER TABLE messages DROP COLUMN audience;
DROP TABLE participants;
DROP INDEX conversations_closed;
DROP INDEX conversations_open;
ALTER TABLE conversations DROP COLUMN csat;
ALTER TABLE conversations DROP COLUMN tags;
ALTER TABLE conversations DROP COLUMN disposition;
ALTER TABLE conversations DROP COLUMN close_reason;
ALTER TABLE conversations DROP COLUMN first_response_at;
ALTER TABLE conversations DROP COLUMN assigned_at;
ALTER TABLE conversations DROP COLUMN queued_at;
ALTER TABLE conversations DROP COLUMN metadata;
ALTER TABLE conversations DROP COLUMN last_agent_id;
ALTER TABLE conversations DROP COLUMN agent_id;
ALTER TABLE conversations DROP COLUMN queue_id;
ALTER TABLE conversations DROP COLUMN token_hash;
ALTER TABLE tenants DROP COLUMN chat_settings;
DROP TABLE agents;
DROP TABLE queues;
