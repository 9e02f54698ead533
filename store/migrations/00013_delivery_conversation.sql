-- Webhook payloads are sealed with the tenant's data key from now on, so
-- erasure can no longer find a conversation's deliveries by searching their
-- payload: each delivery names its conversation in a column of its own.

-- +goose Up
ALTER TABLE webhook_deliveries ADD COLUMN conversation_id TEXT NOT NULL DEFAULT '';
UPDATE webhook_deliveries SET conversation_id = coalesce(json_extract(payload, '$.data.conversation_id'),
    json_extract(payload, '$.data.conversation.id'), '') WHERE json_valid(payload);
CREATE INDEX webhook_deliveries_conversation ON webhook_deliveries(tenant_id, conversation_id) WHERE conversation_id <> '';

-- +goose Down
DROP INDEX webhook_deliveries_conversation;
ALTER TABLE webhook_deliveries DROP COLUMN conversation_id;
