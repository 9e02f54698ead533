package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Webhook is an endpoint that receives a tenant's events.
type Webhook struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"-"`
	URL       string    `json:"url"`
	Secret    string    `json:"-"` // whsec_…: shown once, at creation
	Events    []string  `json:"events"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Delivery is one event sent (or to send) to one webhook.
type Delivery struct {
	ID        string          `json:"id"`
	WebhookID string          `json:"webhook_id"`
	TenantID  string          `json:"-"`
	Event     string          `json:"event"`
	Payload   json.RawMessage `json:"payload"`
	// ConversationID names the conversation the event is about (erasure
	// finds the deliveries by it: the payload is sealed).
	ConversationID string     `json:"-"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	LastStatus     int        `json:"last_status"`
	LastError      string     `json:"last_error"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// SaveWebhook creates (empty ID) or updates a webhook.
func (s *Store) SaveWebhook(ctx context.Context, a Actor, w Webhook) (Webhook, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	events, _ := json.Marshal(w.Events)
	create := w.ID == ""
	var sealed string
	if create {
		w.ID, w.CreatedAt = NewID(), now
		var err error
		if sealed, err = s.sealSecret(ctx, w.TenantID, "webhook-secret", w.ID, w.Secret); err != nil {
			return Webhook{}, fmt.Errorf("store: webhook: %w", err)
		}
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		action := "webhook.update"
		if create {
			action = "webhook.create"
			res, err = tx.ExecContext(ctx, `INSERT INTO webhooks (id, tenant_id, url, secret, events, active, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, w.ID, w.TenantID, w.URL, sealed, string(events), w.Active, millis(now), millis(now))
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE webhooks SET url = ?, events = ?, active = ?, updated_at = ? WHERE id = ? AND tenant_id = ?`,
				w.URL, string(events), w.Active, millis(now), w.ID, w.TenantID)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, w.TenantID, a, action, "webhook", w.ID, map[string]any{"url": w.URL, "events": w.Events, "active": w.Active})
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("store: webhook: %w", err)
	}
	return s.Webhook(ctx, w.TenantID, w.ID)
}

// DeleteWebhook removes a webhook and its deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, a Actor, tenantID, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ? AND tenant_id = ?`, id, tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "webhook.delete", "webhook", id, nil)
	})
	if err != nil {
		return fmt.Errorf("store: delete webhook %s: %w", id, err)
	}
	return nil
}

// Webhook returns a tenant's webhook (secret included).
func (s *Store) Webhook(ctx context.Context, tenantID, id string) (Webhook, error) {
	ws, err := s.webhooks(ctx, `WHERE tenant_id = ? AND id = ?`, tenantID, id)
	if err != nil {
		return Webhook{}, err
	}
	if len(ws) == 0 {
		return Webhook{}, fmt.Errorf("store: webhook %s: %w", id, ErrNotFound)
	}
	return ws[0], nil
}

// Webhooks returns a tenant's webhooks.
func (s *Store) Webhooks(ctx context.Context, tenantID string) ([]Webhook, error) {
	return s.webhooks(ctx, `WHERE tenant_id = ? ORDER BY id`, tenantID)
}

func (s *Store) webhooks(ctx context.Context, where string, args ...any) ([]Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, tenant_id, url, secret, events, active, created_at, updated_at FROM webhooks `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: webhooks: %w", err)
	}
	defer rows.Close()
	out := []Webhook{}
	for rows.Next() {
		var w Webhook
		var events string
		var created, updated int64
		if err := rows.Scan(&w.ID, &w.TenantID, &w.URL, &w.Secret, &events, &w.Active, &created, &updated); err != nil {
			return nil, fmt.Errorf("store: webhooks: %w", err)
		}
		json.Unmarshal([]byte(events), &w.Events)
		w.CreatedAt, w.UpdatedAt = fromMillis(created), fromMillis(updated)
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i := range out {
		secret, err := s.openSecret(ctx, out[i].TenantID, "webhook-secret", out[i].ID, out[i].Secret)
		if err != nil {
			return nil, fmt.Errorf("store: webhooks: %w", err)
		}
		out[i].Secret = secret
	}
	return out, nil
}

// AddDeliveries queues deliveries, due now.
func (s *Store) AddDeliveries(ctx context.Context, ds []Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	now := millis(time.Now())
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, d := range ds {
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event, payload, conversation_id, status, next_attempt_at, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`, d.ID, d.WebhookID, d.TenantID, d.Event, string(d.Payload), d.ConversationID, now, now, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: add deliveries: %w", err)
	}
	return nil
}

const deliveryColumns = `id, webhook_id, tenant_id, event, payload, status, attempts, next_attempt_at, last_status, last_error, created_at, updated_at`

func scanDelivery(sc interface{ Scan(...any) error }) (Delivery, error) {
	var d Delivery
	var payload string
	var next sql.NullInt64
	var created, updated int64
	err := sc.Scan(&d.ID, &d.WebhookID, &d.TenantID, &d.Event, &payload, &d.Status, &d.Attempts, &next, &d.LastStatus, &d.LastError, &created, &updated)
	d.Payload, d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = json.RawMessage(payload), fromNullMillis(next), fromMillis(created), fromMillis(updated)
	return d, err
}

// ClaimDueDeliveries takes the pending deliveries whose next attempt is
// due, at most limit: their next attempt moves claim ahead, so that no
// other process (a node of a cluster) attempts them meanwhile, and an
// attempt that never records its outcome (a crash) is made again then.
// The claim's own condition is in the UPDATE's WHERE, which PostgreSQL
// checks again on a row another claim changed first.
func (s *Store) ClaimDueDeliveries(ctx context.Context, now time.Time, claim time.Duration, limit int) ([]Delivery, error) {
	rows, err := s.w.QueryContext(ctx, `UPDATE webhook_deliveries SET next_attempt_at = ?1
		WHERE status = 'pending' AND next_attempt_at <= ?2 AND id IN (SELECT id FROM webhook_deliveries
			WHERE status = 'pending' AND next_attempt_at <= ?2 ORDER BY next_attempt_at LIMIT ?3)
		RETURNING `+deliveryColumns, millis(now.Add(claim)), millis(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("store: due deliveries: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RecordAttempt stores an attempt's outcome: status succeeded, failed (no
// more attempts), or pending with the next attempt's time.
func (s *Store) RecordAttempt(ctx context.Context, id, status string, code int, errText string, next *time.Time) error {
	_, err := s.w.ExecContext(ctx, `UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, last_status = ?, last_error = ?,
		next_attempt_at = ?, updated_at = ? WHERE id = ?`, status, code, errText, nullMillis(next), millis(time.Now()), id)
	if err != nil {
		return fmt.Errorf("store: delivery %s: %w", id, err)
	}
	return nil
}

// Deliveries lists a webhook's deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, tenantID, webhookID string, p Page) ([]Delivery, string, error) {
	q := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ?`
	args := []any{tenantID, webhookID}
	if p.After != "" {
		q += ` AND id < ?`
		args = append(args, p.After)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, p.limit())...)
	if err != nil {
		return nil, "", fmt.Errorf("store: deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	out, next := trim(p, out, func(d Delivery) string { return d.ID })
	return out, next, nil
}

// ReplayDelivery makes a delivery pending and due now.
func (s *Store) ReplayDelivery(ctx context.Context, a Actor, tenantID, webhookID, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := millis(time.Now())
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ?
			WHERE id = ? AND webhook_id = ? AND tenant_id = ?`, now, now, id, webhookID, tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "webhook.replay", "delivery", id, nil)
	})
	if err != nil {
		return fmt.Errorf("store: replay delivery %s: %w", id, err)
	}
	return nil
}
