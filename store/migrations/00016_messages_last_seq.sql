-- A message's insert moves its conversation's last_seq and updated_at
-- itself: the chat log takes seqs from what it knows and a message costs one
-- statement (an insert of a resend that does nothing fires nothing).

-- +goose Up
-- +goose StatementBegin
CREATE TRIGGER messages_last_seq AFTER INSERT ON messages BEGIN
    UPDATE conversations SET last_seq = max(last_seq, NEW.seq), updated_at = NEW.created_at
    WHERE id = NEW.conversation_id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER messages_last_seq;
