-- Who may read a site's analytics reports and erase a visitor's data.

-- +goose Up
INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES
    ('p', 'owner', 'reports', 'read'),
    ('p', 'admin', 'reports', 'read'),
    ('p', 'marketer', 'reports', 'read'),
    ('p', 'supervisor', 'reports', 'read'),
    ('p', 'owner', 'visitors', 'erase'),
    ('p', 'admin', 'visitors', 'erase');

-- +goose Down
DELETE FROM casbin_rule WHERE ptype = 'p' AND (v1 = 'reports' OR v1 = 'visitors');
