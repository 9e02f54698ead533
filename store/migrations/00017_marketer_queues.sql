-- Marketers write chat offers, which name a queue: they read the queues
-- (names, hours, routing) as agents do, and change none of them.

-- +goose Up
INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES ('p', 'marketer', 'queues', 'read');
UPDATE policy_version SET version = version + 1;

-- +goose Down
DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = 'marketer' AND v1 = 'queues' AND v2 = 'read';
UPDATE policy_version SET version = version + 1;
