-- Webhook events are written in the transaction of the change they report
-- (the outbox), then moved to deliveries, one per subscribed webhook, by
-- the dispatcher: a crash between the change and the delivery loses
-- nothing. The payload is sealed with the tenant's data key.

-- +goose Up
CREATE TABLE event_outbox (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    type            TEXT NOT NULL,
    conversation_id TEXT NOT NULL DEFAULT '',
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX event_outbox_conversation ON event_outbox(tenant_id, conversation_id);

-- +goose Down
DROP TABLE event_outbox;
