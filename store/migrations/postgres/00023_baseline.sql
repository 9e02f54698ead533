-- The schema of SQLite's migrations 00001 to 00023, as one PostgreSQL
-- migration: a PostgreSQL store starts at this version, and every later
-- migration exists in both folders under the same number.
--
-- Translated kinds: BLOB is bytea, INTEGER bigint (times are Unix
-- milliseconds), a column compared without case is citext (SQLite's
-- COLLATE NOCASE), WITHOUT ROWID tables are plain tables, and SQLite's
-- triggers are PL/pgSQL functions.

-- +goose Up
CREATE EXTENSION IF NOT EXISTS citext;

CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    chat_settings TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         CITEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE memberships (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'marketer', 'supervisor', 'agent', 'bot')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE sessions (
    id_hash      BYTEA PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'marketer', 'supervisor', 'agent', 'bot')),
    token_hash   BYTEA NOT NULL UNIQUE,
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_tenant ON api_tokens(tenant_id, id);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log(tenant_id, id);

CREATE TABLE casbin_rule (
    ptype TEXT NOT NULL,
    v0    TEXT NOT NULL DEFAULT '',
    v1    TEXT NOT NULL DEFAULT '',
    v2    TEXT NOT NULL DEFAULT '',
    v3    TEXT NOT NULL DEFAULT '',
    v4    TEXT NOT NULL DEFAULT '',
    v5    TEXT NOT NULL DEFAULT '',
    UNIQUE (ptype, v0, v1, v2, v3, v4, v5)
);
INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES
    ('p', 'owner', 'members', 'read'),
    ('p', 'owner', 'members', 'write'),
    ('p', 'owner', 'tokens', 'read'),
    ('p', 'owner', 'tokens', 'write'),
    ('p', 'owner', 'audit', 'read'),
    ('p', 'admin', 'members', 'read'),
    ('p', 'admin', 'members', 'write'),
    ('p', 'admin', 'tokens', 'read'),
    ('p', 'admin', 'tokens', 'write'),
    ('p', 'admin', 'audit', 'read'),
    ('p', 'owner', 'sites', 'read'),
    ('p', 'owner', 'sites', 'write'),
    ('p', 'owner', 'sites', 'secret'),
    ('p', 'admin', 'sites', 'read'),
    ('p', 'admin', 'sites', 'write'),
    ('p', 'admin', 'sites', 'secret'),
    ('p', 'marketer', 'sites', 'read'),
    ('p', 'supervisor', 'sites', 'read'),
    ('p', 'agent', 'sites', 'read'),
    ('p', 'owner', 'reports', 'read'),
    ('p', 'admin', 'reports', 'read'),
    ('p', 'marketer', 'reports', 'read'),
    ('p', 'supervisor', 'reports', 'read'),
    ('p', 'owner', 'visitors', 'erase'),
    ('p', 'admin', 'visitors', 'erase'),
    ('p', 'owner', 'chat', 'work'),
    ('p', 'admin', 'chat', 'work'),
    ('p', 'supervisor', 'chat', 'work'),
    ('p', 'agent', 'chat', 'work'),
    ('p', 'bot', 'chat', 'work'),
    ('p', 'owner', 'chat', 'supervise'),
    ('p', 'admin', 'chat', 'supervise'),
    ('p', 'supervisor', 'chat', 'supervise'),
    ('p', 'owner', 'queues', 'read'),
    ('p', 'admin', 'queues', 'read'),
    ('p', 'supervisor', 'queues', 'read'),
    ('p', 'agent', 'queues', 'read'),
    ('p', 'bot', 'queues', 'read'),
    ('p', 'owner', 'queues', 'write'),
    ('p', 'admin', 'queues', 'write'),
    ('p', 'owner', 'agents', 'read'),
    ('p', 'admin', 'agents', 'read'),
    ('p', 'supervisor', 'agents', 'read'),
    ('p', 'owner', 'agents', 'write'),
    ('p', 'admin', 'agents', 'write'),
    ('p', 'supervisor', 'agents', 'write'),
    ('p', 'owner', 'chat_settings', 'read'),
    ('p', 'admin', 'chat_settings', 'read'),
    ('p', 'owner', 'chat_settings', 'write'),
    ('p', 'admin', 'chat_settings', 'write'),
    ('p', 'owner', 'canned', 'write'),
    ('p', 'admin', 'canned', 'write'),
    ('p', 'supervisor', 'canned', 'write'),
    ('p', 'owner', 'webhooks', 'read'),
    ('p', 'owner', 'webhooks', 'write'),
    ('p', 'admin', 'webhooks', 'read'),
    ('p', 'admin', 'webhooks', 'write'),
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
    ('p', 'agent', 'offers', 'push'),
    ('p', 'marketer', 'queues', 'read'),
    ('p', 'owner', 'contacts', 'read'),
    ('p', 'admin', 'contacts', 'read'),
    ('p', 'supervisor', 'contacts', 'read'),
    ('p', 'owner', 'email', 'read'),
    ('p', 'owner', 'email', 'write'),
    ('p', 'admin', 'email', 'read'),
    ('p', 'admin', 'email', 'write');

CREATE TABLE sites (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key             TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    time_zone       TEXT NOT NULL DEFAULT 'UTC',
    theme           TEXT NOT NULL DEFAULT '{}',
    settings        TEXT NOT NULL DEFAULT '{}',
    identity_secret TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX sites_tenant ON sites(tenant_id, id);

CREATE TABLE data_keys (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    wrapped    BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

CREATE TABLE conversations (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    site_id           TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    visitor           TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'open',
    last_seq          BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    closed_at         BIGINT,
    token_hash        BYTEA,
    queue_id          TEXT,
    agent_id          TEXT,
    last_agent_id     TEXT,
    metadata          TEXT NOT NULL DEFAULT '{}',
    queued_at         BIGINT,
    assigned_at       BIGINT,
    first_response_at BIGINT,
    close_reason      TEXT NOT NULL DEFAULT '',
    disposition       TEXT NOT NULL DEFAULT '',
    tags              TEXT NOT NULL DEFAULT '[]',
    csat              BIGINT,
    identity          TEXT,
    left_answered_at  BIGINT,
    left_answered_by  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX conversations_tenant ON conversations(tenant_id, id);
CREATE INDEX conversations_visitor ON conversations(site_id, visitor);
CREATE INDEX conversations_open ON conversations(status) WHERE status <> 'closed';
CREATE INDEX conversations_closed ON conversations(tenant_id, closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX conversations_identity ON conversations(tenant_id, identity) WHERE identity IS NOT NULL AND identity <> '';
CREATE INDEX conversations_left ON conversations(tenant_id, id) WHERE close_reason = 'offline_message';

CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    id              TEXT NOT NULL,
    sender_kind     TEXT NOT NULL CHECK (sender_kind IN ('visitor', 'agent', 'bot', 'system')),
    sender_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    body            BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    audience        TEXT NOT NULL DEFAULT 'all' CHECK (audience IN ('all', 'agents')),
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_client ON messages(conversation_id, sender_kind, sender_id, client_id) WHERE client_id <> '';

-- A message moves its conversation's last seq and time, in the insert's
-- own statement.
-- +goose StatementBegin
CREATE FUNCTION messages_last_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations SET last_seq = greatest(last_seq, NEW.seq), updated_at = NEW.created_at
    WHERE id = NEW.conversation_id;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER messages_last_seq AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION messages_last_seq();

CREATE TABLE queues (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name       CITEXT NOT NULL,
    config     TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX queues_name ON queues(tenant_id, name);

CREATE TABLE agents (
    tenant_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    config     TEXT NOT NULL DEFAULT '{}',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES memberships(tenant_id, user_id) ON DELETE CASCADE
);

CREATE TABLE participants (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'conference', 'consult', 'monitor')),
    joined_at       BIGINT NOT NULL,
    left_at         BIGINT,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX participants_user ON participants(user_id, conversation_id);

CREATE TABLE canned_responses (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    shortcut   TEXT NOT NULL,
    title      TEXT NOT NULL DEFAULT '',
    text       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX canned_shortcut ON canned_responses(tenant_id, shortcut);

CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    events     TEXT NOT NULL DEFAULT '[]',
    active     BOOLEAN NOT NULL DEFAULT true,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhooks_tenant ON webhooks(tenant_id, id);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_status     BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    conversation_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
CREATE INDEX webhook_deliveries_conversation ON webhook_deliveries(tenant_id, conversation_id) WHERE conversation_id <> '';

CREATE TABLE files (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    uploader_kind   TEXT NOT NULL,
    uploader_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    type            TEXT NOT NULL,
    size            BIGINT NOT NULL,
    body            BYTEA NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX files_conversation ON files(conversation_id, id);

CREATE TABLE offer_templates (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    site_id    TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX offer_templates_site ON offer_templates(site_id, id);

CREATE TABLE offer_rules (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    site_id    TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    draft      TEXT NOT NULL,
    published  BIGINT NOT NULL DEFAULT 0, -- the live version; 0 when none
    version    BIGINT NOT NULL DEFAULT 0, -- the newest version
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX offer_rules_site ON offer_rules(site_id, id);

CREATE TABLE offer_rule_versions (
    rule_id    TEXT NOT NULL REFERENCES offer_rules(id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (rule_id, version)
);

-- Moves whenever a membership or a token's role changes, so that every
-- process reloads its casbin policy.
CREATE TABLE policy_version (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO policy_version (id, version) VALUES (1, 1);
-- +goose StatementBegin
CREATE FUNCTION policy_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE policy_version SET version = version + 1;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER memberships_insert_policy AFTER INSERT ON memberships FOR EACH ROW EXECUTE FUNCTION policy_changed();
CREATE TRIGGER memberships_update_policy AFTER UPDATE OF role, tenant_id, user_id ON memberships FOR EACH ROW EXECUTE FUNCTION policy_changed();
CREATE TRIGGER memberships_delete_policy AFTER DELETE ON memberships FOR EACH ROW EXECUTE FUNCTION policy_changed();
CREATE TRIGGER api_tokens_insert_policy AFTER INSERT ON api_tokens FOR EACH ROW EXECUTE FUNCTION policy_changed();
CREATE TRIGGER api_tokens_update_policy AFTER UPDATE OF role, tenant_id ON api_tokens FOR EACH ROW EXECUTE FUNCTION policy_changed();
CREATE TRIGGER api_tokens_delete_policy AFTER DELETE ON api_tokens FOR EACH ROW EXECUTE FUNCTION policy_changed();

CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email       CITEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'marketer', 'supervisor', 'agent', 'bot')),
    token_hash  BYTEA NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by TEXT,
    revoked_at  BIGINT
);
CREATE INDEX invitations_tenant ON invitations(tenant_id, id);

CREATE TABLE avatars (
    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    body       BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE event_outbox (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    type            TEXT NOT NULL,
    conversation_id TEXT NOT NULL DEFAULT '',
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX event_outbox_conversation ON event_outbox(tenant_id, conversation_id);

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    data        BYTEA NOT NULL,
    verified_by TEXT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    terms_at    BIGINT,
    UNIQUE (tenant_id, fingerprint)
);
CREATE INDEX contacts_seen ON contacts(tenant_id, last_seen);

CREATE TABLE contact_visitors (
    contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    site_id    TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    visitor    TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    PRIMARY KEY (contact_id, site_id, visitor)
);
CREATE INDEX contact_visitors_visitor ON contact_visitors(site_id, visitor);

CREATE TABLE contact_terms (
    tenant_id  TEXT NOT NULL,
    term       TEXT NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, term, contact_id)
);
CREATE INDEX contact_terms_contact ON contact_terms(contact_id);

CREATE TABLE email_settings (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    config     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    conversation_id TEXT NOT NULL DEFAULT '',
    request         TEXT NOT NULL DEFAULT '',
    message         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox(next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX mail_outbox_tenant ON mail_outbox(tenant_id, id);
CREATE INDEX mail_outbox_conversation ON mail_outbox(tenant_id, conversation_id) WHERE conversation_id <> '';
