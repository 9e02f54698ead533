package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// File is an attachment of a conversation; Body is sealed.
type File struct {
	ID             string    `json:"id"`
	TenantID       string    `json:"-"`
	ConversationID string    `json:"conversation_id"`
	UploaderKind   string    `json:"uploader_kind"`
	UploaderID     string    `json:"uploader_id"`
	Name           string    `json:"name"`
	Type           string    `json:"type"`
	Size           int64     `json:"size"`
	Body           []byte    `json:"-"`
	CreatedAt      time.Time `json:"created_at"`
}

// AddFile stores a file of a tenant's conversation.
func (s *Store) AddFile(ctx context.Context, f File) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO files (id, tenant_id, conversation_id, uploader_kind, uploader_id, name, type, size, body, created_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ? AND tenant_id = ?)`,
		f.ID, f.TenantID, f.ConversationID, f.UploaderKind, f.UploaderID, f.Name, f.Type, f.Size, f.Body, millis(f.CreatedAt),
		f.ConversationID, f.TenantID)
	if err != nil {
		return fmt.Errorf("store: add file: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: add file: conversation %s: %w", f.ConversationID, ErrNotFound)
	}
	return nil
}

// File returns a tenant's file.
func (s *Store) File(ctx context.Context, tenantID, id string) (File, error) {
	var f File
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT id, tenant_id, conversation_id, uploader_kind, uploader_id, name, type, size, body, created_at
		FROM files WHERE tenant_id = ? AND id = ?`, tenantID, id).
		Scan(&f.ID, &f.TenantID, &f.ConversationID, &f.UploaderKind, &f.UploaderID, &f.Name, &f.Type, &f.Size, &f.Body, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return File{}, fmt.Errorf("store: file %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return File{}, fmt.Errorf("store: file %s: %w", id, err)
	}
	f.CreatedAt = fromMillis(created)
	return f, nil
}
