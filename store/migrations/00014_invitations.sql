-- Invitations: a tenant's owner or admin invites an email address to a role;
-- the invited person accepts the link after logging in or creating their
-- account. Only the token's SHA-256 is stored.

-- +goose Up
CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email       TEXT NOT NULL COLLATE NOCASE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'marketer', 'supervisor', 'agent', 'bot')),
    token_hash  BLOB NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER,
    accepted_by TEXT,
    revoked_at  INTEGER
);
CREATE INDEX invitations_tenant ON invitations(tenant_id, id);

-- +goose Down
DROP TABLE invitations;
