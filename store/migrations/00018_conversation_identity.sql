-- A conversation's verified visitor identity, as a keyed fingerprint of the
-- site's user id (keys.Ring.Blind): erasing a user finds their chats on
-- every device without the id in clear. NULL: stored by an earlier release
-- and not yet read (ops fills it in from the sealed metadata); '': none.

-- +goose Up
ALTER TABLE conversations ADD COLUMN identity TEXT;
CREATE INDEX conversations_identity ON conversations(tenant_id, site_id, identity) WHERE identity IS NOT NULL AND identity <> '';

-- +goose Down
DROP INDEX conversations_identity;
ALTER TABLE conversations DROP COLUMN identity;
