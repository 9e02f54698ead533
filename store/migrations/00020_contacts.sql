-- A tenant's contacts: the customers its sites verified (nudge('identify')
-- with the site's signature, or a visitor token). A contact is found by the
-- keyed fingerprint of its external id (keys.Ring.Blind, label "identity",
-- the one conversations carry); who it is (external id, email, name,
-- attributes) is sealed with the tenant's data key, so no file of the data
-- folder holds it in clear. contact_visitors links the browser (or app)
-- visitor ids each site saw it verified on.

-- +goose Up
CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    data        BLOB NOT NULL,
    verified_by TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, fingerprint)
);
CREATE INDEX contacts_seen ON contacts(tenant_id, last_seen);

CREATE TABLE contact_visitors (
    contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    site_id    TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    visitor    TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (contact_id, site_id, visitor)
) WITHOUT ROWID;
CREATE INDEX contact_visitors_visitor ON contact_visitors(site_id, visitor);

-- A contact's conversations are found across the tenant's sites.
DROP INDEX conversations_identity;
CREATE INDEX conversations_identity ON conversations(tenant_id, identity) WHERE identity IS NOT NULL AND identity <> '';

-- Who may read contacts: those who see all of a tenant's chats. Erasing one
-- is erasing visitors (visitors:erase).
INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES
    ('p', 'owner', 'contacts', 'read'),
    ('p', 'admin', 'contacts', 'read'),
    ('p', 'supervisor', 'contacts', 'read');

-- +goose Down
DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 = 'contacts';
DROP INDEX conversations_identity;
CREATE INDEX conversations_identity ON conversations(tenant_id, site_id, identity) WHERE identity IS NOT NULL AND identity <> '';
DROP TABLE contact_visitors;
DROP TABLE contacts;
