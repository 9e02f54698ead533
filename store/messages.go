package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

// The chat log's statements, prepared once on the writer connection.
const (
	sqlInsertConversation = `INSERT INTO conversations (id, tenant_id, site_id, visitor, status, token_hash, queue_id, metadata, identity, queued_at, tags, created_at, updated_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sites WHERE id = ? AND tenant_id = ?)`
	sqlSaveConversation = `UPDATE conversations SET status = ?, queue_id = ?, agent_id = ?, last_agent_id = ?, metadata = ?, identity = coalesce(nullif(?, ''), identity),
		queued_at = ?, assigned_at = ?, first_response_at = ?, close_reason = ?, disposition = ?, tags = ?, csat = ?,
		closed_at = ?, updated_at = ? WHERE id = ? AND tenant_id = ?`
	sqlSetParticipant = `INSERT INTO participants (conversation_id, user_id, role, joined_at, left_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (conversation_id, user_id) DO UPDATE SET role = excluded.role, left_at = excluded.left_at,
		joined_at = CASE WHEN participants.left_at IS NULL THEN participants.joined_at ELSE excluded.joined_at END`
	// A message is inserted with the next seq of its conversation (known to
	// the writer, or read with the tenant's check) while its conversation
	// exists; a trigger (messages_last_seq) moves the conversation's
	// last_seq and updated_at. An insert that inserts nothing met a resend
	// (its client id is stored), a seq another writer took, or a deleted
	// conversation: none of them is an error, because a failed statement
	// ends a PostgreSQL transaction, and the batch around it must go on.
	sqlLastSeq = `SELECT last_seq FROM conversations WHERE id = ? AND tenant_id = ?`
	sqlResent  = `SELECT seq, id, created_at FROM messages
					WHERE conversation_id = ? AND sender_kind = ? AND sender_id = ? AND client_id = ?`
	sqlInsertMessage = `INSERT INTO messages (conversation_id, seq, id, sender_kind, sender_id, client_id, kind, audience, body, created_at)
				SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ?1)
				ON CONFLICT DO NOTHING`
	sqlSavepoint  = `SAVEPOINT op`
	sqlRollbackTo = `ROLLBACK TO op`
	sqlRelease    = `RELEASE op`
)

var preparedStatements = []string{sqlInsertConversation, sqlSaveConversation, sqlSetParticipant, sqlLastSeq, sqlResent, sqlInsertMessage, sqlSavepoint, sqlRollbackTo, sqlRelease}

// Conversation is a chat between a site's visitor and the tenant's agents or
// bots. Status is bot (pre-chat questions), queued, assigned, hold, offline
// (nobody could answer; the visitor may leave a message) or closed.
type Conversation struct {
	ID          string          `json:"id"`
	TenantID    string          `json:"tenant_id"`
	SiteID      string          `json:"site_id"`
	Visitor     string          `json:"visitor"`
	Status      string          `json:"status"`
	LastSeq     int64           `json:"last_seq"`
	QueueID     string          `json:"queue_id"`
	AgentID     string          `json:"agent_id"`
	LastAgentID string          `json:"last_agent_id"`
	Metadata    json.RawMessage `json:"metadata"`
	// Identity is the fingerprint (keys.Ring.Blind, label "identity") of
	// the user id the site verified for the visitor; "" when none.
	Identity        string     `json:"-"`
	QueuedAt        *time.Time `json:"queued_at"`
	AssignedAt      *time.Time `json:"assigned_at"`
	FirstResponseAt *time.Time `json:"first_response_at"`
	CloseReason     string     `json:"close_reason"`
	Disposition     string     `json:"disposition"`
	Tags            []string   `json:"tags"`
	CSAT            *int       `json:"csat"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	ClosedAt        *time.Time `json:"closed_at"`
}

// Participant is an agent or supervisor in a conversation.
type Participant struct {
	ConversationID string     `json:"-"`
	UserID         string     `json:"user_id"`
	Role           string     `json:"role"` // owner, conference, consult, monitor
	JoinedAt       time.Time  `json:"joined_at"`
	LeftAt         *time.Time `json:"left_at,omitempty"`
}

const conversationColumns = `id, tenant_id, site_id, visitor, status, last_seq, coalesce(queue_id, ''), coalesce(agent_id, ''),
	coalesce(last_agent_id, ''), metadata, queued_at, assigned_at, first_response_at, close_reason, disposition, tags, csat,
	created_at, updated_at, closed_at, coalesce(identity, '')`

func scanConversation(sc interface{ Scan(...any) error }) (Conversation, error) {
	var c Conversation
	var meta, tags string
	var created, updated int64
	var queued, assigned, first, closed, csat sql.NullInt64
	err := sc.Scan(&c.ID, &c.TenantID, &c.SiteID, &c.Visitor, &c.Status, &c.LastSeq, &c.QueueID, &c.AgentID, &c.LastAgentID,
		&meta, &queued, &assigned, &first, &c.CloseReason, &c.Disposition, &tags, &csat, &created, &updated, &closed, &c.Identity)
	if err != nil {
		return c, err
	}
	c.Metadata = json.RawMessage(meta)
	if err := json.Unmarshal([]byte(tags), &c.Tags); err != nil {
		return c, fmt.Errorf("tags of %s: %w", c.ID, err)
	}
	if csat.Valid {
		n := int(csat.Int64)
		c.CSAT = &n
	}
	c.QueuedAt, c.AssignedAt, c.FirstResponseAt = fromNullMillis(queued), fromNullMillis(assigned), fromNullMillis(first)
	c.CreatedAt, c.UpdatedAt, c.ClosedAt = fromMillis(created), fromMillis(updated), fromNullMillis(closed)
	return c, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nullInt(p *int) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*p), Valid: true}
}

// CreateConversation stores a new conversation of a site's visitor. The
// conversation's id, times and state come from c (an empty id gets a new
// one); tokenHash is the SHA-256 of the visitor's chat token.
func (s *Store) CreateConversation(ctx context.Context, c Conversation, tokenHash []byte) (Conversation, error) {
	return createConversation(ctx, s, s.w, c, tokenHash)
}

// execer is a connection or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func createConversation(ctx context.Context, s *Store, ex execer, c Conversation, tokenHash []byte) (Conversation, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	if c.ID == "" {
		c.ID = NewID()
	}
	if c.Status == "" {
		c.Status = "queued"
	}
	if len(c.Metadata) == 0 {
		c.Metadata = json.RawMessage("{}")
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	c.CreatedAt, c.UpdatedAt = now, now
	tags, _ := json.Marshal(c.Tags)
	meta, err := s.sealMetadata(ctx, c)
	if err != nil {
		return Conversation{}, err
	}
	res, err := ex.ExecContext(ctx, sqlInsertConversation,
		c.ID, c.TenantID, c.SiteID, c.Visitor, c.Status, tokenHash, nullString(c.QueueID), meta, c.Identity, nullMillis(c.QueuedAt),
		string(tags), millis(now), millis(now), c.SiteID, c.TenantID)
	if err != nil {
		return Conversation{}, fmt.Errorf("store: create conversation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Conversation{}, fmt.Errorf("store: create conversation: site %s: %w", c.SiteID, ErrNotFound)
	}
	return c, nil
}

// SaveConversation writes a conversation's state (everything but its ids,
// visitor, token and last seq).
func (s *Store) SaveConversation(ctx context.Context, c Conversation) error {
	return saveConversation(ctx, s, s.w, c)
}

func saveConversation(ctx context.Context, s *Store, ex execer, c Conversation) error {
	if c.Tags == nil {
		c.Tags = []string{}
	}
	tags, _ := json.Marshal(c.Tags)
	if len(c.Metadata) == 0 {
		c.Metadata = json.RawMessage("{}")
	}
	meta, err := s.sealMetadata(ctx, c)
	if err != nil {
		return err
	}
	res, err := ex.ExecContext(ctx, sqlSaveConversation,
		c.Status, nullString(c.QueueID), nullString(c.AgentID), nullString(c.LastAgentID), meta, c.Identity,
		nullMillis(c.QueuedAt), nullMillis(c.AssignedAt), nullMillis(c.FirstResponseAt), c.CloseReason, c.Disposition, string(tags),
		nullInt(c.CSAT), nullMillis(c.ClosedAt), millis(time.Now()), c.ID, c.TenantID)
	if err != nil {
		return fmt.Errorf("store: save conversation %s: %w", c.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: save conversation %s: %w", c.ID, ErrNotFound)
	}
	return nil
}

// Conversation returns a tenant's conversation.
func (s *Store) Conversation(ctx context.Context, tenantID, id string) (Conversation, error) {
	c, err := scanConversation(s.r.QueryRowContext(ctx, `SELECT `+conversationColumns+`
		FROM conversations WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Conversation{}, fmt.Errorf("store: conversation %s: %w", id, ErrNotFound)
	}
	if err == nil {
		err = s.openMetadata(ctx, &c)
	}
	if err != nil {
		return Conversation{}, fmt.Errorf("store: conversation %s: %w", id, err)
	}
	return c, nil
}

// ConversationToken returns the tenant of a conversation and the hash of its
// visitor token.
func (s *Store) ConversationToken(ctx context.Context, id string) (tenantID string, hash []byte, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT tenant_id, token_hash FROM conversations WHERE id = ?`, id).Scan(&tenantID, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, fmt.Errorf("store: conversation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", nil, fmt.Errorf("store: conversation %s: %w", id, err)
	}
	return tenantID, hash, nil
}

// OpenConversations returns every conversation not closed, of all tenants,
// oldest first: what the chat engine rebuilds its queues from at start.
func (s *Store) OpenConversations(ctx context.Context) ([]Conversation, error) {
	return s.conversations(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE status <> 'closed' ORDER BY id`)
}

// TenantOpenConversations returns a tenant's conversations not closed,
// oldest first: what a node that takes the tenant over rebuilds its engine
// from.
func (s *Store) TenantOpenConversations(ctx context.Context, tenantID string) ([]Conversation, error) {
	return s.conversations(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE tenant_id = ? AND status <> 'closed' ORDER BY id`, tenantID)
}

// ConversationFilter narrows a conversation list. Participant keeps the
// conversations a user has been in.
type ConversationFilter struct {
	Status      string
	Reason      string // why it closed: offline_message lists the messages left on the offline form
	SiteID      string
	Visitor     string
	Participant string
}

// Conversations lists a tenant's conversations, newest first.
func (s *Store) Conversations(ctx context.Context, tenantID string, f ConversationFilter, p Page) ([]Conversation, string, error) {
	q := `SELECT ` + conversationColumns + ` FROM conversations WHERE tenant_id = ?`
	args := []any{tenantID}
	if p.After != "" {
		q += ` AND id < ?`
		args = append(args, p.After)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Reason != "" {
		q += ` AND close_reason = ?`
		args = append(args, f.Reason)
	}
	if f.SiteID != "" {
		q += ` AND site_id = ?`
		args = append(args, f.SiteID)
	}
	if f.Visitor != "" {
		q += ` AND visitor = ?`
		args = append(args, f.Visitor)
	}
	if f.Participant != "" {
		q += ` AND id IN (SELECT conversation_id FROM participants WHERE user_id = ?)`
		args = append(args, f.Participant)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, p.limit())
	cs, err := s.conversations(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	cs, next := trim(p, cs, func(c Conversation) string { return c.ID })
	return cs, next, nil
}

func (s *Store) conversations(ctx context.Context, q string, args ...any) ([]Conversation, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: conversations: %w", err)
	}
	defer rows.Close()
	out := []Conversation{}
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("store: conversations: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: conversations: %w", err)
	}
	rows.Close()
	for i := range out {
		if err := s.openMetadata(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SiteConversations returns the ids of a site's conversations.
func (s *Store) SiteConversations(ctx context.Context, tenantID, siteID string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM conversations WHERE tenant_id = ? AND site_id = ?`, tenantID, siteID)
	if err != nil {
		return nil, fmt.Errorf("store: conversations of site %s: %w", siteID, err)
	}
	return scanIDs(rows)
}

// VisitorConversations returns the ids of a site's visitor's conversations.
func (s *Store) VisitorConversations(ctx context.Context, tenantID, siteID, visitor string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM conversations WHERE tenant_id = ? AND site_id = ? AND visitor = ?`, tenantID, siteID, visitor)
	if err != nil {
		return nil, fmt.Errorf("store: conversations of visitor %s: %w", visitor, err)
	}
	return scanIDs(rows)
}

// RateConversation records a visitor's rating of a closed conversation,
// once, if it closed at or after since; false when it may not be rated.
func (s *Store) RateConversation(ctx context.Context, tenantID, id string, score int, since time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE conversations SET csat = ?, updated_at = ? WHERE id = ? AND tenant_id = ?
		AND status = 'closed' AND csat IS NULL AND closed_at >= ?`, score, millis(time.Now()), id, tenantID, millis(since))
	if err != nil {
		return false, fmt.Errorf("store: rate conversation %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// IdentityConversations returns the ids of a site's conversations whose
// verified visitor has this identity fingerprint.
func (s *Store) IdentityConversations(ctx context.Context, tenantID, siteID, identity string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM conversations WHERE tenant_id = ? AND site_id = ? AND identity = ?`, tenantID, siteID, identity)
	if err != nil {
		return nil, fmt.Errorf("store: conversations of an identity: %w", err)
	}
	return scanIDs(rows)
}

// UnreadIdentities returns up to limit conversations whose identity column
// an earlier release left unset (NULL), metadata opened, for the caller to
// fill in with SetIdentities.
func (s *Store) UnreadIdentities(ctx context.Context, limit int) ([]Conversation, error) {
	return s.conversations(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE identity IS NULL ORDER BY id LIMIT ?`, limit)
}

// SetIdentities sets conversations' identity fingerprints (by id; "": none)
// where none is set yet: the engine's own, written meanwhile, stays.
func (s *Store) SetIdentities(ctx context.Context, identities map[string]string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for id, fp := range identities {
			if _, err := tx.ExecContext(ctx, `UPDATE conversations SET identity = ? WHERE id = ? AND identity IS NULL`, fp, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set %d identities: %w", len(identities), err)
	}
	return nil
}

// DeleteConversations deletes a tenant's conversations with their messages,
// participants and files, and the webhook deliveries and emails that carry them.
func (s *Store) DeleteConversations(ctx context.Context, tenantID string, ids []string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			// The outbox first: an event that MoveEvents is turning into
			// deliveries right now is waited for (it deleted the event's row
			// first), so that the deliveries it adds are found below. On
			// PostgreSQL each statement sees what committed before it began.
			if _, err := tx.ExecContext(ctx, `DELETE FROM event_outbox WHERE tenant_id = ? AND conversation_id = ?`, tenantID, id); err != nil {
				return err
			}
			// Payloads name their conversation (message.created, conversation.*).
			if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE tenant_id = ? AND (conversation_id = ? OR `+s.d.contains("payload")+`)`, tenantID, id, id); err != nil {
				return err
			}
			// Emails carry the transcript or the visitor's address.
			if _, err := tx.ExecContext(ctx, `DELETE FROM mail_outbox WHERE tenant_id = ? AND conversation_id = ?`, tenantID, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM conversations WHERE id = ? AND tenant_id = ?`, id, tenantID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete %d conversations: %w", len(ids), err)
	}
	return nil
}

// ParticipantConversations returns the ids of a tenant's conversations a
// user has taken part in.
func (s *Store) ParticipantConversations(ctx context.Context, tenantID, userID string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT p.conversation_id FROM participants p
		JOIN conversations c ON c.id = p.conversation_id WHERE p.user_id = ? AND c.tenant_id = ?`, userID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: conversations of %s: %w", userID, err)
	}
	return scanIDs(rows)
}

// scanIDs reads one text column, closing rows.
func scanIDs(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: ids: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// SetParticipant records that a user joined a conversation in a role, or
// (left) that they left it.
func (s *Store) SetParticipant(ctx context.Context, p Participant) error {
	return setParticipant(ctx, s.w, p)
}

func setParticipant(ctx context.Context, ex execer, p Participant) error {
	_, err := ex.ExecContext(ctx, sqlSetParticipant,
		p.ConversationID, p.UserID, p.Role, millis(p.JoinedAt), nullMillis(p.LeftAt))
	if err != nil {
		return fmt.Errorf("store: participant %s in %s: %w", p.UserID, p.ConversationID, err)
	}
	return nil
}

// Participants returns who is or was in a conversation.
func (s *Store) Participants(ctx context.Context, conversationID string) ([]Participant, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT conversation_id, user_id, role, joined_at, left_at FROM participants
		WHERE conversation_id = ? ORDER BY joined_at`, conversationID)
	if err != nil {
		return nil, fmt.Errorf("store: participants of %s: %w", conversationID, err)
	}
	defer rows.Close()
	out := []Participant{}
	for rows.Next() {
		var p Participant
		var joined int64
		var left sql.NullInt64
		if err := rows.Scan(&p.ConversationID, &p.UserID, &p.Role, &joined, &left); err != nil {
			return nil, fmt.Errorf("store: participants of %s: %w", conversationID, err)
		}
		p.JoinedAt, p.LeftAt = fromMillis(joined), fromNullMillis(left)
		out = append(out, p)
	}
	return out, rows.Err()
}

// LastAgent returns the agent of a visitor's most recent earlier
// conversation on a site, or "".
func (s *Store) LastAgent(ctx context.Context, siteID, visitor string) (string, error) {
	var id string
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(last_agent_id, '') FROM conversations
		WHERE site_id = ? AND visitor = ? AND coalesce(last_agent_id, '') <> '' ORDER BY id DESC LIMIT 1`, siteID, visitor).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: last agent of %s: %w", visitor, err)
	}
	return id, nil
}

// MessageAppend is one message to store. Seal turns the body into what is
// stored once the message's seq is known (the seq is part of its associated
// data). AppendMessages fills the results.
type MessageAppend struct {
	TenantID, ConversationID string
	SenderKind, SenderID     string
	ClientID                 string // the sender's idempotency key; may be empty
	Kind                     string
	Audience                 string // "all" (default) or "agents"
	Seal                     func(seq int64) ([]byte, error)

	Seq       int64
	ID        string
	CreatedAt time.Time
	Duplicate bool  // a resend: Seq, ID and CreatedAt are the original's
	Err       error // this message was refused (the others of the batch were not)

	numbered bool // Seq, ID and CreatedAt were given by Number
}

// Number gives m, before it is appended, the seq, id and time it will be
// stored with, so that it can be shown while its commit runs. It answers
// false, leaving m to be numbered by its insert, when the conversation's
// last seq is not in memory (Number never waits for the database). The
// seq is taken whatever becomes of m: a message refused or found to be a
// resend leaves a gap (the chat log retracts it from those it was shown
// to). The insert keeps the seq unless another writer took it meanwhile
// (m.Seq then changes).
func (s *Store) Number(m *MessageAppend, now time.Time) bool {
	c := &s.seqs
	c.mu.Lock()
	defer c.mu.Unlock()
	last, ok := c.last[m.ConversationID]
	if !ok || last.tenant != m.TenantID {
		return false
	}
	last.seq++
	c.last[m.ConversationID] = last
	m.Seq, m.ID, m.CreatedAt, m.numbered = last.seq, NewID(), now.UTC().Truncate(time.Millisecond), true
	return true
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
	Audience       string
	Body           []byte
	CreatedAt      time.Time
}

// AppendMessages stores a batch of messages in one transaction (group
// commit): each gets the next seq of its conversation, or, when its client id
// was seen, the original's. A message for an unknown conversation (or one of
// another tenant) gets ErrNotFound in its Err. The batch is durable when
// AppendMessages returns nil.
func (s *Store) AppendMessages(ctx context.Context, batch []*MessageAppend) error {
	return s.Write(ctx, func(t *Tx) error { return t.AppendMessages(batch) })
}

// AppendMessage stores one message as AppendMessages does, in a statement
// of its own instead of a transaction: one call into SQLite instead of
// four (begin, insert, commit and the transaction's goroutine) when the
// chat log has a single message to commit, which is most of the time.
func (s *Store) AppendMessage(ctx context.Context, m *MessageAppend) error {
	return appendMessage(ctx, &autocommit{ctx: ctx, s: s}, &s.seqs, nil, m, time.Now())
}

// seqCache holds the last seq of the conversations messages were appended
// to, so that a message costs one statement, its insert. The chat log is
// the one writer of messages; a seq another writer took meanwhile fails the
// insert on the primary key and is read again.
type seqCache struct {
	mu   sync.Mutex
	last map[string]lastSeq // by conversation
}

type lastSeq struct {
	tenant string
	seq    int64
}

// maxSeqCache bounds the cache: it starts over when full (each conversation
// then costs one read again), which is simpler than tracking which ones
// closed and rare at this size.
const maxSeqCache = 1 << 17

func (c *seqCache) get(conversation string) (lastSeq, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.last[conversation]
	return l, ok
}

// raise sets a conversation's last seq unless Number already went past it.
func (c *seqCache) raise(conversation string, l lastSeq) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.last[conversation]; ok && cur.tenant == l.tenant && cur.seq > l.seq {
		return
	}
	if c.last == nil || len(c.last) >= maxSeqCache {
		c.last = map[string]lastSeq{}
	}
	c.last[conversation] = l
}

func (c *seqCache) forget(conversation string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.last, conversation)
}

// Tx is one write transaction in which the chat log groups what queued up
// while the previous commit ran: messages and conversation changes, in order.
type Tx struct {
	ctx context.Context
	tx  *sql.Tx
	s   *Store
	// seqs are the seqs this transaction took, for the store's cache once
	// it commits.
	seqs map[string]lastSeq
}

// Write runs fn in one write transaction, committed when fn returns nil.
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) error {
	var t *Tx
	err := s.tx(ctx, func(tx *sql.Tx) error {
		t = &Tx{ctx: ctx, tx: tx, s: s}
		return fn(t)
	})
	if err == nil && t != nil {
		for c, l := range t.seqs {
			s.seqs.raise(c, l)
		}
	}
	return err
}

// autocommit runs the chat log's statements outside a transaction, each
// one committed by itself.
type autocommit struct {
	ctx context.Context
	s   *Store
}

func (a *autocommit) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return a.s.stmts[q].ExecContext(ctx, args...)
}

func (a *autocommit) queryRow(q string, args ...any) *sql.Row {
	return a.s.stmts[q].QueryRowContext(a.ctx, args...)
}

// appender is a transaction or autocommit.
type appender interface {
	execer
	queryRow(q string, args ...any) *sql.Row
}

// prepare readies the chat log's statements on the writer connection (at
// open, while no transaction holds it): parsing SQL was a fifth of the
// chat's CPU time when every message parsed four statements.
func (s *Store) prepare() error {
	s.stmts = map[string]*sql.Stmt{}
	for _, q := range preparedStatements {
		st, err := s.w.Prepare(q)
		if err != nil {
			return fmt.Errorf("store: prepare %q: %w", q, err)
		}
		s.stmts[q] = st
	}
	return nil
}

// ExecContext runs a statement in the transaction, prepared when it is one
// of the chat log's.
func (t *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.s.stmts[q]; st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *Tx) queryRow(q string, args ...any) *sql.Row {
	if st := t.s.stmts[q]; st != nil {
		return t.tx.StmtContext(t.ctx, st).QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

// Try runs fn in a savepoint: when it fails, only its own writes are undone
// and the rest of the transaction goes on.
func (t *Tx) Try(fn func() error) error {
	if _, err := t.ExecContext(t.ctx, sqlSavepoint); err != nil {
		return err
	}
	var seqs map[string]lastSeq
	if len(t.seqs) > 0 {
		seqs = maps.Clone(t.seqs)
	}
	if err := fn(); err != nil {
		t.ExecContext(t.ctx, sqlRollbackTo)
		t.ExecContext(t.ctx, sqlRelease)
		t.seqs = seqs // the seqs fn took are free again
		return err
	}
	_, err := t.ExecContext(t.ctx, sqlRelease)
	return err
}

// CreateConversation is Store.CreateConversation within the transaction.
func (t *Tx) CreateConversation(c Conversation, tokenHash []byte) error {
	_, err := createConversation(t.ctx, t.s, t, c, tokenHash)
	return err
}

// SaveConversation is Store.SaveConversation within the transaction.
func (t *Tx) SaveConversation(c Conversation) error { return saveConversation(t.ctx, t.s, t, c) }

// SetParticipant is Store.SetParticipant within the transaction.
func (t *Tx) SetParticipant(p Participant) error { return setParticipant(t.ctx, t, p) }

// AppendMessages is Store.AppendMessages within the transaction.
func (t *Tx) AppendMessages(batch []*MessageAppend) error {
	now := time.Now()
	if t.seqs == nil {
		t.seqs = map[string]lastSeq{}
	}
	for _, m := range batch {
		if err := appendMessage(t.ctx, t, &t.s.seqs, t.seqs, m, now); err != nil {
			return err
		}
	}
	return nil
}

// appendMessage inserts m with the next seq of its conversation: from
// taken (this transaction's), the cache, or the conversation's row. With
// taken nil each insert commits by itself and goes to the cache at once.
// A resend is found by the insert doing nothing (the client id is unique
// per sender and conversation) and reads the original. An error fails the
// whole write; m.Err refuses m alone.
func appendMessage(ctx context.Context, ex appender, cache *seqCache, taken map[string]lastSeq, m *MessageAppend, now time.Time) error {
	now = now.UTC().Truncate(time.Millisecond)
	m.Err, m.Duplicate = nil, false
	if m.Audience == "" {
		m.Audience = "all"
	}
	var last lastSeq
	ok := m.numbered
	if ok {
		// Numbered: the seq is the one after last, as Number left it.
		last, now = lastSeq{tenant: m.TenantID, seq: m.Seq - 1}, m.CreatedAt
	} else {
		if last, ok = taken[m.ConversationID]; !ok {
			last, ok = cache.get(m.ConversationID)
		}
	}
	for attempt := 0; ; attempt++ {
		read := attempt > 0
		if !ok || read {
			// Not known, or known wrong (another writer took the seq).
			var seq int64
			err := ex.queryRow(sqlLastSeq, m.ConversationID, m.TenantID).Scan(&seq)
			if errors.Is(err, sql.ErrNoRows) {
				cache.forget(m.ConversationID)
				m.Err = fmt.Errorf("store: conversation %s: %w", m.ConversationID, ErrNotFound)
				return nil
			}
			if err != nil {
				return fmt.Errorf("store: append to %s: %w", m.ConversationID, err)
			}
			last = lastSeq{tenant: m.TenantID, seq: seq}
		}
		if last.tenant != m.TenantID {
			m.Err = fmt.Errorf("store: conversation %s: %w", m.ConversationID, ErrNotFound)
			return nil
		}
		seq := last.seq + 1
		body, err := m.Seal(seq)
		if err != nil {
			m.Err = err
			return nil
		}
		id := m.ID
		if !m.numbered || seq != m.Seq {
			id = NewID()
		}
		res, err := ex.ExecContext(ctx, sqlInsertMessage, m.ConversationID, seq, id, m.SenderKind, m.SenderID, m.ClientID, m.Kind, m.Audience, body, millis(now))
		if err != nil {
			return fmt.Errorf("store: append to %s: %w", m.ConversationID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: append to %s: %w", m.ConversationID, err)
		} else if n == 1 {
			m.Seq, m.ID, m.CreatedAt = seq, id, now
			if taken != nil {
				taken[m.ConversationID] = lastSeq{tenant: m.TenantID, seq: seq}
			} else {
				cache.raise(m.ConversationID, lastSeq{tenant: m.TenantID, seq: seq})
			}
			return nil
		}
		if m.ClientID != "" {
			var created int64
			err := ex.queryRow(sqlResent, m.ConversationID, m.SenderKind, m.SenderID, m.ClientID).Scan(&m.Seq, &m.ID, &created)
			if err == nil {
				m.Duplicate, m.CreatedAt = true, fromMillis(created)
				if taken == nil && !ok {
					cache.raise(m.ConversationID, last)
				}
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: resend to %s: %w", m.ConversationID, err)
			}
		}
		// Not a resend: the seq was taken, or the conversation is gone
		// (the next round's read tells which).
		if attempt == maxAppendAttempts {
			return fmt.Errorf("store: append to %s: seq %d still taken after %d reads", m.ConversationID, seq, attempt)
		}
	}
}

// maxAppendAttempts bounds how often a message's seq is read again when
// another writer keeps taking it (a tenant changing nodes, for a moment).
const maxAppendAttempts = 5

// messageColumns are what scanMessage reads, from messages m.
const messageColumns = `m.conversation_id, m.seq, m.id, m.sender_kind, m.sender_id, m.client_id, m.kind, m.audience, m.body, m.created_at`

// scanMessage reads a row of messageColumns into m, after the columns pre
// points to.
func scanMessage(sc interface{ Scan(...any) error }, m *StoredMessage, pre ...any) error {
	var created int64
	err := sc.Scan(append(pre, &m.ConversationID, &m.Seq, &m.ID, &m.SenderKind, &m.SenderID, &m.ClientID, &m.Kind, &m.Audience, &m.Body, &created)...)
	m.CreatedAt = fromMillis(created)
	return err
}

// TenantMessage is a stored message with its tenant, as read back across
// tenants (search indexing).
type TenantMessage struct {
	TenantID string
	StoredMessage
}

// MessagesSince returns the messages of every tenant created at or after
// since, ordered by conversation and seq, starting after (conversation,
// seq), at most limit (1 to 1000).
func (s *Store) MessagesSince(ctx context.Context, since time.Time, afterConversation string, afterSeq int64, limit int) ([]TenantMessage, error) {
	limit = min(max(limit, 1), 1000)
	// A conversation's updated_at moves with each message, so its old
	// conversations are skipped without reading their messages.
	rows, err := s.r.QueryContext(ctx, `SELECT c.tenant_id, `+messageColumns+`
		FROM conversations c JOIN messages m ON m.conversation_id = c.id
		WHERE c.updated_at >= ?1 AND c.id >= ?2 AND m.created_at >= ?1 AND (m.conversation_id, m.seq) > (?2, ?3)
		ORDER BY m.conversation_id, m.seq LIMIT ?4`, millis(since), afterConversation, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("store: messages since %s: %w", since, err)
	}
	defer rows.Close()
	var out []TenantMessage
	for rows.Next() {
		var m TenantMessage
		if err := scanMessage(rows, &m.StoredMessage, &m.TenantID); err != nil {
			return nil, fmt.Errorf("store: messages since %s: %w", since, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Messages returns a tenant's conversation's messages after seq, in order, at
// most limit (1 to 1000). visitorOnly leaves out what the visitor may not see.
func (s *Store) Messages(ctx context.Context, tenantID, conversationID string, after int64, limit int, visitorOnly bool) ([]StoredMessage, error) {
	limit = min(max(limit, 1), 1000)
	q := `SELECT ` + messageColumns + `
		FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE c.tenant_id = ? AND m.conversation_id = ? AND m.seq > ?`
	if visitorOnly {
		q += ` AND m.audience = 'all'`
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY m.seq LIMIT ?`, tenantID, conversationID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: messages of %s: %w", conversationID, err)
	}
	defer rows.Close()
	var out []StoredMessage
	for rows.Next() {
		var m StoredMessage
		if err := scanMessage(rows, &m); err != nil {
			return nil, fmt.Errorf("store: messages of %s: %w", conversationID, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// SearchFacts is what search filters by of a conversation, as it is now.
type SearchFacts struct {
	TenantID, SiteID, Visitor, QueueID, Disposition string
	Closed                                          bool
	Agents                                          []string // everyone who took part, in id order
}

// ConversationFacts returns the search facts of the conversations among ids
// that exist (an erased one is left out).
func (s *Store) ConversationFacts(ctx context.Context, ids []string) (map[string]SearchFacts, error) {
	out := make(map[string]SearchFacts, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	list, _ := json.Marshal(ids)
	rows, err := s.r.QueryContext(ctx, `SELECT c.id, c.tenant_id, c.site_id, c.visitor, coalesce(c.queue_id, ''), c.disposition, c.status = 'closed',
		`+s.d.jsonArrayOf("user_id", "FROM participants p WHERE p.conversation_id = c.id", "user_id")+`
		FROM conversations c WHERE c.id IN (`+s.d.jsonValues()+`)`, string(list))
	if err != nil {
		return nil, fmt.Errorf("store: conversation facts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, agents string
		var f SearchFacts
		if err := rows.Scan(&id, &f.TenantID, &f.SiteID, &f.Visitor, &f.QueueID, &f.Disposition, &f.Closed, &agents); err != nil {
			return nil, fmt.Errorf("store: conversation facts: %w", err)
		}
		if err := json.Unmarshal([]byte(agents), &f.Agents); err != nil {
			return nil, fmt.Errorf("store: conversation facts: %w", err)
		}
		out[id] = f
	}
	return out, rows.Err()
}

// CountMessagesSince counts every tenant's messages created at or after
// since (a reindex's progress).
func (s *Store) CountMessagesSince(ctx context.Context, since time.Time) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE created_at >= ?`, millis(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count messages: %w", err)
	}
	return n, nil
}

// ClosedBefore returns up to limit ids of a tenant's conversations closed
// before t.
func (s *Store) ClosedBefore(ctx context.Context, tenantID string, t time.Time, limit int) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM conversations WHERE tenant_id = ? AND status = 'closed' AND closed_at < ? ORDER BY closed_at LIMIT ?`,
		tenantID, millis(t), limit)
	if err != nil {
		return nil, fmt.Errorf("store: conversations closed before %s: %w", t, err)
	}
	return scanIDs(rows)
}
