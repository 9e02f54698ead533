-- Contacts are found by the words of who they are (name, email, its domain,
-- external id) without those words in clear: each is kept as its keyed hash
-- (keys.Ring.Blind, label "contact-term"), as the search index keeps
-- transcripts' words. terms_at is when a contact's terms were last written
-- (NULL: never; housekeeping indexes those an earlier release made).

-- +goose Up
CREATE TABLE contact_terms (
    tenant_id  TEXT NOT NULL,
    term       TEXT NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, term, contact_id)
) WITHOUT ROWID;
CREATE INDEX contact_terms_contact ON contact_terms(contact_id);
ALTER TABLE contacts ADD COLUMN terms_at INTEGER;

-- +goose Down
ALTER TABLE contacts DROP COLUMN terms_at;
DROP TABLE contact_terms;
