-- Canned responses: texts agents insert by shortcut, with placeholders
-- ({{agent.name}}, {{visitor.name}}, {{page.url}}, {{vars.plan}} …) filled
-- from the conversation when sent.

-- +goose Up
CREATE TABLE canned_responses (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    shortcut   TEXT NOT NULL,
    title      TEXT NOT NULL DEFAULT '',
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX canned_shortcut ON canned_responses(tenant_id, shortcut);

INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES
    ('p', 'owner', 'canned', 'write'),
    ('p', 'admin', 'canned', 'write'),
    ('p', 'supervisor', 'canned', 'write');

-- +goose Down
DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 = 'canned';
DROP TABLE canned_responses;
