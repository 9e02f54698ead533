// Package chat is the chat engine: conversations, messages, queues, routing,
// presence and supervision, independent of any transport (the WebSocket
// endpoints in server drive it) and tested without a network.
//
// This file is the message log: every message is redacted, sealed and
// committed before it is acknowledged, several senders' messages share one
// commit (group commit), each message gets the next sequence number of its
// conversation, and a resend with the same client id returns the original.
// A message whose seq is known before its commit is shown to its readers
// while the commit runs, and taken back (retracted) if the commit refuses it.
package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/redact"
	"github.com/nudgehq/nudge/store"
)

// MaxText is the longest text message, in characters.
const MaxText = 4000

// Errors of Append.
var (
	ErrInvalid = errors.New("chat: invalid message")
	ErrClosed  = errors.New("chat: log closed")
)

// Sender is who wrote a message. Name is filled for those who read it (it
// is not stored: an agent's name is looked up when shown).
type Sender struct {
	Kind string `json:"kind"` // visitor, agent, bot, system
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Avatar is an agent's picture URL (absolute: pages show it).
	Avatar string `json:"avatar,omitempty"`
}

// Message kinds.
const (
	KindText   = "text"   // plain text (never rendered as HTML)
	KindRich   = "rich"   // quick replies, a list picker or a card carousel (Payload)
	KindSystem = "system" // a notice of the engine: joined, transferred, closed… (Payload.event)
	KindForm   = "form"   // the offline message form: Text, and Payload name and email
	KindFile   = "file"   // an attachment (Payload: id, name, type, size)
)

// Audiences: who may read a message.
const (
	AudienceAll    = "all"
	AudienceAgents = "agents" // whispers, consults and internal notes: never the visitor
)

// Message is a chat message, its text in clear (and already redacted).
type Message struct {
	ConversationID string          `json:"conversation_id"`
	Seq            int64           `json:"seq"`
	ID             string          `json:"id"`
	ClientID       string          `json:"client_id,omitempty"`
	Sender         Sender          `json:"sender"`
	Kind           string          `json:"kind"`
	Audience       string          `json:"audience"`
	Text           string          `json:"text"`
	Payload        json.RawMessage `json:"payload,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	// Origin is the connection that sent the message: it gets the ack,
	// so the fan-out skips it (other tabs of the same person still get it).
	Origin Sink `json:"-"`
	// Readers are the connections a committed message reached (Wait gives
	// them): the sender's ack is written after their writers took it.
	Readers []Sink `json:"-"`
	// Resend marks a send the client made again after losing its ack: it
	// may be stored already, so it is shown only once committed.
	Resend bool `json:"-"`
}

// envelope is what is sealed for kinds other than text.
type envelope struct {
	Text    string          `json:"text,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Log appends and reads messages.
type Log struct {
	st       *store.Store
	ring     *keys.Ring
	redactor func(tenant string) *redact.Redactor
	// shown hears a message numbered before its commit, as it is passed on
	// to the writer, and says whom it reached; committed hears every new message
	// once committed, in commit order, before its sender is acknowledged
	// (shownTo: whom it reached with that seq, nil when it was not shown),
	// and says whom it has reached by then;
	// retracted hears a shown message the commit refused or stored under
	// another seq. None may block (the engine fans out to bounded queues).
	shown func(tenant string, m Message) []Sink
	// stored hears each new message inside the transaction that stores it
	// (the webhook event that reports it is written there), and
	// afterCommit hears that a transaction committed.
	stored      func(tx *store.Tx, tenant string, m Message) error
	storesFor   func(tenant string) bool // whether stored has anything to write for a tenant's messages
	afterCommit func()
	committed   func(tenant string, m Message, shownTo []Sink) []Sink
	retracted   func(tenant string, m Message, shownTo []Sink)

	// fence, on a node of a cluster, is the lease under which this node
	// writes a tenant's chats (ok false: it runs them no longer). Each
	// commit checks it in the database first (store.Tx.Fence): what a node
	// that lost the tenant still had in flight is refused (ErrElsewhere),
	// never written behind the back of the node that took it over.
	fence func(tenant string) (node string, epoch int64, ok bool)

	// logger hears failures nobody waits for.
	logger *slog.Logger
	// Stats count the log's work, for the server's metrics.
	Stats LogStats

	// Two goroutines: the shower numbers and shows what queued (q) and
	// passes it on (ready) to the writer, which commits and answers; so a
	// message that comes while a commit runs is shown at once, not after it.
	// The queues are slices, not channels: the engine queues conversation
	// changes while holding its lock, which both need, so queueing must
	// never block. Senders are bounded by their connections.
	mu      sync.Mutex
	q       []*appendReq
	ready   []*appendReq
	unshown map[string]int // conversations with a message in flight not shown before its commit
	wake    chan struct{}  // to the shower
	written chan struct{}  // to the writer
	closed  bool
	passed  bool // the shower has passed on everything and stopped
	done    chan struct{}
}

// LogStats are running totals.
type LogStats struct {
	Commits     atomic.Int64 // transactions
	Messages    atomic.Int64 // messages stored
	CommitNanos atomic.Int64 // time spent committing
	WaitNanos   atomic.Int64 // time messages spent queued before their commit began
	Failed      atomic.Int64 // messages or changes refused by a failed commit
}

// appendReq is a message to store, or (fn set) a change of a conversation's
// state, in the order they were queued.
type appendReq struct {
	tenant  string
	msg     Message
	m       store.MessageAppend
	fn      func(*store.Tx) error
	async   bool          // nobody waits: a failure is logged
	shown   []Sink        // whom it was shown to before the commit, numbered msg.Seq
	shownCh chan struct{} // closed once its group is shown
	held    bool          // a message not shown before its commit (counted in unshown)
	queued  time.Time
	err     error
	done    chan struct{}
}

// NewLog starts the log's writer. redactor gives a tenant's redaction rules
// (nil: card numbers only).
func NewLog(st *store.Store, ring *keys.Ring, redactor func(tenant string) *redact.Redactor) *Log {
	l := &Log{st: st, ring: ring, redactor: redactor, logger: slog.Default(), unshown: map[string]int{},
		wake: make(chan struct{}, 1), written: make(chan struct{}, 1), done: make(chan struct{})}
	go l.showAll()
	go l.write()
	return l
}

// enqueue adds a request behind the others.
func (l *Log) enqueue(r *appendReq) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	r.queued = time.Now()
	l.q = append(l.q, r)
	l.mu.Unlock()
	signal(l.wake)
	return nil
}

// Flush waits until everything queued so far is committed.
func (l *Log) Flush() {
	r := &appendReq{fn: func(*store.Tx) error { return nil }, done: make(chan struct{})}
	if l.enqueue(r) == nil {
		<-r.done
	}
}

// Do queues a change that commits with the next group, in order with the
// messages queued around it; nobody waits for it (a failure is logged).
func (l *Log) Do(tenant string, fn func(*store.Tx) error) {
	if err := l.enqueue(&appendReq{tenant: tenant, fn: fn, async: true, done: make(chan struct{})}); err != nil {
		l.logger.Error("chat: change after close", "err", err)
	}
}

func ad(conversation string, seq int64) []byte {
	return []byte(conversation + "\x00" + strconv.FormatInt(seq, 10))
}

// Append stores a message and returns it as stored, once committed. A
// message whose ClientID was already stored for the same sender returns the
// original (a resend is not an error: resends are how clients recover).
func (l *Log) Append(ctx context.Context, tenant string, m Message) (Message, error) {
	p, err := l.Queue(ctx, tenant, m)
	if err != nil {
		return Message{}, err
	}
	return p.Wait(ctx)
}

// Pending is a queued message.
type Pending struct {
	l   *Log
	req *appendReq
}

// Queue checks a message and queues it for the next commit, in the order of
// the calls (so one sender's messages keep their order even when the
// sender does not wait for each acknowledgement).
func (l *Log) Queue(ctx context.Context, tenant string, m Message) (*Pending, error) {
	return l.queue(ctx, tenant, m, false)
}

// Post queues a message nobody waits for (a system notice).
func (l *Log) Post(ctx context.Context, tenant string, m Message) error {
	_, err := l.queue(ctx, tenant, m, true)
	return err
}

func (l *Log) queue(ctx context.Context, tenant string, m Message, async bool) (*Pending, error) {
	if err := validate(&m); err != nil {
		return nil, err
	}
	// Sealing happens inside the commit's transaction; the tenant's key must
	// exist before (making it needs the writer connection the commit holds).
	if err := l.ring.Ensure(ctx, tenant); err != nil {
		return nil, err
	}
	var r *redact.Redactor
	if l.redactor != nil {
		r = l.redactor(tenant)
	}
	m.Text = r.Text(m.Text)
	text := []byte(m.Text)
	if m.Kind != KindText {
		text, _ = json.Marshal(envelope{Text: m.Text, Payload: m.Payload})
	}
	req := &appendReq{tenant: tenant, msg: m, async: async, done: make(chan struct{}), m: store.MessageAppend{
		TenantID: tenant, ConversationID: m.ConversationID, SenderKind: m.Sender.Kind, SenderID: m.Sender.ID,
		ClientID: m.ClientID, Kind: m.Kind, Audience: m.Audience,
		Seal: func(seq int64) ([]byte, error) {
			return l.ring.Seal(context.Background(), tenant, text, ad(m.ConversationID, seq))
		},
	}}
	if err := l.enqueue(req); err != nil {
		return nil, err
	}
	return &Pending{l: l, req: req}, nil
}

// Wait returns the message as stored once its commit is done (or the
// original, for a resend).
func (p *Pending) Wait(ctx context.Context) (Message, error) {
	// Once queued, the message is committed or refused whatever the caller's
	// context does: a client that gave up resends with the same client id.
	req := p.req
	<-req.done
	if req.err != nil {
		return Message{}, req.err
	}
	if req.m.Duplicate {
		orig, err := p.l.Since(ctx, req.tenant, req.msg.ConversationID, req.m.Seq-1, 1, false)
		if err != nil || len(orig) != 1 {
			return Message{}, fmt.Errorf("chat: read the original of a resend: %v", err)
		}
		return orig[0], nil
	}
	return req.msg, nil
}

// validate checks a message before it is queued and fills its defaults.
func validate(m *Message) error {
	if m.Kind == "" {
		m.Kind = KindText
	}
	if m.Audience == "" {
		m.Audience = AudienceAll
	}
	switch {
	case m.Audience != AudienceAll && m.Audience != AudienceAgents:
		return fmt.Errorf("%w: audience %q", ErrInvalid, m.Audience)
	case !utf8.ValidString(m.Text):
		return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	case utf8.RuneCountInString(m.Text) > MaxText:
		return fmt.Errorf("%w: text longer than %d characters", ErrInvalid, MaxText)
	case len(m.ClientID) > 64:
		return fmt.Errorf("%w: client id longer than 64 bytes", ErrInvalid)
	}
	switch m.Kind {
	case KindText, KindSystem, KindForm:
		if strings.TrimSpace(m.Text) == "" {
			return fmt.Errorf("%w: empty text", ErrInvalid)
		}
		if m.Kind == KindText {
			m.Payload = nil
		}
	case KindRich:
		p, err := ValidateRich(m.Payload)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		m.Payload = p
	case KindFile:
		if len(m.Payload) == 0 {
			return fmt.Errorf("%w: a file message names its file", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: kind %q", ErrInvalid, m.Kind)
	}
	return nil
}

// showAll shows what queued and passes it on to the writer, until the log
// closes and everything queued is passed on.
func (l *Log) showAll() {
	for {
		l.mu.Lock()
		batch := l.q
		l.q = nil
		closed := l.closed
		l.mu.Unlock()
		if len(batch) == 0 {
			if !closed {
				<-l.wake
				continue
			}
			l.mu.Lock()
			l.passed = true
			l.mu.Unlock()
			signal(l.written)
			return
		}
		var shown chan struct{}
		if l.shown != nil {
			l.number(batch, time.Now())
			shown = make(chan struct{})
			for _, b := range batch {
				b.shownCh = shown
			}
		}
		l.mu.Lock()
		l.ready = append(l.ready, batch...)
		l.mu.Unlock()
		// The writer is woken before showing, so that the commit begins
		// while the readers are reached. Their getting the message before
		// its sender's ack does not rest on which goroutine runs first:
		// the transport queues the ack after their writers took it.
		signal(l.written)
		if shown != nil {
			l.show(batch)
			close(shown)
		}
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// write commits whatever was passed on as one transaction, then answers.
func (l *Log) write() {
	defer close(l.done)
	for {
		l.mu.Lock()
		batch := l.ready
		l.ready = nil
		passed := l.passed
		l.mu.Unlock()
		if len(batch) == 0 {
			if passed {
				return
			}
			<-l.written
			continue
		}
		began := time.Now()
		var err error
		if len(batch) == 1 && batch[0].fn == nil && l.fence == nil && (l.stored == nil || !l.storesFor(batch[0].tenant)) {
			// One message, most of the time: one statement, no transaction.
			err = l.st.AppendMessage(context.Background(), &batch[0].m)
		} else {
			err = l.commit(batch)
		}
		if err == nil && l.afterCommit != nil {
			l.afterCommit()
		}
		l.Stats.Commits.Add(1)
		l.Stats.CommitNanos.Add(int64(time.Since(began)))
		for _, b := range batch {
			if b.shownCh != nil {
				<-b.shownCh
			}
		}
		for _, b := range batch {
			if b.fn == nil {
				l.Stats.Messages.Add(1)
				l.Stats.WaitNanos.Add(int64(began.Sub(b.queued)))
			}
			if err != nil {
				b.err = err
				l.Stats.Failed.Add(1)
			} else if b.fn == nil {
				b.err = b.m.Err
			}
			if b.shown != nil && (b.err != nil || b.m.Duplicate || b.m.Seq != b.msg.Seq) {
				l.retracted(b.tenant, b.msg, b.shown)
				b.shown = nil
			}
			if b.err == nil && b.fn == nil && !b.m.Duplicate {
				b.msg.Seq, b.msg.ID, b.msg.CreatedAt = b.m.Seq, b.m.ID, b.m.CreatedAt
				if l.committed != nil {
					b.msg.Readers = l.committed(b.tenant, b.msg, b.shown)
				}
			}
			if b.held {
				// Shown now: the conversation's next messages may be shown
				// before their commits again.
				l.mu.Lock()
				if l.unshown[b.m.ConversationID]--; l.unshown[b.m.ConversationID] <= 0 {
					delete(l.unshown, b.m.ConversationID)
				}
				l.mu.Unlock()
			}
			if b.err != nil && b.async {
				l.logger.Error("chat: commit", "conversation", b.m.ConversationID, "err", b.err)
			}
			close(b.done)
		}
	}
}

// number numbers the batch's messages whose conversations' seqs are known,
// to be shown before their commit: their readers need not wait for it, only
// the sender's ack does. A message that cannot be numbered (a resend, a
// conversation's first message since the start) is held, shown by its
// commit, and its conversation's next messages wait for that too, to keep
// their order.
func (l *Log) number(batch []*appendReq, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range batch {
		if b.fn != nil {
			continue
		}
		conv := b.m.ConversationID
		if b.held = b.msg.Resend || l.unshown[conv] > 0 || !l.st.Number(&b.m, now); b.held {
			l.unshown[conv]++
		}
		if !b.held {
			b.msg.Seq, b.msg.ID, b.msg.CreatedAt = b.m.Seq, b.m.ID, b.m.CreatedAt
		}
	}
}

// show shows the batch's numbered messages.
func (l *Log) show(batch []*appendReq) {
	for _, b := range batch {
		if b.fn == nil && !b.held {
			b.shown = l.shown(b.tenant, b.msg)
		}
	}
}

// commit writes a batch in one transaction.
func (l *Log) commit(batch []*appendReq) error {
	return l.st.Write(context.Background(), func(tx *store.Tx) error {
		fenced, err := l.fenceOff(tx, batch)
		if err != nil {
			return err
		}
		for i := 0; i < len(batch); {
			if b := batch[i]; b.fn != nil {
				if fenced[b.tenant] {
					b.err = ErrElsewhere
				} else {
					b.err = tx.Try(func() error { return b.fn(tx) })
				}
				i++
				continue
			}
			j := i
			var ms []*store.MessageAppend
			for ; j < len(batch) && batch[j].fn == nil; j++ {
				if fenced[batch[j].tenant] {
					batch[j].m.Err = ErrElsewhere
					continue
				}
				ms = append(ms, &batch[j].m)
			}
			if err := tx.AppendMessages(ms); err != nil {
				return err
			}
			if l.stored != nil {
				for _, b := range batch[i:j] {
					if b.m.Err != nil || b.m.Duplicate {
						continue
					}
					m := b.msg
					m.Seq, m.ID, m.CreatedAt = b.m.Seq, b.m.ID, b.m.CreatedAt
					if err := l.stored(tx, b.tenant, m); err != nil {
						return err
					}
				}
			}
			i = j
		}
		return nil
	})
}

// fenceOff checks the lease of each tenant of the batch (on a node of a
// cluster) and returns those whose writes this node may not make.
func (l *Log) fenceOff(tx *store.Tx, batch []*appendReq) (map[string]bool, error) {
	if l.fence == nil {
		return nil, nil
	}
	fenced := map[string]bool{}
	checked := map[string]bool{"": true} // Flush's marker belongs to no tenant
	for _, b := range batch {
		if checked[b.tenant] {
			continue
		}
		checked[b.tenant] = true
		node, epoch, ok := l.fence(b.tenant)
		if ok {
			err := tx.Fence(b.tenant, node, epoch)
			if err != nil && !errors.Is(err, store.ErrFenced) {
				return nil, err
			}
			ok = err == nil
		}
		if !ok {
			fenced[b.tenant] = true
			l.logger.Warn("chat: writes of a tenant whose lease ended refused", "tenant", b.tenant)
		}
	}
	return fenced, nil
}

// Since returns a conversation's messages after seq, decrypted, in order;
// visitorOnly leaves out those for agents only.
func (l *Log) Since(ctx context.Context, tenant, conversation string, after int64, limit int, visitorOnly bool) ([]Message, error) {
	if limit <= 0 {
		limit = 1000 // a client that names no limit gets a full page
	}
	stored, err := l.st.Messages(ctx, tenant, conversation, after, limit, visitorOnly)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(stored))
	for _, s := range stored {
		m, err := l.open(ctx, tenant, s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// open decrypts a stored message.
func (l *Log) open(ctx context.Context, tenant string, s store.StoredMessage) (Message, error) {
	text, err := l.ring.Open(ctx, tenant, s.Body, ad(s.ConversationID, s.Seq))
	if err != nil {
		return Message{}, fmt.Errorf("chat: message %s/%d: %w", s.ConversationID, s.Seq, err)
	}
	m := Message{ConversationID: s.ConversationID, Seq: s.Seq, ID: s.ID, ClientID: s.ClientID,
		Sender: Sender{Kind: s.SenderKind, ID: s.SenderID}, Kind: s.Kind, Audience: s.Audience, Text: string(text), CreatedAt: s.CreatedAt}
	if s.Kind != KindText {
		var e envelope
		if err := json.Unmarshal(text, &e); err != nil {
			return Message{}, fmt.Errorf("chat: message %s/%d: %w", s.ConversationID, s.Seq, err)
		}
		m.Text, m.Payload = e.Text, e.Payload
	}
	return m, nil
}

// Replay reads back every tenant's messages committed at or after since,
// decrypted, a page at a time (search indexing after an outage or a crash).
func (l *Log) Replay(ctx context.Context, since time.Time, fn func(tenant string, ms []Message) error) error {
	return l.ReplayAfter(ctx, since, "", 0, fn)
}

// ReplayAfter is Replay starting after the message (conv, seq): messages
// come in (conversation, seq) order, so the last one handed to fn is where
// an interrupted replay resumes.
func (l *Log) ReplayAfter(ctx context.Context, since time.Time, conv string, seq int64, fn func(tenant string, ms []Message) error) error {
	const pageSize = 500
	for {
		page, err := l.st.MessagesSince(ctx, since, conv, seq, pageSize)
		if err != nil {
			return err
		}
		for rest := page; len(rest) > 0; {
			n := 1 // one call per run of the same tenant
			for n < len(rest) && rest[n].TenantID == rest[0].TenantID {
				n++
			}
			ms := make([]Message, 0, n)
			for _, s := range rest[:n] {
				m, err := l.open(ctx, s.TenantID, s.StoredMessage)
				if err != nil {
					return err
				}
				ms = append(ms, m)
			}
			if err := fn(rest[0].TenantID, ms); err != nil {
				return err
			}
			rest = rest[n:]
		}
		if len(page) < pageSize {
			return nil
		}
		conv, seq = page[len(page)-1].ConversationID, page[len(page)-1].Seq
	}
}

// Close stops accepting, commits what is queued, and waits.
func (l *Log) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	signal(l.wake)
	<-l.done
}
