package chat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/redact"
	"github.com/nudgehq/nudge/store"
)

// Errors of the engine's commands. A transport maps them to error frames.
var (
	ErrNotFound  = errors.New("chat: no such conversation")
	ErrForbidden = errors.New("chat: not allowed")
	ErrState     = errors.New("chat: not possible in the conversation's state")
	ErrToken     = errors.New("chat: invalid visitor token")
)

// sentences are what a person is told for each kind of refusal when the
// error says nothing more.
var sentences = map[error]string{
	ErrNotFound:  "That chat does not exist, or it is not yours to see.",
	ErrForbidden: "Your role may not do this in this chat.",
	ErrState:     "That is not possible in the chat's current state.",
	ErrToken:     "The chat could not be resumed: its token is not valid.",
	ErrInvalid:   "That is not valid.",
}

// Explain is an engine error as a sentence for the person who caused it:
// the reason given with the error, without the package's words, or the
// refusal's kind in plain words.
func Explain(err error) string {
	for sentinel, sentence := range sentences {
		if !errors.Is(err, sentinel) {
			continue
		}
		_, detail, ok := strings.Cut(err.Error(), sentinel.Error()+": ")
		if !ok || detail == "" {
			return sentence
		}
		detail = strings.ToUpper(detail[:1]) + detail[1:]
		if !strings.HasSuffix(detail, ".") && !strings.HasSuffix(detail, "?") {
			detail += "."
		}
		return detail
	}
	return err.Error()
}

var ()

// Conversation states.
const (
	StatusBot      = "bot"      // answering the pre-chat question
	StatusQueued   = "queued"   // waiting for an agent (possibly offered to one)
	StatusAssigned = "assigned" // an agent has it
	StatusHold     = "hold"     // asynchronous: the visitor's next message reopens it
	StatusOffline  = "offline"  // nobody could answer; the visitor may leave a message
	StatusClosed   = "closed"
)

// Presence of an agent.
const (
	Available = "available"
	Away      = "away"
	Offline   = "offline"
)

// Participant roles.
const (
	RoleOwner      = "owner"      // the agent the chat is assigned to
	RoleConference = "conference" // a second agent the visitor sees
	RoleConsult    = "consult"    // an agent the visitor does not see
	RoleMonitor    = "monitor"    // a supervisor listening in
)

// Sink receives a connection's events. Send must not block: a transport
// queues the event or, when its queue is full, drops the connection (the
// client resumes from its last seq).
type Sink interface {
	Send(Event)
}

// Event is what the engine tells a connection.
type Event struct {
	Type         string `json:"type"`
	Conversation string `json:"conversation,omitempty"`
	Data         any    `json:"data,omitempty"`
}

// Agent is who issues an agent command: a member of a tenant allowed to work
// chats (Supervise: also to monitor, whisper and barge into any of them).
type Agent struct {
	Tenant    string
	User      string
	Name      string
	Avatar    string // the picture's URL, "" for none
	Bot       bool
	Supervise bool
}

// Visitor is a visitor bound to one conversation by its chat token.
type Visitor struct {
	Tenant       string
	Site         string
	ID           string
	Conversation string
}

// Options configure an engine.
type Options struct {
	Store  *store.Store
	Ring   *keys.Ring
	Logger *slog.Logger
	// Now is the clock (tests move it); nil is time.Now.
	Now func() time.Time
	// Tick is how often timeouts are checked; 0 is every second, <0 never
	// (tests call Tick themselves).
	Tick time.Duration
	// AgentGrace is how long an agent may be disconnected before their
	// chats go back to the queue (0: a minute).
	AgentGrace time.Duration
	// Committed hears each stored message after fan-out (search indexing).
	// It must not block.
	Committed func(tenant string, m Message)
	// Notify hears the lifecycle events webhooks send (conversation.created,
	// conversation.assigned, conversation.transferred, conversation.closed,
	// message.created, offer.accepted). It is called with the engine's lock
	// held and must not block.
	Notify func(tenant, event string, data any)
}

// Engine runs every conversation of every tenant.
type Engine struct {
	st        *store.Store
	log       *Log
	slog      *slog.Logger
	now       func() time.Time
	grace     time.Duration
	committed func(string, Message)
	notify    func(string, string, any)
	stop      chan struct{}
	stopped   sync.WaitGroup

	mu       sync.Mutex
	tenants  map[string]*tenant
	convs    map[string]*conv  // loaded conversations (open, or closed recently)
	visitors map[string][]Sink // a visitor's connections (tabs), by conversation: usually one
	agents   map[agentKey]*agent
	names    map[string]string     // user id → display name ("" when none)
	handles  map[string]string     // user id → email address, for colleagues when no display name
	avatars  map[string]string     // user id → picture URL, as their last connection gave it
	live     map[string]*liveWatch // tenant → the supervisors watching its live state
}

type agentKey struct{ tenant, user string }

type tenant struct {
	id       string
	settings Settings
	redactor *redact.Redactor
	queues   map[string]*queue
	order    []string // queue ids by name
	profiles map[string]AgentProfile
}

type agent struct {
	key       agentKey
	name      string
	bot       bool
	presence  string
	sinks     map[Sink]bool
	chats     map[string]bool // conversations it owns (assigned, not on hold)
	offers    map[string]bool
	idleSince time.Time // since when it has had nothing new to do
	goneAt    time.Time // when its last connection closed
	since     time.Time // when its presence last changed
	// working are the queues the agent chose to work now, among those their
	// profile allows (none chosen: all of those).
	working map[string]bool
}

type offer struct {
	kind    string // assign, transfer, conference, consult
	to      string
	from    string // the agent who transfers or invites
	note    string
	expires time.Time
}

type conv struct {
	c     store.Conversation
	token []byte // SHA-256 of the visitor's chat token
	t     *tenant
	parts parts // active participants
	offer *offer
	// tried are the agents who let this wait's offer go (declined, missed,
	// or went away with it), each until when they are passed over: one offer
	// timeout, so that a chat never waits for ever on the only agent who can
	// take it.
	tried   map[string]time.Time
	prefer  string    // an agent to try first (affinity, reopen)
	held    bool      // back from hold: the visitor wrote again
	entered time.Time // when it entered its current queue
	hops    int       // overflows so far
	pos     int       // last position told to the visitor
	told    int       // and the estimated wait told with it
	first   time.Time // first agent message since assignment
	lastIn  time.Time // last visitor message
	lastOut time.Time // last agent message
	warned  bool
	quiet   bool // the agents spoke last: the visitor owes the answer
	// highest seqs read by the visitor and by the agents
	readVisitor, readAgent int64
}

// NewEngine loads the open conversations and starts the timer.
func NewEngine(ctx context.Context, o Options) (*Engine, error) {
	e := &Engine{st: o.Store, slog: o.Logger, now: o.Now, grace: o.AgentGrace, committed: o.Committed, notify: o.Notify, stop: make(chan struct{}),
		tenants: map[string]*tenant{}, convs: map[string]*conv{}, visitors: map[string][]Sink{},
		agents: map[agentKey]*agent{}, names: map[string]string{}, handles: map[string]string{}, avatars: map[string]string{}, live: map[string]*liveWatch{}}
	if e.now == nil {
		e.now = time.Now
	}
	if e.slog == nil {
		e.slog = slog.Default()
	}
	if e.grace == 0 {
		e.grace = time.Minute
	}
	e.log = NewLog(o.Store, o.Ring, e.redactorOf)
	e.log.shown, e.log.committed, e.log.retracted = e.show, e.fanOut, e.retract
	e.log.logger = e.slog
	open, err := o.Store.OpenConversations(ctx)
	if err != nil {
		e.log.Close()
		return nil, err
	}
	e.mu.Lock()
	for _, c := range open {
		if err := e.restore(ctx, c); err != nil {
			e.mu.Unlock()
			e.log.Close()
			return nil, fmt.Errorf("chat: restore conversation %s: %w", c.ID, err)
		}
	}
	e.mu.Unlock()
	if o.Tick >= 0 {
		every := o.Tick
		if every == 0 {
			every = time.Second
		}
		e.stopped.Add(1)
		go e.ticker(every)
	}
	return e, nil
}

// restore puts a stored open conversation back in memory as it was; agents
// find their chats again when they reconnect.
func (e *Engine) restore(ctx context.Context, c store.Conversation) error {
	t, err := e.tenant(ctx, c.TenantID)
	if err != nil {
		return err
	}
	cv := e.newConv(c, t)
	parts, err := e.st.Participants(ctx, c.ID)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if p.LeftAt == nil {
			cv.parts.set(p.UserID, p.Role)
		}
	}
	now := e.now()
	cv.lastIn, cv.lastOut = now, now
	switch c.Status {
	case StatusQueued:
		if q := t.queues[c.QueueID]; q != nil {
			cv.entered = now
			if c.QueuedAt != nil {
				cv.entered = *c.QueuedAt
			}
			q.waiting = append(q.waiting, cv)
		}
	case StatusAssigned:
		ag := e.agent(c.TenantID, c.AgentID)
		ag.chats[c.ID] = true
		ag.goneAt = now
	}
	e.convs[c.ID] = cv
	return nil
}

func (e *Engine) newConv(c store.Conversation, t *tenant) *conv {
	return &conv{c: c, t: t}
}

// part is an agent in a conversation, in a role.
type part struct{ user, role string }

// parts are a conversation's active participants: one or two, so a slice
// (a map cost 300 bytes per conversation).
type parts []part

func (ps parts) role(user string) string {
	for _, p := range ps {
		if p.user == user {
			return p.role
		}
	}
	return ""
}

func (ps *parts) set(user, role string) {
	for i := range *ps {
		if (*ps)[i].user == user {
			(*ps)[i].role = role
			return
		}
	}
	*ps = append(*ps, part{user, role})
}

func (ps *parts) remove(user string) {
	*ps = slices.DeleteFunc(*ps, func(p part) bool { return p.user == user })
}

// try notes an agent who let this wait's offer go: others are offered the
// chat first, and they again after one offer timeout (or as soon as they
// choose to be available again).
func (e *Engine) try(cv *conv, user string) {
	if cv.tried == nil {
		cv.tried = map[string]time.Time{}
	}
	timeout := defaultOfferTimeout
	if q := cv.t.queues[cv.c.QueueID]; q != nil {
		timeout = q.cfg.OfferTimeout
	}
	cv.tried[user] = e.now().Add(time.Duration(timeout) * time.Second)
}

// passedOver reports whether a chat skips an agent now (they let its offer go
// less than an offer timeout ago).
func (cv *conv) passedOver(user string, now time.Time) bool {
	until, ok := cv.tried[user]
	return ok && now.Before(until)
}

// forgive lets the agents whose pass on a chat has run out be offered it
// again; it reports whether any was.
func (cv *conv) forgive(now time.Time) bool {
	n := len(cv.tried)
	maps.DeleteFunc(cv.tried, func(_ string, until time.Time) bool { return !now.Before(until) })
	return len(cv.tried) < n
}

// Close stops the timer and the message log (committing what is queued).
func (e *Engine) Close() {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	e.stopped.Wait()
	e.log.Close()
}

// Flush waits until every change and message queued so far is committed.
func (e *Engine) Flush() { e.log.Flush() }

// Log is the engine's message log.
func (e *Engine) Log() *Log { return e.log }

func (e *Engine) ticker(every time.Duration) {
	defer e.stopped.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.Tick(context.Background())
			e.pushLive()
		}
	}
}

// tenant returns a tenant's chat configuration, loading it on first use.
// Callers hold e.mu.
func (e *Engine) tenant(ctx context.Context, id string) (*tenant, error) {
	if t := e.tenants[id]; t != nil {
		return t, nil
	}
	t := &tenant{id: id, queues: map[string]*queue{}, profiles: map[string]AgentProfile{}}
	if err := e.loadTenant(ctx, t); err != nil {
		return nil, err
	}
	e.tenants[id] = t
	return t, nil
}

func (e *Engine) loadTenant(ctx context.Context, t *tenant) error {
	doc, err := e.st.ChatSettings(ctx, t.id)
	if err != nil {
		return err
	}
	s, err := ParseSettings(doc)
	if err != nil {
		return err
	}
	r, err := s.redactor()
	if err != nil {
		return err
	}
	qs, err := e.st.Queues(ctx, t.id)
	if err != nil {
		return err
	}
	queues := map[string]*queue{}
	order := make([]string, 0, len(qs))
	for _, sq := range qs {
		var cfg QueueConfig
		if err := json.Unmarshal(sq.Config, &cfg); err != nil {
			return fmt.Errorf("queue %s: %w", sq.ID, err)
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("queue %s: %w", sq.ID, err)
		}
		q := t.queues[sq.ID]
		if q == nil {
			q = &queue{t: t, id: sq.ID, aht: defaultAHT}
		}
		q.name, q.cfg = sq.Name, cfg
		queues[sq.ID] = q
		order = append(order, sq.ID)
	}
	// A deleted queue's waiting chats move to the default queue.
	var orphans []*conv
	for id, q := range t.queues {
		if queues[id] == nil {
			orphans = append(orphans, q.waiting...)
		}
	}
	ps, err := e.st.AgentConfigs(ctx, t.id)
	if err != nil {
		return err
	}
	profiles := map[string]AgentProfile{}
	for _, ac := range ps {
		var p AgentProfile
		if err := json.Unmarshal(ac.Config, &p); err != nil {
			return fmt.Errorf("agent %s: %w", ac.UserID, err)
		}
		if err := p.Validate(); err != nil {
			return fmt.Errorf("agent %s: %w", ac.UserID, err)
		}
		profiles[ac.UserID] = p
	}
	t.settings, t.redactor, t.queues, t.order, t.profiles = s, r, queues, order, profiles
	for _, cv := range orphans {
		if q := t.defaultQueue(); q != nil {
			cv.c.QueueID = q.id
			q.waiting = append(q.waiting, cv)
		}
	}
	return nil
}

// Reload rereads a tenant's settings, queues and agent profiles after they
// changed, and routes again.
func (e *Engine) Reload(ctx context.Context, tenantID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tenants[tenantID]
	if t == nil {
		return nil
	}
	if err := e.loadTenant(ctx, t); err != nil {
		return err
	}
	e.route(t)
	return nil
}

// redactorOf is the message log's view of a tenant's masking rules.
func (e *Engine) redactorOf(tenantID string) *redact.Redactor {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.tenants[tenantID]; t != nil {
		return t.redactor
	}
	return nil
}

// agent returns an agent's state, creating it (offline). Callers hold e.mu.
func (e *Engine) agent(tenantID, user string) *agent {
	k := agentKey{tenantID, user}
	ag := e.agents[k]
	if ag == nil {
		ag = &agent{key: k, presence: Offline, sinks: map[Sink]bool{}, chats: map[string]bool{}, offers: map[string]bool{},
			idleSince: e.now(), since: e.now()}
		e.agents[k] = ag
	}
	return ag
}

func (t *tenant) profile(user string) AgentProfile {
	if p, ok := t.profiles[user]; ok {
		return p
	}
	return AgentProfile{Capacity: DefaultCapacity}
}

// capacity is how many chats an agent carries: their profile's, else the
// default, which for bots (API tokens: no profile, and no fatigue) is large.
func (t *tenant) capacity(ag *agent) int {
	if p, ok := t.profiles[ag.key.user]; ok {
		return p.Capacity
	}
	if ag.bot {
		return BotCapacity
	}
	return DefaultCapacity
}

func (t *tenant) defaultQueue() *queue {
	if q := t.queues[t.settings.DefaultQueue]; q != nil {
		return q
	}
	if len(t.order) > 0 {
		return t.queues[t.order[0]]
	}
	return nil
}

// name is what colleagues call a user: their display name, or their email
// address (as the chat reports name them). Callers hold e.mu.
func (e *Engine) name(ctx context.Context, user string) string {
	if n := e.displayName(ctx, user); n != "" {
		return n
	}
	return e.handles[user]
}

// publicName is how the visitor is told of an agent: the name they chose,
// or "An agent" (never a part of an email address). Callers hold e.mu.
func (e *Engine) publicName(ctx context.Context, user string) string {
	if n := e.displayName(ctx, user); n != "" {
		return n
	}
	return "An agent"
}

// displayName is the name a user chose, "" when none: what visitors see
// (never a part of the email address). Callers hold e.mu.
func (e *Engine) displayName(ctx context.Context, user string) string {
	if n, ok := e.names[user]; ok {
		return n
	}
	u, err := e.st.User(ctx, user)
	if err != nil {
		return ""
	}
	e.names[user] = u.Name
	e.handles[user] = u.Email
	return u.Name
}

// save queues a conversation's state for the next group commit, in order
// with its messages. Callers hold e.mu, so nothing here waits for the disk:
// memory is authoritative, and after a crash the last committed state is
// rebuilt (an acknowledged message always commits after the state it
// followed).
func (e *Engine) save(_ context.Context, cv *conv) {
	cv.c.UpdatedAt = e.now()
	c := cv.c
	c.Tags = append([]string(nil), c.Tags...)
	e.log.Do(func(tx *store.Tx) error { return tx.SaveConversation(c) })
}

func (e *Engine) setParticipant(_ context.Context, cv *conv, user, role string, left bool) {
	now := e.now()
	p := store.Participant{ConversationID: cv.c.ID, UserID: user, Role: role, JoinedAt: now}
	if left {
		cv.parts.remove(user)
		p.LeftAt = &now
	} else {
		cv.parts.set(user, role)
	}
	e.log.Do(func(tx *store.Tx) error { return tx.SetParticipant(p) })
}

// notice is a system message to append once e.mu is released.
type notice struct {
	tenant, conv string
	audience     string
	event        string
	text         string
	data         map[string]any
}

// post appends notices (outside e.mu: the commit hook takes it).
func (e *Engine) post(ctx context.Context, ns []notice) {
	for _, n := range ns {
		payload := map[string]any{"event": n.event}
		for k, v := range n.data {
			payload[k] = v
		}
		p, _ := json.Marshal(payload)
		if err := e.log.Post(ctx, n.tenant, Message{ConversationID: n.conv, Sender: Sender{Kind: "system", ID: "nudge"},
			Kind: KindSystem, Audience: n.audience, Text: n.text, Payload: p}); err != nil {
			e.slog.Error("system message", "conversation", n.conv, "event", n.event, "err", err)
		}
	}
}

// show sends a message whose commit is running to everyone in its
// conversation but its sending connection (which gets the ack), and returns
// whom it reached.
func (e *Engine) show(tenantID string, m Message) []Sink {
	to := make([]Sink, 0, 4)
	e.mu.Lock()
	m.Sender.Name, m.Sender.Avatar = e.senderName(m.Sender), e.senderAvatar(m.Sender)
	e.deliver(tenantID, m, nil, &to)
	e.mu.Unlock()
	return to
}

// Retracted is the event that takes back a message shown before its commit
// refused it (or stored it under another seq, which a message event brings).
type Retracted struct {
	Seq int64  `json:"seq"`
	ID  string `json:"id"`
}

// retract takes a shown message back from those it was shown to.
func (e *Engine) retract(tenantID string, m Message, to []Sink) {
	ev := Event{Type: "retracted", Conversation: m.ConversationID, Data: Retracted{Seq: m.Seq, ID: m.ID}}
	for _, s := range to {
		s.Send(ev)
	}
}

// deliver sends m to its readers: the visitor's connections unless m is for
// agents, the participants' and, for a visitor's message, the agent the chat
// is offered to; never m's origin nor those in skip (it was shown to them).
// With to set, it adds whom it reached. Callers hold e.mu.
func (e *Engine) deliver(tenantID string, m Message, skip []Sink, to *[]Sink) {
	origin := m.Origin
	m.Origin = nil
	ev := Event{Type: "message", Conversation: m.ConversationID, Data: m}
	send := func(s Sink) {
		if s == origin || slices.Contains(skip, s) {
			return
		}
		s.Send(ev)
		if to != nil {
			*to = append(*to, s)
		}
	}
	if m.Audience == AudienceAll {
		for _, s := range e.visitors[m.ConversationID] {
			send(s)
		}
	}
	cv := e.convs[m.ConversationID]
	if cv == nil || cv.c.TenantID != tenantID {
		return
	}
	for _, p := range cv.parts {
		if ag := e.agents[agentKey{cv.c.TenantID, p.user}]; ag != nil {
			for s := range ag.sinks {
				send(s)
			}
		}
	}
	// The agent a chat is offered to sees what the visitor writes while
	// they decide (they may read its history anyway).
	if o := cv.offer; o != nil && m.Sender.Kind == "visitor" && cv.parts.role(o.to) == "" {
		if ag := e.agents[agentKey{cv.c.TenantID, o.to}]; ag != nil {
			for s := range ag.sinks {
				send(s)
			}
		}
	}
}

// fanOut takes a committed message: it reaches its readers (but those it
// was shown to while committed: a reader who came meanwhile gets it now),
// then the conversation's clocks, the webhooks and the server's hook.
func (e *Engine) fanOut(tenantID string, m Message, shownTo []Sink) {
	e.mu.Lock()
	m.Sender.Name, m.Sender.Avatar = e.senderName(m.Sender), e.senderAvatar(m.Sender)
	e.deliver(tenantID, m, shownTo, nil)
	m.Origin = nil
	if cv := e.convs[m.ConversationID]; cv != nil && cv.c.TenantID == tenantID {
		now := e.now()
		cv.c.LastSeq = max(cv.c.LastSeq, m.Seq)
		switch m.Sender.Kind {
		case "visitor":
			cv.lastIn, cv.warned, cv.quiet = now, false, false
		case "agent", "bot":
			if m.Audience == AudienceAll {
				cv.lastOut, cv.quiet = now, true
				if cv.first.IsZero() && cv.c.Status == StatusAssigned {
					cv.first = now
				}
			}
		}
	}
	if e.notify != nil {
		e.notify(tenantID, "message.created", m)
	}
	e.mu.Unlock()
	if e.committed != nil {
		e.committed(tenantID, m)
	}
}

// event tells the webhooks about a conversation. Callers hold e.mu.
func (e *Engine) event(cv *conv, typ string, extra map[string]any) {
	if e.notify == nil {
		return
	}
	c := cv.c
	data := map[string]any{"conversation": map[string]any{"id": c.ID, "site_id": c.SiteID, "visitor": c.Visitor, "status": c.Status,
		"queue_id": c.QueueID, "agent_id": c.AgentID, "close_reason": c.CloseReason, "disposition": c.Disposition, "tags": c.Tags,
		"metadata": c.Metadata, "created_at": c.CreatedAt, "closed_at": c.ClosedAt}}
	for k, v := range extra {
		data[k] = v
	}
	e.notify(c.TenantID, typ, data)
}

// senderAvatar is an agent's picture URL. Callers hold e.mu.
func (e *Engine) senderAvatar(s Sender) string {
	if s.Kind == "agent" {
		return e.avatars[s.ID]
	}
	return ""
}

func (e *Engine) senderName(s Sender) string {
	if s.Kind == "agent" || s.Kind == "bot" {
		return e.displayName(context.Background(), s.ID)
	}
	return ""
}

// toAgents sends an event to every connection of the conversation's
// participants. Callers hold e.mu.
func (e *Engine) toAgents(cv *conv, ev Event) {
	for _, p := range cv.parts {
		if ag := e.agents[agentKey{cv.c.TenantID, p.user}]; ag != nil {
			ag.send(ev)
		}
	}
}

func (e *Engine) toVisitor(cv *conv, ev Event) {
	for _, s := range e.visitors[cv.c.ID] {
		s.Send(ev)
	}
}

func (ag *agent) send(ev Event) {
	for s := range ag.sinks {
		s.Send(ev)
	}
}

// newToken makes a visitor chat token: the conversation id and a secret,
// of which only the hash is stored.
func newToken(conv string) (token string, hash []byte) {
	b := make([]byte, 24)
	rand.Read(b)
	secret := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(secret))
	return conv + "." + secret, h[:]
}

// VisitorByToken checks a visitor's chat token and returns who it binds.
func (e *Engine) VisitorByToken(ctx context.Context, token string) (Visitor, error) {
	id, secret, ok := strings.Cut(token, ".")
	if !ok || len(token) > 200 || id == "" || secret == "" {
		return Visitor{}, ErrToken
	}
	h := sha256.Sum256([]byte(secret))
	// A conversation started since the server did is in memory (perhaps not
	// yet committed); older ones are checked against the store.
	e.mu.Lock()
	if cv := e.convs[id]; cv != nil && cv.token != nil {
		v := Visitor{Tenant: cv.c.TenantID, Site: cv.c.SiteID, ID: cv.c.Visitor, Conversation: id}
		ok := subtle.ConstantTimeCompare(cv.token, h[:]) == 1
		e.mu.Unlock()
		if !ok {
			return Visitor{}, ErrToken
		}
		return v, nil
	}
	e.mu.Unlock()
	tenantID, hash, err := e.st.ConversationToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Visitor{}, ErrToken
	}
	if err != nil {
		return Visitor{}, err
	}
	if len(hash) != len(h) || subtle.ConstantTimeCompare(hash, h[:]) != 1 {
		return Visitor{}, ErrToken
	}
	c, err := e.st.Conversation(ctx, tenantID, id)
	if err != nil {
		return Visitor{}, err
	}
	return Visitor{Tenant: tenantID, Site: c.SiteID, ID: c.Visitor, Conversation: id}, nil
}
