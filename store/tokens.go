package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Token is an API bearer token for integrations: bound to one tenant and one
// role. Only the hash of the secret is stored.
type Token struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant_id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Hash       []byte     `json:"-"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// CreateToken stores a new token; t.ID and t.CreatedAt are filled in.
func (s *Store) CreateToken(ctx context.Context, a Actor, t Token) (Token, error) {
	t.ID, t.CreatedAt = NewID(), time.Now().UTC().Truncate(time.Millisecond)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (id, tenant_id, name, role, token_hash, created_by, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, t.TenantID, t.Name, t.Role, t.Hash, t.CreatedBy, millis(t.CreatedAt), nullMillis(t.ExpiresAt)); err != nil {
			return err
		}
		return audit(ctx, tx, t.TenantID, a, "token.create", "token", t.ID, map[string]string{"name": t.Name, "role": t.Role})
	})
	if err != nil {
		return Token{}, fmt.Errorf("store: create token %q: %w", t.Name, err)
	}
	return t, nil
}

const tokenColumns = `id, tenant_id, name, role, token_hash, created_by, created_at, expires_at, last_used_at`

func scanToken(sc interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var created int64
	var expires, used sql.NullInt64
	if err := sc.Scan(&t.ID, &t.TenantID, &t.Name, &t.Role, &t.Hash, &t.CreatedBy, &created, &expires, &used); err != nil {
		return Token{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt = fromMillis(created), fromNullMillis(expires), fromNullMillis(used)
	return t, nil
}

// TokenByHash returns the unexpired token whose secret hashes to hash.
func (s *Store) TokenByHash(ctx context.Context, hash []byte, now time.Time) (Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens
		WHERE token_hash = ? AND (expires_at IS NULL OR expires_at > ?)`, hash, millis(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("store: token: %w", ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("store: token: %w", err)
	}
	return t, nil
}

// Tokens lists one page of a tenant's tokens.
func (s *Store) Tokens(ctx context.Context, tenantID string, p Page) ([]Token, string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens
		WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`, tenantID, p.After, p.limit())
	if err != nil {
		return nil, "", fmt.Errorf("store: tokens of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: tokens of %s: %w", tenantID, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: tokens of %s: %w", tenantID, err)
	}
	out, next := trim(p, out, func(t Token) string { return t.ID })
	return out, next, nil
}

// DeleteToken revokes a tenant's token.
func (s *Store) DeleteToken(ctx context.Context, a Actor, tenantID, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM api_tokens WHERE tenant_id = ? AND id = ?`, tenantID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "token.delete", "token", id, nil)
	})
	if err != nil {
		return fmt.Errorf("store: delete token %s: %w", id, err)
	}
	return nil
}

// TouchToken records that a token was used.
func (s *Store) TouchToken(ctx context.Context, id string, now time.Time) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, millis(now), id); err != nil {
		return fmt.Errorf("store: touch token %s: %w", id, err)
	}
	return nil
}

// PolicyVersion moves on with every change of memberships and tokens, by
// any process.
func (s *Store) PolicyVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.r.QueryRowContext(ctx, `SELECT version FROM policy_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: policy version: %w", err)
	}
	return v, nil
}

// PolicyRows returns casbin's rows: the stored "p" rows, and one "g" row
// (subject, role, tenant) per membership ("user:ID") and per token ("token:ID").
func (s *Store) PolicyRows(ctx context.Context) ([][]string, error) {
	rows, err := s.r.QueryContext(ctx, `
		SELECT ptype, v0, v1, v2, v3 FROM casbin_rule
		UNION ALL SELECT 'g', 'user:' || user_id, role, tenant_id, '' FROM memberships
		UNION ALL SELECT 'g', 'token:' || id, role, tenant_id, '' FROM api_tokens`)
	if err != nil {
		return nil, fmt.Errorf("store: policy rows: %w", err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		r := make([]string, 5)
		if err := rows.Scan(&r[0], &r[1], &r[2], &r[3], &r[4]); err != nil {
			return nil, fmt.Errorf("store: policy rows: %w", err)
		}
		for len(r) > 1 && r[len(r)-1] == "" {
			r = r[:len(r)-1]
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
