-- Email: a tenant's SMTP settings and the outbox of mail to send.
-- The settings (server, credentials, sender) are one JSON document the email
-- package validates, sealed with the tenant's data key as a whole: the
-- password never lies in clear, nor the user name (often an address).
-- mail_outbox is the durable queue and the delivery log at once. A row is
-- written in the transaction of what causes it (a chat's close, a visitor's
-- request); its message (recipients, subject, bodies) is composed at the
-- first attempt and sealed, with the Message-ID it keeps for every attempt.

-- +goose Up
CREATE TABLE email_settings (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    config     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    conversation_id TEXT NOT NULL DEFAULT '',
    request         TEXT NOT NULL DEFAULT '',
    message         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox(next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX mail_outbox_tenant ON mail_outbox(tenant_id, id);
CREATE INDEX mail_outbox_conversation ON mail_outbox(tenant_id, conversation_id) WHERE conversation_id <> '';

INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES
    ('p', 'owner', 'email', 'read'),
    ('p', 'owner', 'email', 'write'),
    ('p', 'admin', 'email', 'read'),
    ('p', 'admin', 'email', 'write');

-- +goose Down
DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 = 'email';
DROP TABLE mail_outbox;
DROP TABLE email_settings;
