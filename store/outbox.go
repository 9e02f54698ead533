package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Event is a webhook event waiting in the outbox: written in the
// transaction of the change it reports, moved to deliveries after.
type Event struct {
	ID             string
	TenantID       string
	Type           string
	ConversationID string
	Payload        string // sealed by the caller
	CreatedAt      time.Time
}

// Context is the transaction's context.
func (t *Tx) Context() context.Context { return t.ctx }

// EventAD is the associated data an outbox event's payload is sealed with:
// a payload cannot be moved to another event.
func EventAD(id string) []byte { return []byte("event\x00" + id) }

// AddEvent writes an event in the transaction of the change it reports.
func (t *Tx) AddEvent(e Event) error {
	_, err := t.ExecContext(t.ctx, `INSERT INTO event_outbox (id, tenant_id, type, conversation_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		e.ID, e.TenantID, e.Type, e.ConversationID, e.Payload, millis(e.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: add event %s: %w", e.Type, err)
	}
	return nil
}

// Events returns up to limit events of the outbox, oldest first.
func (s *Store) Events(ctx context.Context, limit int) ([]Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, tenant_id, type, conversation_id, payload, created_at FROM event_outbox ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.ID, &e.TenantID, &e.Type, &e.ConversationID, &e.Payload, &at); err != nil {
			return nil, fmt.Errorf("store: events: %w", err)
		}
		e.CreatedAt = fromMillis(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// MaxPending is how many deliveries a webhook keeps waiting at most: past
// it, a new event's delivery is recorded failed at once (it can be sent
// again from the delivery log), so that a receiver gone for days does not
// fill the disk.
const MaxPending = 10_000

// MoveEvents turns outbox events into their deliveries, in one
// transaction: each event leaves the outbox as its deliveries are added. An
// event no longer there (its conversation was erased meanwhile) adds none.
// It returns the deliveries added as pending.
func (s *Store) MoveEvents(ctx context.Context, moves map[string][]Delivery) (int, error) {
	pending := 0
	now := millis(time.Now())
	err := s.tx(ctx, func(tx *sql.Tx) error {
		waiting := map[string]int{}
		for id, ds := range moves {
			res, err := tx.ExecContext(ctx, `DELETE FROM event_outbox WHERE id = ?`, id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			for _, d := range ds {
				n, ok := waiting[d.WebhookID]
				if !ok {
					if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM webhook_deliveries WHERE webhook_id = ? AND status = 'pending'`, d.WebhookID).Scan(&n); err != nil {
						return err
					}
				}
				status, next, why := "pending", sql.NullInt64{Int64: now, Valid: true}, ""
				if n >= MaxPending {
					status, next, why = "failed", sql.NullInt64{}, fmt.Sprintf("not sent: %d deliveries were already waiting for this receiver", MaxPending)
				} else {
					n++
					pending++
				}
				waiting[d.WebhookID] = n
				if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event, payload, conversation_id, status, next_attempt_at, last_error, created_at, updated_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.ID, d.WebhookID, d.TenantID, d.Event, string(d.Payload), d.ConversationID, status, next, why, now, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: move %d events: %w", len(moves), err)
	}
	return pending, nil
}
