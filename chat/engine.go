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
	"sync/atomic"
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
	// ErrElsewhere: another node of the cluster runs the tenant's chats.
	ErrElsewhere = errors.New("chat: the tenant's chats run on another node")
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
	// Subscribed says whether a tenant has a webhook for an event
	// (conversation.created, conversation.assigned, conversation.transferred,
	// conversation.closed, message.created, offer.accepted): only then is the
	// event written, to the outbox, in the transaction of the change it
	// reports. It runs inside the commit and must be quick (nil: no events).
	Subscribed func(ctx context.Context, tenant, event string) bool
	// EventsCommitted is told after a commit that wrote events or ran Closed.
	EventsCommitted func()
	// Closed is called in the commit that closes a conversation, to write
	// what follows from the close (its emails) in the same transaction: both
	// or neither, whatever crashes when. It must be quick; its error undoes
	// only its own writes (the close stands).
	Closed func(tx *store.Tx, c Closed) error
	// Hosts says whether this engine runs a tenant's chats (a node of a
	// cluster runs the tenants it holds the lease of); nil: all of them.
	// A tenant comes with Adopt and goes with Release.
	Hosts func(tenant string) bool
	// Fence, with Hosts, is the lease under which this node writes a
	// tenant's chats, checked in each commit (Log.fence).
	Fence func(tenant string) (node string, epoch int64, ok bool)
}

// Closed is a conversation as it closes.
type Closed struct {
	Conversation store.Conversation
	// VisitorWrote: the visitor sent a message (for a conversation loaded
	// after a restart: any message was written).
	VisitorWrote bool
}

// records is what the engine reads and writes in the store besides its
// message log: an interface so that a test can make the store slow for one
// tenant and show that the others' chats go on.
type records interface {
	User(ctx context.Context, id string) (store.User, error)
	Members(ctx context.Context, tenantID string, p store.Page) ([]store.Member, string, error)
	Queues(ctx context.Context, tenantID string) ([]store.Queue, error)
	AgentConfigs(ctx context.Context, tenantID string) ([]store.AgentConfig, error)
	ChatSettings(ctx context.Context, tenantID string) (json.RawMessage, error)
	AddFile(ctx context.Context, f store.File) error
	File(ctx context.Context, tenantID, id string) (store.File, error)
	Conversation(ctx context.Context, tenantID, id string) (store.Conversation, error)
	ConversationToken(ctx context.Context, id string) (tenantID string, hash []byte, err error)
	Conversations(ctx context.Context, tenantID string, f store.ConversationFilter, p store.Page) ([]store.Conversation, string, error)
	RateConversation(ctx context.Context, tenantID, id string, score int, since time.Time) (bool, error)
	Participants(ctx context.Context, conversationID string) ([]store.Participant, error)
	LastAgent(ctx context.Context, siteID, visitor string) (string, error)
	OpenConversations(ctx context.Context) ([]store.Conversation, error)
	TenantOpenConversations(ctx context.Context, tenantID string) ([]store.Conversation, error)
}

// Engine runs every conversation of every tenant.
type Engine struct {
	st         records
	log        *Log
	slog       *slog.Logger
	now        func() time.Time
	grace      time.Duration
	committed  func(string, Message)
	subscribed func(context.Context, string, string) bool
	// eventsWritten: a commit since the last look wrote outbox events.
	eventsWritten   atomic.Bool
	eventsCommitted func()
	closed          func(tx *store.Tx, c Closed) error
	hosts           func(string) bool
	stop            chan struct{}
	stopped         sync.WaitGroup

	// mu guards the registry of tenants only: each tenant's state is behind
	// the tenant's own lock, so that tenants never wait for each other.
	mu      sync.Mutex
	tenants map[string]*tenant
	// where finds an open conversation's tenant by id (a visitor's token
	// names the conversation only).
	where sync.Map // conversation id → *tenant
	// people are users' names and pictures, shared by their tenants.
	people people
	// strangers are users to look up (see displayName), by one goroutine.
	strangers chan string
}

type agentKey struct{ tenant, user string }

// tenant is one tenant's chat: its configuration, queues, conversations,
// agents and watchers, behind its own lock. Nothing holding the lock reads
// or writes the store: what the store has is read before the lock is taken,
// and changes are queued on the message log, which commits them in order.
type tenant struct {
	mu       sync.Mutex
	id       string
	staged   []func(*store.Tx) error // the writes of the command holding mu (see unlock)
	settings Settings
	redactor *redact.Redactor
	queues   map[string]*queue
	order    []string // queue ids by name
	profiles map[string]AgentProfile
	convs    map[string]*conv  // loaded conversations (open, or closed recently)
	visitors map[string][]Sink // a visitor's connections (tabs), by conversation: usually one
	agents   map[string]*agent // by user
	live     *liveWatch        // the supervisors watching its live state
	// reloading makes one Reload at a time read the store and apply it, so
	// that an older read never replaces a newer one.
	reloading sync.Mutex
	// released: Release dropped this state; a command that found it
	// before looks the tenant up again.
	released bool
}

func newTenant(id string) *tenant {
	return &tenant{id: id, queues: map[string]*queue{}, profiles: map[string]AgentProfile{},
		convs: map[string]*conv{}, visitors: map[string][]Sink{}, agents: map[string]*agent{}}
}

// people are the names, email addresses and pictures of the users the
// engine has met, read before a tenant's lock is taken (its members when the
// tenant loads, an agent when they connect). Its lock is taken last, for a
// moment.
type people struct {
	mu      sync.Mutex
	names   map[string]string // user id → display name ("" when none)
	handles map[string]string // user id → email address, for colleagues when no display name
	avatars map[string]string // user id → picture URL, as their last connection gave it
}

func (p *people) name(user string) (name, handle string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name, ok = p.names[user]
	return name, p.handles[user], ok
}

func (p *people) avatar(user string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.avatars[user]
}

func (p *people) set(user, name, handle string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.names == nil {
		p.names, p.handles, p.avatars = map[string]string{}, map[string]string{}, map[string]string{}
	}
	p.names[user] = name
	if handle != "" {
		p.handles[user] = handle
	}
}

func (p *people) setAvatar(user, url string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.avatars == nil {
		p.names, p.handles, p.avatars = map[string]string{}, map[string]string{}, map[string]string{}
	}
	if url == "" {
		delete(p.avatars, user)
	} else {
		p.avatars[user] = url
	}
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
	wrote   bool // the visitor sent a message
	// highest seqs read by the visitor and by the agents
	readVisitor, readAgent int64
}

// NewEngine loads the open conversations and starts the timer.
func NewEngine(ctx context.Context, o Options) (*Engine, error) {
	e := &Engine{st: o.Store, slog: o.Logger, now: o.Now, grace: o.AgentGrace, committed: o.Committed, subscribed: o.Subscribed, eventsCommitted: o.EventsCommitted, closed: o.Closed, hosts: o.Hosts, stop: make(chan struct{}),
		tenants: map[string]*tenant{}, strangers: make(chan string, 256)}
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
	e.log.fence = o.Fence
	if o.Subscribed != nil {
		e.log.stored, e.log.afterCommit = e.messageEvent, e.afterCommit
		e.log.storesFor = func(tenant string) bool { return o.Subscribed(context.Background(), tenant, "message.created") }
	}
	e.log.logger = e.slog
	open, err := o.Store.OpenConversations(ctx)
	if err != nil {
		e.log.Close()
		return nil, err
	}
	for _, c := range open {
		if e.hosts != nil && !e.hosts(c.TenantID) {
			continue
		}
		if err := e.restore(ctx, c); err != nil {
			e.log.Close()
			return nil, fmt.Errorf("chat: restore conversation %s: %w", c.ID, err)
		}
	}
	e.stopped.Add(1)
	go e.meetStrangers()
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
	parts, err := e.st.Participants(ctx, c.ID)
	if err != nil {
		return err
	}
	t, err := e.lock(ctx, c.TenantID)
	if err != nil {
		return err
	}
	defer e.unlock(t)
	cv := e.newConv(c, t)
	for _, p := range parts {
		if p.LeftAt == nil {
			cv.parts.set(p.UserID, p.Role)
		}
	}
	now := e.now()
	cv.lastIn, cv.lastOut, cv.wrote = now, now, c.LastSeq > 0
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
		ag := e.agent(t, c.AgentID)
		ag.chats[c.ID] = true
		ag.goneAt = now
	}
	e.add(cv)
	return nil
}

// add keeps a conversation in its tenant's memory. Callers hold t.mu.
func (e *Engine) add(cv *conv) {
	cv.t.convs[cv.c.ID] = cv
	e.where.Store(cv.c.ID, cv.t)
}

// drop forgets a closed conversation. Callers hold t.mu.
func (e *Engine) drop(cv *conv) {
	delete(cv.t.convs, cv.c.ID)
	e.where.Delete(cv.c.ID)
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

// tenant returns a tenant's chat, loading its configuration on first use
// (with no engine lock held: another tenant's chats go on meanwhile).
func (e *Engine) tenant(ctx context.Context, id string) (*tenant, error) {
	if e.hosts != nil && !e.hosts(id) {
		return nil, ErrElsewhere
	}
	if t := e.inMemory(id); t != nil {
		return t, nil
	}
	cfg, err := e.readConfig(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no such tenant", ErrNotFound) // as absent as another tenant's conversation
	}
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.tenants[id]; t != nil {
		return t, nil // loaded meanwhile
	}
	t := newTenant(id)
	t.apply(cfg)
	e.tenants[id] = t
	return t, nil
}

// Adopt makes this engine run a tenant's chats, rebuilding them from the
// store as a restart does: its open conversations, their queues and
// agents (who find their chats again when they connect). What it held of
// the tenant before (a lease lost, then taken again) is dropped first.
func (e *Engine) Adopt(ctx context.Context, tenantID string) error {
	e.Release(tenantID)
	open, err := e.st.TenantOpenConversations(ctx, tenantID)
	if err != nil {
		return fmt.Errorf("chat: adopt %s: %w", tenantID, err)
	}
	for _, c := range open {
		if err := e.restore(ctx, c); err != nil {
			return fmt.Errorf("chat: adopt %s: restore conversation %s: %w", tenantID, c.ID, err)
		}
	}
	return nil
}

// Release stops running a tenant's chats here: what its commands queued is
// committed, its state is dropped, and each of its connections is told
// (EventMoved) to connect again, to whichever node runs it next.
func (e *Engine) Release(tenantID string) {
	e.mu.Lock()
	t := e.tenants[tenantID]
	delete(e.tenants, tenantID)
	e.mu.Unlock()
	if t == nil {
		return
	}
	// The lock waits for the command that holds it, whose writes are queued
	// when it lets go; the flush after commits them, before the lease goes.
	t.mu.Lock()
	t.released = true
	sinks := map[Sink]bool{}
	for id, cv := range t.convs {
		e.where.CompareAndDelete(id, cv.t)
	}
	for _, ss := range t.visitors {
		for _, s := range ss {
			sinks[s] = true
		}
	}
	for _, a := range t.agents {
		for s := range a.sinks {
			sinks[s] = true
		}
	}
	if t.live != nil {
		for s := range t.live.sinks {
			sinks[s] = true
		}
	}
	e.unlock(t)
	e.log.Flush()
	for s := range sinks {
		s.Send(Event{Type: EventMoved})
	}
}

// EventMoved tells a connection that its tenant's chats now run elsewhere:
// the transport ends it, asking the client to connect again.
const EventMoved = "moved"

// loaded returns a tenant's chat if it is in memory, else nil.
func (e *Engine) inMemory(id string) *tenant {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tenants[id]
}

// lockLoaded returns a tenant's chat with its lock held if it is in memory,
// else nil: a connection of a tenant not loaded has nothing to act on.
func (e *Engine) lockLoaded(id string) *tenant {
	t := e.inMemory(id)
	if t != nil {
		t.mu.Lock()
		if t.released {
			t.mu.Unlock()
			return nil
		}
	}
	return t
}

// lock returns a tenant's chat with its lock held.
func (e *Engine) lock(ctx context.Context, id string) (*tenant, error) {
	for {
		t, err := e.tenant(ctx, id)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		if !t.released {
			return t, nil
		}
		t.mu.Unlock() // released meanwhile: look again
	}
}

// all returns the tenants in memory.
func (e *Engine) all() []*tenant {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*tenant, 0, len(e.tenants))
	for _, t := range e.tenants {
		out = append(out, t)
	}
	return out
}

// config is a tenant's chat configuration as the store has it.
type config struct {
	settings Settings
	redactor *redact.Redactor
	queues   []store.Queue
	cfgs     []QueueConfig
	profiles map[string]AgentProfile
}

// readConfig reads a tenant's settings, queues and agent profiles, and
// learns its members' names.
func (e *Engine) readConfig(ctx context.Context, id string) (config, error) {
	var cfg config
	doc, err := e.st.ChatSettings(ctx, id)
	if err != nil {
		return cfg, err
	}
	if cfg.settings, err = ParseSettings(doc); err != nil {
		return cfg, err
	}
	if cfg.redactor, err = cfg.settings.redactor(); err != nil {
		return cfg, err
	}
	if cfg.queues, err = e.st.Queues(ctx, id); err != nil {
		return cfg, err
	}
	for _, sq := range cfg.queues {
		var qc QueueConfig
		if err := json.Unmarshal(sq.Config, &qc); err != nil {
			return cfg, fmt.Errorf("queue %s: %w", sq.ID, err)
		}
		if err := qc.Validate(); err != nil {
			return cfg, fmt.Errorf("queue %s: %w", sq.ID, err)
		}
		cfg.cfgs = append(cfg.cfgs, qc)
	}
	ps, err := e.st.AgentConfigs(ctx, id)
	if err != nil {
		return cfg, err
	}
	cfg.profiles = map[string]AgentProfile{}
	for _, ac := range ps {
		var p AgentProfile
		if err := json.Unmarshal(ac.Config, &p); err != nil {
			return cfg, fmt.Errorf("agent %s: %w", ac.UserID, err)
		}
		if err := p.Validate(); err != nil {
			return cfg, fmt.Errorf("agent %s: %w", ac.UserID, err)
		}
		cfg.profiles[ac.UserID] = p
	}
	for page := (store.Page{Limit: 500}); ; {
		ms, next, err := e.st.Members(ctx, id, page)
		if err != nil {
			return cfg, err
		}
		for _, m := range ms {
			e.people.set(m.ID, m.Name, m.Email)
		}
		if next == "" {
			break
		}
		page.After = next
	}
	return cfg, nil
}

// apply makes cfg the tenant's configuration. Callers hold t.mu (or own t).
func (t *tenant) apply(cfg config) {
	queues := map[string]*queue{}
	order := make([]string, 0, len(cfg.queues))
	for i, sq := range cfg.queues {
		q := t.queues[sq.ID]
		if q == nil {
			q = &queue{t: t, id: sq.ID, aht: defaultAHT}
		}
		q.name, q.cfg = sq.Name, cfg.cfgs[i]
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
	t.settings, t.redactor, t.queues, t.order, t.profiles = cfg.settings, cfg.redactor, queues, order, cfg.profiles
	for _, cv := range orphans {
		if q := t.defaultQueue(); q != nil {
			cv.c.QueueID = q.id
			q.waiting = append(q.waiting, cv)
		}
	}
}

// Reload rereads a tenant's settings, queues and agent profiles after they
// changed, and routes again.
func (e *Engine) Reload(ctx context.Context, tenantID string) error {
	t := e.inMemory(tenantID)
	if t == nil {
		return nil
	}
	t.reloading.Lock()
	defer t.reloading.Unlock()
	cfg, err := e.readConfig(ctx, tenantID)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer e.unlock(t)
	if t.released {
		return nil // the next node reads the configuration as it adopts the tenant
	}
	t.apply(cfg)
	e.route(t)
	return nil
}

// redactorOf is the message log's view of a tenant's masking rules.
func (e *Engine) redactorOf(tenantID string) *redact.Redactor {
	t := e.inMemory(tenantID)
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.redactor
}

// agent returns an agent's state, creating it (offline). Callers hold t.mu.
func (e *Engine) agent(t *tenant, user string) *agent {
	ag := t.agents[user]
	if ag == nil {
		ag = &agent{key: agentKey{t.id, user}, presence: Offline, sinks: map[Sink]bool{}, chats: map[string]bool{}, offers: map[string]bool{},
			idleSince: e.now(), since: e.now()}
		t.agents[user] = ag
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
// address (as the chat reports name them).
func (e *Engine) name(_ context.Context, user string) string {
	n, handle, _ := e.people.name(user)
	if n != "" {
		return n
	}
	return handle
}

// publicName is how the visitor is told of an agent: the name they chose,
// or "An agent" (never a part of an email address).
func (e *Engine) publicName(ctx context.Context, user string) string {
	if n := e.displayName(ctx, user); n != "" {
		return n
	}
	return "An agent"
}

// displayName is the name a user chose, "" when none: what visitors see
// (never a part of the email address). A user the engine has not met yet
// (a member added since their tenant loaded, who has not connected) is read
// in the background, with no lock held, and named from then on.
func (e *Engine) displayName(_ context.Context, user string) string {
	n, _, ok := e.people.name(user)
	if !ok && user != "" {
		select {
		case e.strangers <- user:
		default: // asked often enough: the next miss asks again
		}
	}
	return n
}

// meetStrangers learns the names and email addresses of the users
// displayName did not know, until the engine closes.
func (e *Engine) meetStrangers() {
	defer e.stopped.Done()
	for {
		select {
		case <-e.stop:
			return
		case user := <-e.strangers:
			if _, _, ok := e.people.name(user); ok {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if u, err := e.st.User(ctx, user); err == nil {
				e.people.set(user, u.Name, u.Email)
			} else if errors.Is(err, store.ErrNotFound) {
				e.people.set(user, "", "") // a bot's token, or a user since removed
			}
			cancel()
		}
	}
}

// save queues a conversation's state for the next group commit, in order
// with its messages. Callers hold t.mu, so nothing here waits for the disk:
// memory is authoritative, and after a crash the last committed state is
// rebuilt (an acknowledged message always commits after the state it
// followed).
func (e *Engine) save(_ context.Context, cv *conv) {
	cv.c.UpdatedAt = e.now()
	c := cv.c
	c.Tags = append([]string(nil), c.Tags...)
	e.do(cv.t, func(tx *store.Tx) error { return tx.SaveConversation(c) })
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
	e.do(cv.t, func(tx *store.Tx) error { return tx.SetParticipant(p) })
}

// notice is a system message to append once the tenant's lock is released.
type notice struct {
	tenant, conv string
	audience     string
	event        string
	text         string
	data         map[string]any
}

// post appends notices (outside the tenant's lock: the commit hook takes it).
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
	t := e.inMemory(tenantID)
	if t == nil {
		return nil
	}
	to := make([]Sink, 0, 4)
	m.Sender.Name, m.Sender.Avatar = e.senderName(m.Sender), e.senderAvatar(m.Sender)
	t.mu.Lock()
	e.deliver(t, m, nil, &to)
	t.mu.Unlock()
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
// With to set, it adds whom it reached. Callers hold t.mu.
func (e *Engine) deliver(t *tenant, m Message, skip []Sink, to *[]Sink) {
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
		for _, s := range t.visitors[m.ConversationID] {
			send(s)
		}
	}
	cv := t.convs[m.ConversationID]
	if cv == nil {
		return
	}
	for _, p := range cv.parts {
		if ag := cv.t.agents[p.user]; ag != nil {
			for s := range ag.sinks {
				send(s)
			}
		}
	}
	// The agent a chat is offered to sees what the visitor writes while
	// they decide (they may read its history anyway).
	if o := cv.offer; o != nil && m.Sender.Kind == "visitor" && cv.parts.role(o.to) == "" {
		if ag := cv.t.agents[o.to]; ag != nil {
			for s := range ag.sinks {
				send(s)
			}
		}
	}
}

// fanOut takes a committed message: it reaches its readers (but those it
// was shown to while committed: a reader who came meanwhile gets it now),
// then the conversation's clocks, the webhooks and the server's hook.
func (e *Engine) fanOut(tenantID string, m Message, shownTo []Sink) []Sink {
	m.Sender.Name, m.Sender.Avatar = e.senderName(m.Sender), e.senderAvatar(m.Sender)
	t := e.inMemory(tenantID)
	if t == nil {
		m.Origin = nil
		if e.committed != nil {
			e.committed(tenantID, m)
		}
		return shownTo
	}
	readers := slices.Clip(shownTo)
	t.mu.Lock()
	e.deliver(t, m, shownTo, &readers)
	m.Origin = nil
	if cv := t.convs[m.ConversationID]; cv != nil {
		now := e.now()
		cv.c.LastSeq = max(cv.c.LastSeq, m.Seq)
		switch m.Sender.Kind {
		case "visitor":
			cv.lastIn, cv.warned, cv.quiet, cv.wrote = now, false, false, true
		case "agent", "bot":
			if m.Audience == AudienceAll {
				cv.lastOut, cv.quiet = now, true
				if cv.first.IsZero() && cv.c.Status == StatusAssigned {
					cv.first = now
				}
			}
		}
	}
	t.mu.Unlock()
	if e.committed != nil {
		e.committed(tenantID, m)
	}
	return readers
}

// do stages a write of the command that holds t.mu (see unlock). Callers
// hold t.mu.
func (e *Engine) do(t *tenant, fn func(*store.Tx) error) {
	t.staged = append(t.staged, fn)
}

// unlock releases a tenant's lock, first handing what the command staged to
// the log as one change: a command's writes, and the webhook events that
// report them, commit together or not at all, in the order of the commands.
func (e *Engine) unlock(t *tenant) {
	if fns := t.staged; len(fns) > 0 {
		t.staged = nil
		e.log.Do(t.id, func(tx *store.Tx) error {
			for _, fn := range fns {
				if err := fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
	}
	t.mu.Unlock()
}

// event tells the webhooks about a conversation: the event is written to the
// outbox with the command's other writes. Callers hold t.mu.
func (e *Engine) event(cv *conv, typ string, extra map[string]any) {
	if e.subscribed == nil {
		return
	}
	c := cv.c
	data := map[string]any{"conversation": map[string]any{"id": c.ID, "site_id": c.SiteID, "visitor": c.Visitor, "status": c.Status,
		"queue_id": c.QueueID, "agent_id": c.AgentID, "close_reason": c.CloseReason, "disposition": c.Disposition, "tags": c.Tags,
		"metadata": c.Metadata, "created_at": c.CreatedAt, "closed_at": c.ClosedAt}}
	for k, v := range extra {
		data[k] = v
	}
	at := time.Now().UTC()
	e.do(cv.t, func(tx *store.Tx) error { return e.writeEvent(tx, c.TenantID, c.ID, typ, data, at) })
}

// messageEvent writes message.created in the commit that stores the message.
func (e *Engine) messageEvent(tx *store.Tx, tenant string, m Message) error {
	if e.subscribed == nil {
		return nil
	}
	m.Sender.Name, m.Sender.Avatar = e.senderName(m.Sender), e.senderAvatar(m.Sender)
	m.Origin, m.Readers = nil, nil
	return e.writeEvent(tx, tenant, m.ConversationID, "message.created", m, time.Now().UTC())
}

// writeEvent adds an event to the outbox, sealed with the tenant's key, if a
// webhook of the tenant takes it.
func (e *Engine) writeEvent(tx *store.Tx, tenant, conversation, typ string, data any, at time.Time) error {
	ctx := tx.Context()
	if !e.subscribed(ctx, tenant, typ) {
		return nil
	}
	payload, err := json.Marshal(map[string]any{"type": typ, "timestamp": at, "data": data})
	if err != nil {
		return fmt.Errorf("chat: encode %s: %w", typ, err)
	}
	id := store.NewID()
	sealed, err := e.log.ring.Seal(ctx, tenant, payload, store.EventAD(id))
	if err != nil {
		return err
	}
	e.eventsWritten.Store(true)
	return tx.AddEvent(store.Event{ID: id, TenantID: tenant, Type: typ, ConversationID: conversation,
		Payload: base64.StdEncoding.EncodeToString(sealed), CreatedAt: at})
}

// afterCommit wakes the webhooks when the commit wrote events.
func (e *Engine) afterCommit() {
	if e.eventsWritten.Swap(false) && e.eventsCommitted != nil {
		e.eventsCommitted()
	}
}

// senderAvatar is an agent's picture URL.
func (e *Engine) senderAvatar(s Sender) string {
	if s.Kind == "agent" {
		return e.people.avatar(s.ID)
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
// participants. Callers hold t.mu.
func (e *Engine) toAgents(cv *conv, ev Event) {
	for _, p := range cv.parts {
		if ag := cv.t.agents[p.user]; ag != nil {
			ag.send(ev)
		}
	}
}

func (e *Engine) toVisitor(cv *conv, ev Event) {
	for _, s := range cv.t.visitors[cv.c.ID] {
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
	if t, ok := e.where.Load(id); ok {
		t := t.(*tenant)
		t.mu.Lock()
		if cv := t.convs[id]; cv != nil && cv.token != nil {
			v := Visitor{Tenant: cv.c.TenantID, Site: cv.c.SiteID, ID: cv.c.Visitor, Conversation: id}
			ok := subtle.ConstantTimeCompare(cv.token, h[:]) == 1
			e.unlock(t)
			if !ok {
				return Visitor{}, ErrToken
			}
			return v, nil
		}
		e.unlock(t)
	}
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
