package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// WrappedKey is a tenant's data key as stored: wrapped by the master key.
type WrappedKey struct {
	TenantID string
	Version  uint32
	Wrapped  []byte
}

// DataKeys lists a tenant's wrapped data keys, oldest version first.
func (s *Store) DataKeys(ctx context.Context, tenantID string) ([]WrappedKey, error) {
	return s.dataKeys(ctx, `SELECT tenant_id, version, wrapped FROM data_keys WHERE tenant_id = ? ORDER BY version`, tenantID)
}

// AllDataKeys lists every tenant's wrapped data keys.
func (s *Store) AllDataKeys(ctx context.Context) ([]WrappedKey, error) {
	return s.dataKeys(ctx, `SELECT tenant_id, version, wrapped FROM data_keys ORDER BY tenant_id, version`)
}

func (s *Store) dataKeys(ctx context.Context, query string, args ...any) ([]WrappedKey, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: data keys: %w", err)
	}
	defer rows.Close()
	var out []WrappedKey
	for rows.Next() {
		var k WrappedKey
		if err := rows.Scan(&k.TenantID, &k.Version, &k.Wrapped); err != nil {
			return nil, fmt.Errorf("store: data keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddDataKey stores a new data key version; ErrConflict if the version exists
// (another process made it first).
func (s *Store) AddDataKey(ctx context.Context, k WrappedKey) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO data_keys (tenant_id, version, wrapped, created_at) VALUES (?, ?, ?, ?)`,
		k.TenantID, k.Version, k.Wrapped, millis(time.Now()))
	if isUnique(err) {
		return fmt.Errorf("store: data key %s v%d: %w", k.TenantID, k.Version, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: data key %s v%d: %w", k.TenantID, k.Version, err)
	}
	return nil
}

// RewrapDataKeys replaces the wrapping of every given key, in one transaction.
func (s *Store) RewrapDataKeys(ctx context.Context, keys []WrappedKey) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			res, err := tx.ExecContext(ctx, `UPDATE data_keys SET wrapped = ? WHERE tenant_id = ? AND version = ?`, k.Wrapped, k.TenantID, k.Version)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("data key %s v%d: %w", k.TenantID, k.Version, ErrNotFound)
			}
		}
		return audit(ctx, tx, "", System, "keys.rewrap", "data_keys", "*", map[string]int{"keys": len(keys)})
	})
	if err != nil {
		return fmt.Errorf("store: rewrap data keys: %w", err)
	}
	return nil
}
