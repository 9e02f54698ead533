package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// LeftMessage is a message left on the offline form: a conversation closed
// with reason offline_message, new until someone answers it.
type LeftMessage struct {
	Conversation Conversation
	AnsweredAt   *time.Time
	AnsweredBy   string // user id
}

// LeftFilter narrows the left messages: by state ("new", "answered", ""),
// by queue, or to the queues an agent answers (Queues non-nil).
type LeftFilter struct {
	State  string
	Queue  string
	Queues []string
}

// LeftMessages lists a tenant's left messages, newest first.
func (s *Store) LeftMessages(ctx context.Context, tenantID string, f LeftFilter, p Page) ([]LeftMessage, string, error) {
	q := `SELECT ` + conversationColumns + `, left_answered_at, left_answered_by FROM conversations
		WHERE tenant_id = ? AND close_reason = 'offline_message'`
	args := []any{tenantID}
	switch f.State {
	case "new":
		q += ` AND left_answered_at IS NULL`
	case "answered":
		q += ` AND left_answered_at IS NOT NULL`
	}
	if f.Queue != "" {
		q += ` AND queue_id = ?`
		args = append(args, f.Queue)
	}
	if f.Queues != nil {
		if len(f.Queues) == 0 {
			return []LeftMessage{}, "", nil
		}
		q += ` AND queue_id IN (?` + strings.Repeat(", ?", len(f.Queues)-1) + `)`
		for _, id := range f.Queues {
			args = append(args, id)
		}
	}
	if p.After != "" {
		q += ` AND id < ?`
		args = append(args, p.After)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, p.limit())...)
	if err != nil {
		return nil, "", fmt.Errorf("store: left messages: %w", err)
	}
	out, err := s.scanLeft(ctx, rows)
	if err != nil {
		return nil, "", err
	}
	out, next := trim(p, out, func(l LeftMessage) string { return l.Conversation.ID })
	return out, next, nil
}

// LeftMessage returns one of a tenant's left messages.
func (s *Store) LeftMessage(ctx context.Context, tenantID, conversationID string) (LeftMessage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+conversationColumns+`, left_answered_at, left_answered_by FROM conversations
		WHERE tenant_id = ? AND id = ? AND close_reason = 'offline_message'`, tenantID, conversationID)
	if err != nil {
		return LeftMessage{}, fmt.Errorf("store: left message %s: %w", conversationID, err)
	}
	out, err := s.scanLeft(ctx, rows)
	if err != nil {
		return LeftMessage{}, err
	}
	if len(out) == 0 {
		return LeftMessage{}, fmt.Errorf("store: left message %s: %w", conversationID, ErrNotFound)
	}
	return out[0], nil
}

func (s *Store) scanLeft(ctx context.Context, rows *sql.Rows) ([]LeftMessage, error) {
	defer rows.Close()
	out := []LeftMessage{}
	for rows.Next() {
		var l LeftMessage
		var at sql.NullInt64
		var by string
		c, err := scanConversation(scanWith{rows, []any{&at, &by}})
		if err != nil {
			return nil, fmt.Errorf("store: left messages: %w", err)
		}
		l.Conversation, l.AnsweredAt, l.AnsweredBy = c, fromNullMillis(at), by
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i := range out {
		if err := s.openMetadata(ctx, &out[i].Conversation); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanWith scans a row's conversation columns and then extra ones.
type scanWith struct {
	rows  *sql.Rows
	extra []any
}

func (w scanWith) Scan(dest ...any) error { return w.rows.Scan(append(dest, w.extra...)...) }

// SetLeftAnswered marks a left message answered by a user (now), or new
// again (by ""), audited; in tx when given, so that it commits with the
// email that answers it.
func (s *Store) SetLeftAnswered(ctx context.Context, a Actor, tenantID, conversationID, by string, reply *Mail) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var at any
		if by != "" {
			at = millis(time.Now())
		}
		res, err := tx.ExecContext(ctx, `UPDATE conversations SET left_answered_at = ?, left_answered_by = ?
			WHERE tenant_id = ? AND id = ? AND close_reason = 'offline_message'`, at, by, tenantID, conversationID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if reply != nil {
			if err := addMail(ctx, s, tx, *reply); err != nil {
				return err
			}
		}
		action := "left_message.answered"
		if by == "" {
			action = "left_message.reopened"
		}
		return audit(ctx, tx, tenantID, a, action, "conversation", conversationID, map[string]any{"by_email": reply != nil})
	})
	if err != nil {
		return fmt.Errorf("store: left message %s: %w", conversationID, err)
	}
	return nil
}
