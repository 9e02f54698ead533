-- policy_version moves on with every change of who holds which role
-- (memberships, API tokens), whoever makes it: a running server compares it
-- every few seconds with the version it loaded, and reloads its policy when
-- another process (nudge user create) changed it.

-- +goose Up
CREATE TABLE policy_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO policy_version (id, version) VALUES (1, 1);

-- +goose StatementBegin
CREATE TRIGGER memberships_insert_policy AFTER INSERT ON memberships BEGIN UPDATE policy_version SET version = version + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER memberships_update_policy AFTER UPDATE OF role, tenant_id, user_id ON memberships BEGIN UPDATE policy_version SET version = version + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER memberships_delete_policy AFTER DELETE ON memberships BEGIN UPDATE policy_version SET version = version + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_tokens_insert_policy AFTER INSERT ON api_tokens BEGIN UPDATE policy_version SET version = version + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_tokens_update_policy AFTER UPDATE OF role, tenant_id ON api_tokens BEGIN UPDATE policy_version SET version = version + 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_tokens_delete_policy AFTER DELETE ON api_tokens BEGIN UPDATE policy_version SET version = version + 1; END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER memberships_insert_policy;
DROP TRIGGER memberships_update_policy;
DROP TRIGGER memberships_delete_policy;
DROP TRIGGER api_tokens_insert_policy;
DROP TRIGGER api_tokens_update_policy;
DROP TRIGGER api_tokens_delete_policy;
DROP TABLE policy_version;
