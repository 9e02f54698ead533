-- Proactive offers: marketers' rules and the templates they show, per site.
-- A rule's draft is what the console edits; publishing copies it into a new
-- numbered version, and pages receive only the published version. Versions
-- are kept: a rollback publishes an old one's body again as the newest.
-- Bodies are the rule and template JSON of docs/rules.md, validated by the
-- server before they are stored. They are marketing content, not visitor
-- data, and are stored in clear.

-- +goose Up
CREATE TABLE offer_templates (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    site_id    TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX offer_templates_site ON offer_templates(site_id, id);

CREATE TABLE offer_rules (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    site_id    TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    draft      TEXT NOT NULL,
    published  INTEGER NOT NULL DEFAULT 0, -- the live version; 0 when none
    version    INTEGER NOT NULL DEFAULT 0, -- the newest version
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX offer_rules_site ON offer_rules(site_id, id);

CREATE TABLE offer_rule_versions (
    rule_id    TEXT NOT NULL REFERENCES offer_rules(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (rule_id, version)
) WITHOUT ROWID;

INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES
    ('p', 'owner', 'rules', 'read'),
    ('p', 'owner', 'rules', 'write'),
    ('p', 'admin', 'rules', 'read'),
    ('p', 'admin', 'rules', 'write'),
    ('p', 'marketer', 'rules', 'read'),
    ('p', 'marketer', 'rules', 'write'),
    ('p', 'owner', 'offers', 'push'),
    ('p', 'admin', 'offers', 'push'),
    ('p', 'marketer', 'offers', 'push'),
    ('p', 'supervisor', 'offers', 'push'),
    ('p', 'agent', 'offers', 'push');

-- +goose Down
DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 IN ('rules', 'offers');
DROP TABLE offer_rule_versions;
DROP TABLE offer_rules;
DROP TABLE offer_templates;
