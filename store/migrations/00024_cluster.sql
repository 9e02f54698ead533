-- The nodes of a cluster and which of them runs each tenant's chat engine
-- (cluster/lease.go). Times are the database's clock, so that nodes whose
-- clocks disagree still agree on when a lease ends. epoch counts a
-- tenant's changes of owner: a fencing token. A single node never writes
-- here.

-- +goose Up
CREATE TABLE cluster_nodes (
    node       TEXT PRIMARY KEY,
    addr       TEXT NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    draining   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE tenant_leases (
    tenant_id  TEXT PRIMARY KEY,
    node       TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tenant_leases_node ON tenant_leases(node);

-- +goose Down
DROP TABLE tenant_leases;
DROP TABLE cluster_nodes;
