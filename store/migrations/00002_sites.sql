-- Sites: what a website owner creates to get a snippet. The key is public (it is
-- in the snippet); the identity secret signs visitor identities and never leaves
-- the console.

-- +goose Up
CREATE TABLE sites (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key             TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    time_zone       TEXT NOT NULL DEFAULT 'UTC',
    theme           TEXT NOT NULL DEFAULT '{}',
    settings        TEXT NOT NULL DEFAULT '{}',
    identity_secret TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX sites_tenant ON sites(tenant_id, id);

INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES
    ('p', 'owner', 'sites', 'read'),
    ('p', 'owner', 'sites', 'write'),
    ('p', 'owner', 'sites', 'secret'),
    ('p', 'admin', 'sites', 'read'),
    ('p', 'admin', 'sites', 'write'),
    ('p', 'admin', 'sites', 'secret'),
    ('p', 'marketer', 'sites', 'read'),
    ('p', 'supervisor', 'sites', 'read'),
    ('p', 'agent', 'sites', 'read');

-- +goose Down
DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 = 'sites';
DROP TABLE sites;
