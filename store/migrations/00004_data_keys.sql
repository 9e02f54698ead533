-- Per-tenant data keys for encryption at rest, each wrapped (AES-256-GCM) by
-- the master key that lives outside the database. Versions grow: new data is
-- sealed with the newest, old data stays readable with its own.

-- +goose Up
CREATE TABLE data_keys (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

-- +goose Down
DROP TABLE data_keys;
