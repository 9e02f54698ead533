-- The membership API is for owners and admins only; supervisors will see
-- their agents through the chat presence API instead.

-- +goose Up
DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = 'supervisor' AND v1 = 'members';

-- +goose Down
INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES ('p', 'supervisor', 'members', 'read');
