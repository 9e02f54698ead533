package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Canned is a canned response.
type Canned struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"-"`
	Shortcut  string    `json:"shortcut"`
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SaveCanned creates (empty ID) or replaces a canned response.
func (s *Store) SaveCanned(ctx context.Context, a Actor, c Canned) (Canned, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	c.UpdatedAt = now
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		action := "canned.update"
		if c.ID == "" {
			c.ID, c.CreatedAt, action = NewID(), now, "canned.create"
			res, err = tx.ExecContext(ctx, `INSERT INTO canned_responses (id, tenant_id, shortcut, title, text, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, c.ID, c.TenantID, c.Shortcut, c.Title, c.Text, millis(now), millis(now))
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE canned_responses SET shortcut = ?, title = ?, text = ?, updated_at = ?
				WHERE id = ? AND tenant_id = ?`, c.Shortcut, c.Title, c.Text, millis(now), c.ID, c.TenantID)
		}
		if isUnique(err) {
			return &FieldError{"shortcut", "another canned response has this shortcut"}
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, c.TenantID, a, action, "canned", c.ID, map[string]string{"shortcut": c.Shortcut})
	})
	if err != nil {
		return Canned{}, fmt.Errorf("store: canned response %q: %w", c.Shortcut, err)
	}
	return s.CannedOne(ctx, c.TenantID, c.ID)
}

// DeleteCanned removes a canned response.
func (s *Store) DeleteCanned(ctx context.Context, a Actor, tenantID, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM canned_responses WHERE id = ? AND tenant_id = ?`, id, tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "canned.delete", "canned", id, nil)
	})
	if err != nil {
		return fmt.Errorf("store: delete canned response %s: %w", id, err)
	}
	return nil
}

// CannedOne returns a tenant's canned response by id or shortcut.
func (s *Store) CannedOne(ctx context.Context, tenantID, ref string) (Canned, error) {
	cs, err := s.canned(ctx, `WHERE tenant_id = ? AND (id = ? OR shortcut = ?)`, tenantID, ref, ref)
	if err != nil {
		return Canned{}, err
	}
	if len(cs) == 0 {
		return Canned{}, fmt.Errorf("store: canned response %s: %w", ref, ErrNotFound)
	}
	return cs[0], nil
}

// CannedAll returns a tenant's canned responses by shortcut.
func (s *Store) CannedAll(ctx context.Context, tenantID string) ([]Canned, error) {
	return s.canned(ctx, `WHERE tenant_id = ? ORDER BY shortcut`, tenantID)
}

func (s *Store) canned(ctx context.Context, where string, args ...any) ([]Canned, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, tenant_id, shortcut, title, text, created_at, updated_at FROM canned_responses `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: canned responses: %w", err)
	}
	defer rows.Close()
	out := []Canned{}
	for rows.Next() {
		var c Canned
		var created, updated int64
		if err := rows.Scan(&c.ID, &c.TenantID, &c.Shortcut, &c.Title, &c.Text, &created, &updated); err != nil {
			return nil, fmt.Errorf("store: canned responses: %w", err)
		}
		c.CreatedAt, c.UpdatedAt = fromMillis(created), fromMillis(updated)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return out, nil
}
