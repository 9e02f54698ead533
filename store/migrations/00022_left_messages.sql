-- A message left on the offline form is work: new until someone answers it
-- (by email from the desk, or marked answered), then answered by whom, when.
-- A left message is a conversation closed with reason offline_message.

-- +goose Up
ALTER TABLE conversations ADD COLUMN left_answered_at INTEGER;
ALTER TABLE conversations ADD COLUMN left_answered_by TEXT NOT NULL DEFAULT '';
CREATE INDEX conversations_left ON conversations(tenant_id, id) WHERE close_reason = 'offline_message';

-- +goose Down
DROP INDEX conversations_left;
ALTER TABLE conversations DROP COLUMN left_answered_by;
ALTER TABLE conversations DROP COLUMN left_answered_at;
