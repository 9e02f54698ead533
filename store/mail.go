package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// EmailSettings returns a tenant's email settings document (opened), or
// ErrNotFound when the tenant has none.
func (s *Store) EmailSettings(ctx context.Context, tenantID string) (json.RawMessage, error) {
	var sealed string
	err := s.r.QueryRowContext(ctx, `SELECT config FROM email_settings WHERE tenant_id = ?`, tenantID).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: email settings of %s: %w", tenantID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: email settings of %s: %w", tenantID, err)
	}
	doc, err := s.openSecret(ctx, tenantID, "email-settings", tenantID, sealed)
	if err != nil {
		return nil, fmt.Errorf("store: email settings of %s: %w", tenantID, err)
	}
	return json.RawMessage(doc), nil
}

// SetEmailSettings stores a tenant's email settings document (validated by
// the caller), sealed; detail is what the audit log records of the change
// (never the password).
func (s *Store) SetEmailSettings(ctx context.Context, a Actor, tenantID string, doc json.RawMessage, detail any) error {
	sealed, err := s.sealSecret(ctx, tenantID, "email-settings", tenantID, string(doc))
	if err != nil {
		return fmt.Errorf("store: email settings of %s: %w", tenantID, err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO email_settings (tenant_id, config, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (tenant_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at`,
			tenantID, sealed, millis(time.Now())); err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, a, "email.settings", "tenant", tenantID, detail)
	})
	if err != nil {
		return fmt.Errorf("store: email settings of %s: %w", tenantID, err)
	}
	return nil
}

// Mail is one email of the outbox: to send, being sent, sent or failed. The
// outbox is the delivery log too.
type Mail struct {
	ID             string
	TenantID       string
	Kind           string // what it is: transcript, offline, missed, test…
	ConversationID string // the conversation it is about, if any
	// Request is what the cause asked for (a visitor's address, say), and
	// Message the composed email, nil until the first attempt: both sealed
	// at rest, opened here.
	Request       json.RawMessage
	Message       json.RawMessage
	Status        string // pending, sending, sent, failed
	Attempts      int
	NextAttemptAt *time.Time
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Mail statuses.
const (
	MailPending = "pending"
	MailSending = "sending"
	MailSent    = "sent"
	MailFailed  = "failed"
)

// AddMail queues an email, due now (or at m.NextAttemptAt), in the
// transaction of what causes it.
func (t *Tx) AddMail(m Mail) error { return addMail(t.ctx, t.s, t, m) }

// AddMail queues an email, due now (or at m.NextAttemptAt).
func (s *Store) AddMail(ctx context.Context, m Mail) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return addMail(ctx, s, tx, m) })
}

func addMail(ctx context.Context, s *Store, x execer, m Mail) error {
	req, err := s.sealSecret(ctx, m.TenantID, "mail-request", m.ID, string(m.Request))
	if err != nil {
		return fmt.Errorf("store: add mail: %w", err)
	}
	now := millis(time.Now())
	due := now
	if m.NextAttemptAt != nil {
		due = millis(*m.NextAttemptAt)
	}
	if _, err := x.ExecContext(ctx, `INSERT INTO mail_outbox (id, tenant_id, kind, conversation_id, request, status, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)`, m.ID, m.TenantID, m.Kind, m.ConversationID, req, due, now, now); err != nil {
		return fmt.Errorf("store: add mail %s: %w", m.Kind, err)
	}
	return nil
}

const mailColumns = `id, tenant_id, kind, conversation_id, request, message, status, attempts, next_attempt_at, last_error, created_at, updated_at`

func (s *Store) mails(ctx context.Context, q string, args ...any) ([]Mail, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+mailColumns+` FROM mail_outbox `+q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Mail{}
	type sealed struct{ req, msg string }
	var raw []sealed
	for rows.Next() {
		var m Mail
		var x sealed
		var next sql.NullInt64
		var created, updated int64
		if err := rows.Scan(&m.ID, &m.TenantID, &m.Kind, &m.ConversationID, &x.req, &x.msg, &m.Status, &m.Attempts, &next, &m.LastError, &created, &updated); err != nil {
			return nil, err
		}
		m.NextAttemptAt, m.CreatedAt, m.UpdatedAt = fromNullMillis(next), fromMillis(created), fromMillis(updated)
		out, raw = append(out, m), append(raw, x)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i := range out {
		req, err := s.openSecret(ctx, out[i].TenantID, "mail-request", out[i].ID, raw[i].req)
		if err != nil {
			return nil, err
		}
		out[i].Request = json.RawMessage(req)
		if raw[i].msg != "" {
			msg, err := s.openSecret(ctx, out[i].TenantID, "mail-message", out[i].ID, raw[i].msg)
			if err != nil {
				return nil, err
			}
			out[i].Message = json.RawMessage(msg)
		}
	}
	return out, nil
}

// DueMail returns emails to attempt now: pending ones whose time has come,
// and ones a sender claimed and never finished (it crashed or stopped)
// once their claim ran out.
func (s *Store) DueMail(ctx context.Context, now time.Time, limit int) ([]Mail, error) {
	out, err := s.mails(ctx, `WHERE status IN ('pending', 'sending') AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, millis(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due mail: %w", err)
	}
	return out, nil
}

// ClaimMail takes a due email (now: any one not done) for one attempt until
// the claim runs out, storing its composed message (sealed) if it has none
// yet. It reports false when another sender took it, or it is no longer due.
func (s *Store) ClaimMail(ctx context.Context, m Mail, claim time.Duration, now bool) (bool, error) {
	due := time.Now()
	if now {
		due = due.Add(claim + time.Hour)
	}
	at := time.Now()
	msg := ""
	if m.Message != nil {
		var err error
		if msg, err = s.sealSecret(ctx, m.TenantID, "mail-message", m.ID, string(m.Message)); err != nil {
			return false, fmt.Errorf("store: claim mail %s: %w", m.ID, err)
		}
	}
	res, err := s.w.ExecContext(ctx, `UPDATE mail_outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = ?, updated_at = ?,
		message = CASE WHEN message = '' THEN ? ELSE message END
		WHERE id = ? AND status IN ('pending', 'sending') AND next_attempt_at <= ?`,
		millis(at.Add(claim)), millis(at), msg, m.ID, millis(due))
	if err != nil {
		return false, fmt.Errorf("store: claim mail %s: %w", m.ID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// MailOutcome records an attempt: sent, failed (no more attempts), or
// pending again with the next attempt's time.
func (s *Store) MailOutcome(ctx context.Context, id, status, errText string, next *time.Time) error {
	_, err := s.w.ExecContext(ctx, `UPDATE mail_outbox SET status = ?, last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?`,
		status, errText, nullMillis(next), millis(time.Now()), id)
	if err != nil {
		return fmt.Errorf("store: mail %s: %w", id, err)
	}
	return nil
}

// MailFilter narrows the delivery log.
type MailFilter struct {
	Status         string
	Kind           string
	ConversationID string
}

// Mails lists a tenant's emails, newest first.
func (s *Store) Mails(ctx context.Context, tenantID string, f MailFilter, p Page) ([]Mail, string, error) {
	q, args := `WHERE tenant_id = ?`, []any{tenantID}
	for col, v := range map[string]string{"status": f.Status, "kind": f.Kind, "conversation_id": f.ConversationID} {
		if v != "" {
			q += ` AND ` + col + ` = ?`
			args = append(args, v)
		}
	}
	if p.After != "" {
		q += ` AND id < ?`
		args = append(args, p.After)
	}
	out, err := s.mails(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, p.limit())...)
	if err != nil {
		return nil, "", fmt.Errorf("store: mails of %s: %w", tenantID, err)
	}
	out, next := trim(p, out, func(m Mail) string { return m.ID })
	return out, next, nil
}

// Mail returns one of a tenant's emails.
func (s *Store) Mail(ctx context.Context, tenantID, id string) (Mail, error) {
	out, err := s.mails(ctx, `WHERE tenant_id = ? AND id = ?`, tenantID, id)
	if err != nil {
		return Mail{}, fmt.Errorf("store: mail %s: %w", id, err)
	}
	if len(out) == 0 {
		return Mail{}, fmt.Errorf("store: mail %s: %w", id, ErrNotFound)
	}
	return out[0], nil
}

// CountMail counts a conversation's emails of a kind.
func (s *Store) CountMail(ctx context.Context, tenantID, conversationID, kind string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM mail_outbox WHERE tenant_id = ? AND conversation_id = ? AND kind = ?`,
		tenantID, conversationID, kind).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count mail: %w", err)
	}
	return n, nil
}

// RetryMail makes a failed email pending and due now (audited).
func (s *Store) RetryMail(ctx context.Context, a Actor, tenantID, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := millis(time.Now())
		res, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET status = 'pending', next_attempt_at = ?, updated_at = ?
			WHERE id = ? AND tenant_id = ? AND status = 'failed'`, now, now, id, tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "email.retry", "mail", id, nil)
	})
	if err != nil {
		return fmt.Errorf("store: retry mail %s: %w", id, err)
	}
	return nil
}

// PruneMail deletes the emails sent or failed before a time (the delivery
// log keeps a window, not everything forever).
func (s *Store) PruneMail(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM mail_outbox WHERE status IN ('sent', 'failed') AND updated_at < ?`, millis(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune mail: %w", err)
	}
	return res.RowsAffected()
}
