package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Avatar is a user's picture.
type Avatar struct {
	Type      string
	Body      []byte
	UpdatedAt time.Time
}

// SetAvatar stores a user's picture (its type already checked).
func (s *Store) SetAvatar(ctx context.Context, a Actor, userID, typ string, body []byte) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO avatars (user_id, type, body, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET type = excluded.type, body = excluded.body, updated_at = excluded.updated_at`,
			userID, typ, body, millis(time.Now()))
		if err != nil {
			return err
		}
		return audit(ctx, tx, "", a, "user.avatar", "user", userID, map[string]any{"type": typ, "bytes": len(body)})
	})
	if err != nil {
		return fmt.Errorf("store: avatar of %s: %w", userID, err)
	}
	return nil
}

// DeleteAvatar removes a user's picture.
func (s *Store) DeleteAvatar(ctx context.Context, a Actor, userID string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM avatars WHERE user_id = ?`, userID); err != nil {
			return err
		}
		return audit(ctx, tx, "", a, "user.avatar_delete", "user", userID, nil)
	})
	if err != nil {
		return fmt.Errorf("store: delete avatar of %s: %w", userID, err)
	}
	return nil
}

// UserAvatar returns a user's picture, ErrNotFound when they have none.
func (s *Store) UserAvatar(ctx context.Context, userID string) (Avatar, error) {
	var av Avatar
	var updated int64
	err := s.r.QueryRowContext(ctx, `SELECT type, body, updated_at FROM avatars WHERE user_id = ?`, userID).Scan(&av.Type, &av.Body, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Avatar{}, fmt.Errorf("store: avatar of %s: %w", userID, ErrNotFound)
	}
	if err != nil {
		return Avatar{}, fmt.Errorf("store: avatar of %s: %w", userID, err)
	}
	av.UpdatedAt = fromMillis(updated)
	return av, nil
}

// AvatarVersion is when a user's picture last changed (zero: none), to
// version its URL without reading the picture.
func (s *Store) AvatarVersion(ctx context.Context, userID string) (time.Time, error) {
	var updated int64
	err := s.r.QueryRowContext(ctx, `SELECT updated_at FROM avatars WHERE user_id = ?`, userID).Scan(&updated)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: avatar of %s: %w", userID, err)
	}
	return fromMillis(updated), nil
}
