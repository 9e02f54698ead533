-- Webhooks: endpoints a tenant registers, and the log of every delivery
-- (Standard Webhooks: the delivery id is the webhook-id header, so a
-- receiver can drop a repeat). A delivery is retried with backoff until it
-- succeeds or its attempts run out; it can be replayed by hand.

-- +goose Up
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    events     TEXT NOT NULL DEFAULT '[]',
    active     INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX webhooks_tenant ON webhooks(tenant_id, id);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);

INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES
    ('p', 'owner', 'webhooks', 'read'),
    ('p', 'owner', 'webhooks', 'write'),
    ('p', 'admin', 'webhooks', 'read'),
    ('p', 'admin', 'webhooks', 'write');

-- +goose Down
DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 = 'webhooks';
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
