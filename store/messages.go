package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Conversation is a chat between a site's visitor and the tenant's agents or bots.
type Conversation struct {
	ID        string     `json:"id"`
	TenantID  string     `json:"tenant_id"`
	SiteID    string     `json:"site_id"`
	Visitor   string     `json:"visitor"`
	Status    string     `json:"status"`
	LastSeq   int64      `json:"last_seq"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	ClosedAt  *time.Time `json:"closed_at"`
}

// CreateConversation opens a conversation of a site's visitor.
func (s *Store) CreateConversation(ctx context.Context, tenantID, siteID, visitor string) (Conversation, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := Conversation{ID: NewID(), TenantID: tenantID, SiteID: siteID, Visitor: visitor, Status: "open", CreatedAt: now, UpdatedAt: now}
	_, err := s.w.ExecContext(ctx, `INSERT INTO conversations (id, tenant_id, site_id, visitor, status, created_at, updated_at)
		SELECT ?, ?, ?, ?, 'open', ?, ? WHERE EXISTS (SELECT 1 FROM sites WHERE id = ? AND tenant_id = ?)`,
		c.ID, tenantID, siteID, visitor, millis(now), millis(now), siteID, tenantID)
	if err != nil {
		return Conversation{}, fmt.Errorf("store: create conversation: %w", err)
	}
	if _, err := s.Conversation(ctx, tenantID, c.ID); err != nil {
		return Conversation{}, fmt.Errorf("store: create conversation: site %s: %w", siteID, ErrNotFound)
	}
	return c, nil
}

// Conversation returns a tenant's conversation.
func (s *Store) Conversation(ctx context.Context, tenantID, id string) (Conversation, error) {
	var c Conversation
	var created, updated int64
	var closed sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT id, tenant_id, site_id, visitor, status, last_seq, created_at, updated_at, closed_at
		FROM conversations WHERE tenant_id = ? AND id = ?`, tenantID, id).
		Scan(&c.ID, &c.TenantID, &c.SiteID, &c.Visitor, &c.Status, &c.LastSeq, &created, &updated, &closed)
	if errors.Is(err, sql.ErrNoRows) {
		return Conversation{}, fmt.Errorf("store: conversation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Conversation{}, fmt.Errorf("store: conversation %s: %w", id, err)
	}
	c.CreatedAt, c.UpdatedAt, c.ClosedAt = fromMillis(created), fromMillis(updated), fromNullMillis(closed)
	return c, nil
}

// MessageAppend is one message to store. Seal turns the body into what is
// stored once the message's seq is known (the seq is part of its associated
// data). AppendMessages fills the results.
type MessageAppend struct {
	TenantID, ConversationID string
	SenderKind, SenderID     string
	ClientID                 string // the sender's idempotency key; may be empty
	Kind                     string
	Seal                     func(seq int64) ([]byte, error)

	Seq       int64
	ID        string
	CreatedAt time.Time
	Duplicate bool  // a resend: Seq, ID and CreatedAt are the original's
	Err       error // this message was refused (the others of the batch were not)
}

// StoredMessage is a message as stored, its body still sealed.
type StoredMessage struct {
	ConversationID string
	Seq            int64
	ID             string
	SenderKind     string
	SenderID       string
	ClientID       string
	Kind           string
	Body           []byte
	CreatedAt      time.Time
}

// AppendMessages stores a batch of messages in one transaction (group
// commit): each gets the next seq of its conversation, or, when its client id
// was seen, the original's. A message for an unknown conversation (or one of
// another tenant) gets ErrNotFound in its Err. The batch is durable when
// AppendMessages returns nil.
func (s *Store) AppendMessages(ctx context.Context, batch []*MessageAppend) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		next := map[string]int64{} // conversation -> last seq within this transaction
		now := time.Now().UTC().Truncate(time.Millisecond)
		for _, m := range batch {
			m.Err, m.Duplicate = nil, false
			last, ok := next[m.ConversationID]
			if !ok {
				err := tx.QueryRowContext(ctx, `SELECT last_seq FROM conversations WHERE id = ? AND tenant_id = ?`, m.ConversationID, m.TenantID).Scan(&last)
				if errors.Is(err, sql.ErrNoRows) {
					m.Err = fmt.Errorf("store: conversation %s: %w", m.ConversationID, ErrNotFound)
					continue
				}
				if err != nil {
					return err
				}
			}
			if m.ClientID != "" {
				var created int64
				err := tx.QueryRowContext(ctx, `SELECT seq, id, created_at FROM messages
					WHERE conversation_id = ? AND sender_kind = ? AND sender_id = ? AND client_id = ?`,
					m.ConversationID, m.SenderKind, m.SenderID, m.ClientID).Scan(&m.Seq, &m.ID, &created)
				if err == nil {
					m.Duplicate, m.CreatedAt = true, fromMillis(created)
					next[m.ConversationID] = last
					continue
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
			}
			m.Seq, m.ID, m.CreatedAt = last+1, NewID(), now
			body, err := m.Seal(m.Seq)
			if err != nil {
				m.Err = err
				next[m.ConversationID] = last
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO messages (conversation_id, seq, id, sender_kind, sender_id, client_id, kind, body, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.ConversationID, m.Seq, m.ID, m.SenderKind, m.SenderID, m.ClientID, m.Kind, body, millis(now)); err != nil {
				return err
			}
			next[m.ConversationID] = m.Seq
		}
		for id, last := range next {
			if _, err := tx.ExecContext(ctx, `UPDATE conversations SET last_seq = ?, updated_at = ? WHERE id = ? AND last_seq < ?`,
				last, millis(now), id, last); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: append messages: %w", err)
	}
	return nil
}

// Messages returns a tenant's conversation's messages after seq, in order, at
// most limit (1 to 1000).
func (s *Store) Messages(ctx context.Context, tenantID, conversationID string, after int64, limit int) ([]StoredMessage, error) {
	limit = min(max(limit, 1), 1000)
	rows, err := s.r.QueryContext(ctx, `SELECT m.conversation_id, m.seq, m.id, m.sender_kind, m.sender_id, m.client_id, m.kind, m.body, m.created_at
		FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE c.tenant_id = ? AND m.conversation_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?`, tenantID, conversationID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: messages of %s: %w", conversationID, err)
	}
	defer rows.Close()
	var out []StoredMessage
	for rows.Next() {
		var m StoredMessage
		var created int64
		if err := rows.Scan(&m.ConversationID, &m.Seq, &m.ID, &m.SenderKind, &m.SenderID, &m.ClientID, &m.Kind, &m.Body, &created); err != nil {
			return nil, fmt.Errorf("store: messages of %s: %w", conversationID, err)
		}
		m.CreatedAt = fromMillis(created)
		out = append(out, m)
	}
	return out, rows.Err()
}
