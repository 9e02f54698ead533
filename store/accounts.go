package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Actor is who makes a change; every change writes an audit row naming it.
type Actor struct {
	Kind string // "user", "token" or "system"
	ID   string
}

// System is the actor of changes the program makes by itself (first start, CLI).
var System = Actor{Kind: "system", ID: "nudge"}

func (a Actor) String() string { return a.Kind + ":" + a.ID }

// Tenant is one customer organisation; everything else belongs to one.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// User is a console account. A user belongs to tenants through memberships.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Membership gives a user a role in a tenant.
type Membership struct {
	TenantID   string    `json:"tenant_id"`
	TenantName string    `json:"tenant_name"`
	Role       string    `json:"role"`
	CreatedAt  time.Time `json:"created_at"`
}

// Member is a user seen from a tenant: the user and its role there.
type Member struct {
	User
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	ID         string          `json:"id"`
	TenantID   string          `json:"tenant_id,omitempty"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	Detail     json.RawMessage `json:"detail"`
	CreatedAt  time.Time       `json:"created_at"`
}

// audit writes one audit row inside tx, so the change and its record commit together.
func audit(ctx context.Context, tx *sql.Tx, tenantID string, a Actor, action, targetType, targetID string, detail any) error {
	d := []byte("{}")
	if detail != nil {
		var err error
		if d, err = json.Marshal(detail); err != nil {
			return fmt.Errorf("audit %s: %w", action, err)
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (id, tenant_id, actor, action, target_type, target_id, detail, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, NewID(), tenantID, a.String(), action, targetType, targetID, string(d), millis(time.Now()))
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// CreateTenant creates a tenant named name.
func (s *Store) CreateTenant(ctx context.Context, a Actor, name string) (Tenant, error) {
	t := Tenant{ID: NewID(), Name: name, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`, t.ID, t.Name, millis(t.CreatedAt)); err != nil {
			return err
		}
		return audit(ctx, tx, t.ID, a, "tenant.create", "tenant", t.ID, map[string]string{"name": name})
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("store: create tenant %q: %w", name, err)
	}
	return t, nil
}

// Tenant returns the tenant with id.
func (s *Store) Tenant(ctx context.Context, id string) (Tenant, error) {
	var t Tenant
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE id = ?`, id).Scan(&t.ID, &t.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Tenant{}, fmt.Errorf("store: tenant %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("store: tenant %s: %w", id, err)
	}
	t.CreatedAt = fromMillis(created)
	return t, nil
}

// Tenants lists every tenant, oldest first.
func (s *Store) Tenants(ctx context.Context) ([]Tenant, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, created_at FROM tenants ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: tenants: %w", err)
	}
	defer rows.Close()
	var out []Tenant
	for rows.Next() {
		var t Tenant
		var created int64
		if err := rows.Scan(&t.ID, &t.Name, &created); err != nil {
			return nil, fmt.Errorf("store: tenants: %w", err)
		}
		t.CreatedAt = fromMillis(created)
		out = append(out, t)
	}
	return out, rows.Err()
}

// CreateUser creates a user and, when role is not empty, makes it a member of
// tenantID with that role, in one transaction.
func (s *Store) CreateUser(ctx context.Context, a Actor, tenantID string, u User, role string) (User, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	u.ID, u.CreatedAt, u.UpdatedAt = NewID(), now, now
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.Name, u.PasswordHash, millis(now), millis(now))
		if isUnique(err) {
			return ErrConflict
		}
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, tenantID, a, "user.create", "user", u.ID, map[string]string{"email": u.Email}); err != nil {
			return err
		}
		if role == "" {
			return nil
		}
		return setMembership(ctx, tx, a, tenantID, u.ID, role)
	})
	if err != nil {
		return User{}, fmt.Errorf("store: create user %s: %w", u.Email, err)
	}
	return u, nil
}

const userColumns = `u.id, u.email, u.name, u.password_hash, u.created_at, u.updated_at`

func scanUser(sc interface{ Scan(...any) error }, extra ...any) (User, error) {
	var u User
	var created, updated int64
	dest := append([]any{&u.ID, &u.Email, &u.Name, &u.PasswordHash, &created, &updated}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return User{}, err
	}
	u.CreatedAt, u.UpdatedAt = fromMillis(created), fromMillis(updated)
	return u, nil
}

// UserByEmail returns the user with email, compared without case.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.email = ?`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("store: user %s: %w", email, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: user %s: %w", email, err)
	}
	return u, nil
}

// User returns the user with id.
func (s *Store) User(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("store: user %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: user %s: %w", id, err)
	}
	return u, nil
}

// Users lists every user with its memberships, for the command line.
func (s *Store) Users(ctx context.Context) ([]User, map[string][]Membership, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users u ORDER BY u.email`)
	if err != nil {
		return nil, nil, fmt.Errorf("store: users: %w", err)
	}
	defer rows.Close()
	var users []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, nil, fmt.Errorf("store: users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store: users: %w", err)
	}
	ms := make(map[string][]Membership, len(users))
	for _, u := range users {
		m, err := s.Memberships(ctx, u.ID)
		if err != nil {
			return nil, nil, err
		}
		ms[u.ID] = m
	}
	return users, ms, nil
}

// SetPassword replaces a user's password hash and ends the user's sessions,
// except the one whose hash is keep (the session that made the change, if any).
func (s *Store) SetPassword(ctx context.Context, a Actor, userID, hash string, keep []byte) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, millis(time.Now()), userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id_hash IS DISTINCT FROM ?`, userID, keep); err != nil {
			return err
		}
		return audit(ctx, tx, "", a, "user.password", "user", userID, nil)
	})
	if err != nil {
		return fmt.Errorf("store: set password of %s: %w", userID, err)
	}
	return nil
}

// SetUserName sets a user's display name (what visitors and colleagues see).
func (s *Store) SetUserName(ctx context.Context, a Actor, userID, name string) (User, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET name = ?, updated_at = ? WHERE id = ?`, name, millis(time.Now()), userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, "", a, "user.name", "user", userID, map[string]string{"name": name})
	})
	if err != nil {
		return User{}, fmt.Errorf("store: name of %s: %w", userID, err)
	}
	return s.User(ctx, userID)
}

// Memberships lists the tenants a user belongs to, oldest membership first.
func (s *Store) Memberships(ctx context.Context, userID string) ([]Membership, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT m.tenant_id, t.name, m.role, m.created_at
		FROM memberships m JOIN tenants t ON t.id = m.tenant_id
		WHERE m.user_id = ? ORDER BY m.created_at, m.tenant_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: memberships of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		var created int64
		if err := rows.Scan(&m.TenantID, &m.TenantName, &m.Role, &created); err != nil {
			return nil, fmt.Errorf("store: memberships of %s: %w", userID, err)
		}
		m.CreatedAt = fromMillis(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

func setMembership(ctx context.Context, tx *sql.Tx, a Actor, tenantID, userID, role string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role`, tenantID, userID, role, millis(time.Now()))
	if err != nil {
		return err
	}
	return audit(ctx, tx, tenantID, a, "member.set", "user", userID, map[string]string{"role": role})
}

// SetMembership gives userID the role in tenantID, adding the membership or
// changing its role. It refuses (ErrLastOwner) to take the tenant's last owner away.
func (s *Store) SetMembership(ctx context.Context, a Actor, tenantID, userID, role string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if role != "owner" {
			if err := s.keepAnOwner(ctx, tx, tenantID, userID); err != nil {
				return err
			}
		}
		return setMembership(ctx, tx, a, tenantID, userID, role)
	})
	if err != nil {
		return fmt.Errorf("store: set membership of %s in %s: %w", userID, tenantID, err)
	}
	return nil
}

// ErrLastOwner refuses a change that would leave a tenant without an owner.
var ErrLastOwner = errors.New("a tenant keeps at least one owner")

// keepAnOwner fails when userID is the only owner of tenantID. On
// PostgreSQL it locks the tenant's row first, so that two owners who demote
// each other at once cannot both see the other stay.
func (s *Store) keepAnOwner(ctx context.Context, tx *sql.Tx, tenantID, userID string) error {
	if s.d == Postgres {
		var id string
		if err := tx.QueryRowContext(ctx, `SELECT id FROM tenants WHERE id = ?`+s.d.forUpdate(), tenantID).Scan(&id); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	var others, self int
	err := tx.QueryRowContext(ctx, `SELECT
			COUNT(*) FILTER (WHERE user_id <> ?1),
			COUNT(*) FILTER (WHERE user_id = ?1)
		FROM memberships WHERE tenant_id = ?2 AND role = 'owner'`, userID, tenantID).Scan(&others, &self)
	if err != nil {
		return err
	}
	if self > 0 && others == 0 {
		return ErrLastOwner
	}
	return nil
}

// RemoveMembership removes userID from tenantID. The user account stays.
func (s *Store) RemoveMembership(ctx context.Context, a Actor, tenantID, userID string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.keepAnOwner(ctx, tx, tenantID, userID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE tenant_id = ? AND user_id = ?`, tenantID, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "member.remove", "user", userID, nil)
	})
	if err != nil {
		return fmt.Errorf("store: remove %s from %s: %w", userID, tenantID, err)
	}
	return nil
}

// Member returns userID as a member of tenantID.
func (s *Store) Member(ctx context.Context, tenantID, userID string) (Member, error) {
	var m Member
	var joined int64
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+`, m.role, m.created_at
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.tenant_id = ? AND m.user_id = ?`, tenantID, userID), &m.Role, &joined)
	if errors.Is(err, sql.ErrNoRows) {
		return Member{}, fmt.Errorf("store: member %s of %s: %w", userID, tenantID, ErrNotFound)
	}
	if err != nil {
		return Member{}, fmt.Errorf("store: member %s of %s: %w", userID, tenantID, err)
	}
	m.User, m.JoinedAt = u, fromMillis(joined)
	return m, nil
}

// Members lists one page of a tenant's members, by user id.
func (s *Store) Members(ctx context.Context, tenantID string, p Page) ([]Member, string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+`, m.role, m.created_at
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.tenant_id = ? AND u.id > ? ORDER BY u.id LIMIT ?`, tenantID, p.After, p.limit())
	if err != nil {
		return nil, "", fmt.Errorf("store: members of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		var joined int64
		u, err := scanUser(rows, &m.Role, &joined)
		if err != nil {
			return nil, "", fmt.Errorf("store: members of %s: %w", tenantID, err)
		}
		m.User, m.JoinedAt = u, fromMillis(joined)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: members of %s: %w", tenantID, err)
	}
	out, next := trim(p, out, func(m Member) string { return m.ID })
	return out, next, nil
}

// AuditFilter narrows the audit log: actions starting with Action ("member."
// or "member.set"), and one Actor ("user:ID").
type AuditFilter struct {
	Action, Actor string
}

// Audit lists one page of a tenant's audit log, newest first.
func (s *Store) Audit(ctx context.Context, tenantID string, f AuditFilter, p Page) ([]AuditEntry, string, error) {
	after := p.After
	if after == "" {
		after = "\x7f" // sorts after every ULID
	}
	q := `SELECT id, tenant_id, actor, action, target_type, target_id, detail, created_at
		FROM audit_log WHERE tenant_id = ? AND id < ?`
	args := []any{tenantID, after}
	if f.Action != "" {
		q += ` AND substr(action, 1, ?) = ?`
		args = append(args, len(f.Action), f.Action)
	}
	if f.Actor != "" {
		q += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, p.limit())...)
	if err != nil {
		return nil, "", fmt.Errorf("store: audit of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var detail string
		var created int64
		if err := rows.Scan(&e.ID, &e.TenantID, &e.Actor, &e.Action, &e.TargetType, &e.TargetID, &detail, &created); err != nil {
			return nil, "", fmt.Errorf("store: audit of %s: %w", tenantID, err)
		}
		e.Detail, e.CreatedAt = json.RawMessage(detail), fromMillis(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: audit of %s: %w", tenantID, err)
	}
	out, next := trim(p, out, func(e AuditEntry) string { return e.ID })
	return out, next, nil
}

// RecordAudit writes an audit row for a change made outside this database
// (an erasure in the analytics file, for instance).
func (s *Store) RecordAudit(ctx context.Context, a Actor, tenantID, action, targetType, targetID string, detail any) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return audit(ctx, tx, tenantID, a, action, targetType, targetID, detail) })
}
