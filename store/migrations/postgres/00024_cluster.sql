-- The nodes of a cluster and which of them runs each tenant's chat engine
-- (cluster/lease.go); as SQLite's 00024.

-- +goose Up
CREATE TABLE cluster_nodes (
    node       TEXT PRIMARY KEY,
    addr       TEXT NOT NULL DEFAULT '',
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL,
    draining   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE tenant_leases (
    tenant_id  TEXT PRIMARY KEY,
    node       TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX tenant_leases_node ON tenant_leases(node);

-- +goose Down
DROP TABLE tenant_leases;
DROP TABLE cluster_nodes;
