package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Queue is a chat queue; its routing configuration is a JSON document the
// chat package defines and validates.
type Queue struct {
	ID        string          `json:"id"`
	TenantID  string          `json:"-"`
	Name      string          `json:"name"`
	Config    json.RawMessage `json:"config"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// AgentConfig is an agent's chat configuration (capacity, skills, queues),
// a JSON document the chat package defines.
type AgentConfig struct {
	TenantID  string          `json:"-"`
	UserID    string          `json:"user_id"`
	Config    json.RawMessage `json:"config"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// CreateQueue stores a new queue.
func (s *Store) CreateQueue(ctx context.Context, a Actor, q Queue) (Queue, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	q.ID, q.CreatedAt, q.UpdatedAt = NewID(), now, now
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO queues (id, tenant_id, name, config, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			q.ID, q.TenantID, q.Name, string(q.Config), millis(now), millis(now)); err != nil {
			if isUnique(err) {
				return &FieldError{"name", "a queue of this name exists"}
			}
			return err
		}
		return audit(ctx, tx, q.TenantID, a, "queue.create", "queue", q.ID, q)
	})
	if err != nil {
		return Queue{}, fmt.Errorf("store: create queue %q: %w", q.Name, err)
	}
	return q, nil
}

// UpdateQueue replaces a queue's name and configuration.
func (s *Store) UpdateQueue(ctx context.Context, a Actor, q Queue) (Queue, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE queues SET name = ?, config = ?, updated_at = ? WHERE id = ? AND tenant_id = ?`,
			q.Name, string(q.Config), millis(now), q.ID, q.TenantID)
		if err != nil {
			if isUnique(err) {
				return &FieldError{"name", "a queue of this name exists"}
			}
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, q.TenantID, a, "queue.update", "queue", q.ID, q)
	})
	if err != nil {
		return Queue{}, fmt.Errorf("store: update queue %s: %w", q.ID, err)
	}
	return s.Queue(ctx, q.TenantID, q.ID)
}

// DeleteQueue removes a queue.
func (s *Store) DeleteQueue(ctx context.Context, a Actor, tenantID, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM queues WHERE id = ? AND tenant_id = ?`, id, tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "queue.delete", "queue", id, nil)
	})
	if err != nil {
		return fmt.Errorf("store: delete queue %s: %w", id, err)
	}
	return nil
}

// Queue returns a tenant's queue.
func (s *Store) Queue(ctx context.Context, tenantID, id string) (Queue, error) {
	qs, err := s.queues(ctx, `WHERE tenant_id = ? AND id = ?`, tenantID, id)
	if err != nil {
		return Queue{}, err
	}
	if len(qs) == 0 {
		return Queue{}, fmt.Errorf("store: queue %s: %w", id, ErrNotFound)
	}
	return qs[0], nil
}

// Queues returns a tenant's queues by name.
func (s *Store) Queues(ctx context.Context, tenantID string) ([]Queue, error) {
	return s.queues(ctx, `WHERE tenant_id = ? ORDER BY name`, tenantID)
}

func (s *Store) queues(ctx context.Context, where string, args ...any) ([]Queue, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, tenant_id, name, config, created_at, updated_at FROM queues `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: queues: %w", err)
	}
	defer rows.Close()
	out := []Queue{}
	for rows.Next() {
		var q Queue
		var cfg string
		var created, updated int64
		if err := rows.Scan(&q.ID, &q.TenantID, &q.Name, &cfg, &created, &updated); err != nil {
			return nil, fmt.Errorf("store: queues: %w", err)
		}
		q.Config, q.CreatedAt, q.UpdatedAt = json.RawMessage(cfg), fromMillis(created), fromMillis(updated)
		out = append(out, q)
	}
	return out, rows.Err()
}

// SetAgentConfig stores a member's chat configuration.
func (s *Store) SetAgentConfig(ctx context.Context, a Actor, c AgentConfig) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO agents (tenant_id, user_id, config, updated_at)
			SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM memberships WHERE tenant_id = ? AND user_id = ?)
			ON CONFLICT (tenant_id, user_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at`,
			c.TenantID, c.UserID, string(c.Config), millis(time.Now()), c.TenantID, c.UserID)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM agents WHERE tenant_id = ? AND user_id = ?`, c.TenantID, c.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, c.TenantID, a, "agent.update", "user", c.UserID, c.Config)
	})
	if err != nil {
		return fmt.Errorf("store: agent %s: %w", c.UserID, err)
	}
	return nil
}

// AgentConfigs returns the chat configuration of a tenant's members who have one.
func (s *Store) AgentConfigs(ctx context.Context, tenantID string) ([]AgentConfig, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT tenant_id, user_id, config, updated_at FROM agents WHERE tenant_id = ?`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: agents: %w", err)
	}
	defer rows.Close()
	out := []AgentConfig{}
	for rows.Next() {
		var c AgentConfig
		var cfg string
		var updated int64
		if err := rows.Scan(&c.TenantID, &c.UserID, &cfg, &updated); err != nil {
			return nil, fmt.Errorf("store: agents: %w", err)
		}
		c.Config, c.UpdatedAt = json.RawMessage(cfg), fromMillis(updated)
		out = append(out, c)
	}
	return out, rows.Err()
}

// ChatSettings returns a tenant's chat settings document.
func (s *Store) ChatSettings(ctx context.Context, tenantID string) (json.RawMessage, error) {
	var doc string
	err := s.r.QueryRowContext(ctx, `SELECT chat_settings FROM tenants WHERE id = ?`, tenantID).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: tenant %s: %w", tenantID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: chat settings of %s: %w", tenantID, err)
	}
	return json.RawMessage(doc), nil
}

// SetChatSettings replaces a tenant's chat settings document.
func (s *Store) SetChatSettings(ctx context.Context, a Actor, tenantID string, doc json.RawMessage) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tenants SET chat_settings = ? WHERE id = ?`, string(doc), tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "chat_settings.update", "tenant", tenantID, doc)
	})
	if err != nil {
		return fmt.Errorf("store: chat settings of %s: %w", tenantID, err)
	}
	return nil
}

// TranscriptRetention is each tenant that deletes old chats, and after how
// many days.
func (s *Store) TranscriptRetention(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, `+s.d.jsonNumber("chat_settings", "transcript_retention_days")+` FROM tenants
		WHERE `+s.d.jsonNumber("chat_settings", "transcript_retention_days")+` > 0`)
	if err != nil {
		return nil, fmt.Errorf("store: transcript retention: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var days int
		if err := rows.Scan(&id, &days); err != nil {
			return nil, fmt.Errorf("store: transcript retention: %w", err)
		}
		out[id] = days
	}
	return out, rows.Err()
}
