package chat

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/store/storetest"
)

// rec is a connection that records what it is sent.
type rec struct {
	e   *Engine // flushed before reading: notices arrive when committed
	mu  sync.Mutex
	evs []Event
}

func (r *rec) Send(ev Event) { r.mu.Lock(); r.evs = append(r.evs, ev); r.mu.Unlock() }

func (r *rec) of(typ string) []Event {
	if r.e != nil {
		r.e.Flush()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, ev := range r.evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

func (r *rec) has(typ, conv string) bool {
	for _, ev := range r.of(typ) {
		if ev.Conversation == conv {
			return true
		}
	}
	return false
}

// texts are the texts of the messages the connection received.
func (r *rec) texts() []string {
	var out []string
	for _, ev := range r.of("message") {
		out = append(out, ev.Data.(Message).Text)
	}
	return out
}

func (r *rec) reset() { r.mu.Lock(); r.evs = nil; r.mu.Unlock() }

type eng struct {
	t      *testing.T
	ctx    context.Context
	e      *Engine
	st     *store.Store
	ring   *keys.Ring
	path   string
	tenant store.Tenant
	site   store.Site

	mu  sync.Mutex
	now time.Time
}

func newEng(t *testing.T, settings *Settings) *eng {
	t.Helper()
	ctx := context.Background()
	x := &eng{t: t, ctx: ctx, path: storetest.Path(t, t.TempDir()), now: time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)}
	st, err := store.Open(ctx, x.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	master := make([]byte, keys.MasterSize)
	rand.Read(master)
	if x.ring, err = keys.NewRing(ctx, master, st); err != nil {
		t.Fatal(err)
	}
	x.st = st
	x.tenant, _ = st.CreateTenant(ctx, store.System, "Shop")
	if x.site, err = st.CreateSite(ctx, store.System, store.Site{TenantID: x.tenant.ID, Name: "shop", Theme: store.DefaultSiteTheme}); err != nil {
		t.Fatal(err)
	}
	if settings != nil {
		doc, _ := json.Marshal(settings)
		if err := st.SetChatSettings(ctx, store.System, x.tenant.ID, doc); err != nil {
			t.Fatal(err)
		}
	}
	x.open()
	return x
}

func (x *eng) open() {
	e, err := NewEngine(x.ctx, Options{Store: x.st, Ring: x.ring, Now: x.clock, Tick: -1, AgentGrace: time.Minute})
	if err != nil {
		x.t.Fatal(err)
	}
	x.e = e
	x.t.Cleanup(e.Close)
}

func (x *eng) clock() time.Time { x.mu.Lock(); defer x.mu.Unlock(); return x.now }

// advance moves the clock and lets the engine see the time.
func (x *eng) advance(d time.Duration) {
	x.mu.Lock()
	x.now = x.now.Add(d)
	x.mu.Unlock()
	x.e.Tick(x.ctx)
	x.e.Flush()
}

func (x *eng) queue(name string, cfg QueueConfig) string {
	x.t.Helper()
	if err := cfg.Validate(); err != nil {
		x.t.Fatal(err)
	}
	doc, _ := json.Marshal(cfg)
	q, err := x.st.CreateQueue(x.ctx, store.System, store.Queue{TenantID: x.tenant.ID, Name: name, Config: doc})
	if err != nil {
		x.t.Fatal(err)
	}
	x.reload()
	return q.ID
}

func (x *eng) reload() {
	x.t.Helper()
	if err := x.e.Reload(x.ctx, x.tenant.ID); err != nil {
		x.t.Fatal(err)
	}
}

// member creates a user of the tenant with a chat profile (nil: defaults).
func (x *eng) member(name, role string, p *AgentProfile) Agent {
	x.t.Helper()
	u, err := x.st.CreateUser(x.ctx, store.System, x.tenant.ID, store.User{Email: strings.ToLower(name) + "@shop.test", Name: name, PasswordHash: "x"}, role)
	if err != nil {
		x.t.Fatal(err)
	}
	if p != nil {
		if err := p.Validate(); err != nil {
			x.t.Fatal(err)
		}
		doc, _ := json.Marshal(p)
		if err := x.st.SetAgentConfig(x.ctx, store.System, store.AgentConfig{TenantID: x.tenant.ID, UserID: u.ID, Config: doc}); err != nil {
			x.t.Fatal(err)
		}
		x.reload()
	}
	return Agent{Tenant: x.tenant.ID, User: u.ID, Name: name, Supervise: role == "supervisor", Bot: role == "bot"}
}

// online connects an agent, available; the clock moves a second so that
// agents have distinct idle times (the first online is idle the longest).
func (x *eng) online(a Agent) *rec {
	x.t.Helper()
	r := &rec{e: x.e}
	if _, err := x.e.ConnectAgent(x.ctx, a, r, Available); err != nil {
		x.t.Fatal(err)
	}
	x.advance(time.Second)
	return r
}

func (x *eng) start(meta Meta) (Visitor, *rec, string) {
	x.t.Helper()
	v, token, err := x.e.Start(x.ctx, x.site, fmt.Sprint("visitor-", time.Now().UnixNano()), meta)
	if err != nil {
		x.t.Fatal(err)
	}
	r := &rec{e: x.e}
	if _, err := x.e.ConnectVisitor(x.ctx, v, r); err != nil {
		x.t.Fatal(err)
	}
	return v, r, token
}

func (x *eng) status(id string) string {
	x.t.Helper()
	x.e.Flush()
	c, err := x.st.Conversation(x.ctx, x.tenant.ID, id)
	if err != nil {
		x.t.Fatal(err)
	}
	return c.Status
}

func (x *eng) say(v Visitor, text string) Message {
	x.t.Helper()
	m, err := x.e.VisitorSend(x.ctx, v, Message{Text: text})
	if err != nil {
		x.t.Fatal(err)
	}
	return m
}

func (x *eng) reply(a Agent, conv, text string) Message {
	x.t.Helper()
	m, err := x.e.AgentSend(x.ctx, a, conv, Message{Text: text})
	if err != nil {
		x.t.Fatal(err)
	}
	return m
}

func (x *eng) accept(a Agent, conv string) {
	x.t.Helper()
	if err := x.e.Accept(x.ctx, a, conv); err != nil {
		x.t.Fatal(err)
	}
}

func offeredTo(r *rec, conv string) bool {
	offers, revoked := 0, 0
	for _, ev := range r.of("offer") {
		if ev.Conversation == conv {
			offers++
		}
	}
	for _, ev := range r.of("offer_revoked") {
		if ev.Conversation == conv {
			revoked++
		}
	}
	return offers > revoked
}

func TestLongestIdleAgentGetsTheChat(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{})
	ann, bob := x.member("Ann", "agent", nil), x.member("Bob", "agent", nil)
	ra := x.online(ann)
	rb := x.online(bob)
	v1, _, _ := x.start(Meta{})
	if !offeredTo(ra, v1.Conversation) || offeredTo(rb, v1.Conversation) {
		t.Fatal("the first chat is offered to Ann, idle the longest, and to her only")
	}
	x.accept(ann, v1.Conversation)
	if got := x.status(v1.Conversation); got != StatusAssigned {
		t.Fatalf("status %s", got)
	}
	v2, _, _ := x.start(Meta{})
	if !offeredTo(rb, v2.Conversation) {
		t.Fatal("the next chat goes to Bob, now idle the longest")
	}
	// Bob declines: the chat goes to Ann (she has capacity), never back to Bob.
	if err := x.e.Decline(x.ctx, bob, v2.Conversation); err != nil {
		t.Fatal(err)
	}
	if !offeredTo(ra, v2.Conversation) || offeredTo(rb, v2.Conversation) {
		t.Fatal("a declined chat goes to the next agent")
	}
}

func TestOfferTimesOutToTheNextAgentAndTheMissingAgentIsAway(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{OfferTimeout: 20})
	ann, bob := x.member("Ann", "agent", nil), x.member("Bob", "agent", nil)
	ra, rb := x.online(ann), x.online(bob)
	v, _, _ := x.start(Meta{})
	x.advance(19 * time.Second)
	if !offeredTo(ra, v.Conversation) {
		t.Fatal("still Ann's before the timeout")
	}
	x.advance(2 * time.Second)
	if offeredTo(ra, v.Conversation) || !offeredTo(rb, v.Conversation) {
		t.Fatal("after the timeout the offer moves to Bob")
	}
	if ps := ra.of("presence"); ps[len(ps)-1].Data.(map[string]string)["status"] != Away {
		t.Fatal("an agent who misses an offer is set away")
	}
	if err := x.e.Accept(x.ctx, ann, v.Conversation); !errors.Is(err, ErrState) {
		t.Fatalf("accepting an expired offer: %v", err)
	}
}

func TestLeastBusyAndCapacity(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Support", QueueConfig{Routing: LeastBusy})
	ann := x.member("Ann", "agent", &AgentProfile{Capacity: 2})
	bob := x.member("Bob", "agent", &AgentProfile{Capacity: 1})
	ra, rb := x.online(ann), x.online(bob)
	v1, _, _ := x.start(Meta{})
	x.accept(ann, v1.Conversation) // Ann idle longest; now she carries one chat
	v2, _, _ := x.start(Meta{})
	if !offeredTo(rb, v2.Conversation) {
		t.Fatal("least busy: Bob (0 chats) before Ann (1)")
	}
	x.accept(bob, v2.Conversation)
	v3, _, _ := x.start(Meta{})
	if !offeredTo(ra, v3.Conversation) {
		t.Fatal("Bob is full (capacity 1): Ann")
	}
	x.accept(ann, v3.Conversation)
	v4, r4, _ := x.start(Meta{})
	if offeredTo(ra, v4.Conversation) || offeredTo(rb, v4.Conversation) {
		t.Fatal("everybody is full: the chat waits")
	}
	qs := r4.of("queue")
	if len(qs) == 0 || qs[len(qs)-1].Data.(QueuePosition).Position != 1 || qs[len(qs)-1].Data.(QueuePosition).EstimatedWait <= 0 {
		t.Fatalf("the waiting visitor is told their place and an estimate: %+v", qs)
	}
	v5, r5, _ := x.start(Meta{})
	if qs := r5.of("queue"); qs[len(qs)-1].Data.(QueuePosition).Position != 2 {
		t.Fatal("second in line")
	}
	// A chat ends: the first waiting chat is offered, the second moves up.
	if err := x.e.CloseChat(x.ctx, bob, v2.Conversation, "", nil); err != nil {
		t.Fatal(err)
	}
	if !offeredTo(rb, v4.Conversation) {
		t.Fatal("the freed agent gets the oldest waiting chat")
	}
	x.accept(bob, v4.Conversation)
	if qs := r5.of("queue"); qs[len(qs)-1].Data.(QueuePosition).Position != 1 {
		t.Fatal("the chat behind moves up")
	}
	_ = v5
}

func TestSkillRoutingPicksTheBestRatedThenLongestIdle(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Billing", QueueConfig{Routing: Skills, Skills: []string{"billing", "german"}})
	novice := x.member("Nina", "agent", &AgentProfile{Skills: map[string]int{"billing": 3, "german": 4}})
	expert := x.member("Ed", "agent", &AgentProfile{Skills: map[string]int{"billing": 9, "german": 5}})
	english := x.member("Eve", "agent", &AgentProfile{Skills: map[string]int{"billing": 10}})
	rn, re, rv := x.online(novice), x.online(expert), x.online(english)
	v, _, _ := x.start(Meta{})
	if !offeredTo(re, v.Conversation) {
		t.Fatal("the best total rating gets the chat")
	}
	if err := x.e.Decline(x.ctx, expert, v.Conversation); err != nil {
		t.Fatal(err)
	}
	if !offeredTo(rn, v.Conversation) {
		t.Fatal("next best")
	}
	if err := x.e.Decline(x.ctx, novice, v.Conversation); err != nil {
		t.Fatal(err)
	}
	if offeredTo(rv, v.Conversation) {
		t.Fatal("an agent without every skill of the queue is never offered its chats")
	}
}

func TestLastAgentAffinity(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{Routing: LastAgent})
	ann, bob := x.member("Ann", "agent", nil), x.member("Bob", "agent", nil)
	x.online(ann)
	rb := x.online(bob)
	visitor := "returning-visitor"
	v1, _, err := x.e.Start(x.ctx, x.site, visitor, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.e.Decline(x.ctx, ann, v1.Conversation); err != nil {
		t.Fatal(err)
	}
	x.accept(bob, v1.Conversation)
	x.reply(bob, v1.Conversation, "hi")
	if err := x.e.CloseChat(x.ctx, bob, v1.Conversation, "", nil); err != nil {
		t.Fatal(err)
	}
	x.advance(time.Hour) // Bob is now the most recently busy; longest idle would pick Ann
	v2, _, err := x.e.Start(x.ctx, x.site, visitor, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if !offeredTo(rb, v2.Conversation) {
		t.Fatal("the returning visitor's previous agent gets the chat")
	}
}

func TestOverflowAndMaxWaitAndOfflineForm(t *testing.T) {
	x := newEng(t, nil)
	backup := x.queue("Backup", QueueConfig{MaxWait: 300})
	frontQ := x.queue("Front", QueueConfig{OverflowQueue: backup, OverflowAfter: 60, MaxWait: 300})
	front := x.member("Fay", "agent", &AgentProfile{Capacity: 1})
	back := x.member("Bo", "agent", &AgentProfile{Capacity: 1})
	// Fay answers Front only and is busy; Bo answers Backup only.
	doc, _ := json.Marshal(AgentProfile{Capacity: 1, Queues: []string{frontQ}})
	x.st.SetAgentConfig(x.ctx, store.System, store.AgentConfig{TenantID: x.tenant.ID, UserID: front.User, Config: doc})
	doc, _ = json.Marshal(AgentProfile{Capacity: 1, Queues: []string{backup}})
	x.st.SetAgentConfig(x.ctx, store.System, store.AgentConfig{TenantID: x.tenant.ID, UserID: back.User, Config: doc})
	x.reload()
	rf := x.online(front)
	x.online(back)
	v0 := mustStart(x, frontQ)
	if !offeredTo(rf, v0.Conversation) {
		t.Fatal("Front's chats go to Fay")
	}
	x.accept(front, v0.Conversation)
	x.accept(back, mustStart(x, backup).Conversation) // Bo is busy too
	v := mustStart(x, frontQ)
	rv := &rec{e: x.e}
	x.e.ConnectVisitor(x.ctx, v, rv)
	x.advance(61 * time.Second)
	x.e.Flush()
	c, _ := x.st.Conversation(x.ctx, x.tenant.ID, v.Conversation)
	if c.QueueID != backup || c.Status != StatusQueued {
		t.Fatalf("after 60 s the chat overflows to Backup: %+v", c)
	}
	x.advance(240 * time.Second)
	if got := x.status(v.Conversation); got != StatusOffline {
		t.Fatalf("after the longest wait nobody answered: %s", got)
	}
	if !slices.ContainsFunc(rv.of("state"), func(ev Event) bool { return ev.Data.(VisitorView).Status == StatusOffline }) {
		t.Fatal("the visitor is told to leave a message")
	}
	if _, err := x.e.VisitorSend(x.ctx, v, Message{Text: "hello?"}); !errors.Is(err, ErrState) {
		t.Fatalf("chatting in an offline conversation: %v", err)
	}
	if err := x.e.LeaveMessage(x.ctx, v, "Vera", "not-an-address", "call me"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad address: %v", err)
	}
	if err := x.e.LeaveMessage(x.ctx, v, "Vera", "vera@example.com", "Please call me back about 4111 1111 1111 1111"); err != nil {
		t.Fatal(err)
	}
	x.e.Flush()
	c, _ = x.st.Conversation(x.ctx, x.tenant.ID, v.Conversation)
	if c.Status != StatusClosed || c.CloseReason != "offline_message" {
		t.Fatalf("the form closes the conversation: %+v", c)
	}
	ms, _ := x.e.Log().Since(x.ctx, x.tenant.ID, v.Conversation, 0, 100, false)
	form := ms[len(ms)-2]
	if form.Kind != KindForm || strings.Contains(form.Text, "4111") || !strings.Contains(string(form.Payload), "vera@example.com") {
		t.Fatalf("the form is stored, masked: %+v", form)
	}
}

func mustStart(x *eng, queue string) Visitor {
	v, _, err := x.e.Start(x.ctx, x.site, "v-"+store.NewID(), Meta{Offer: &OfferMeta{ID: "o", Queue: queue}})
	if err != nil {
		x.t.Fatal(err)
	}
	return v
}

func TestClosedHoursAndNoAgentsGoOffline(t *testing.T) {
	x := newEng(t, nil)
	// 2026-11-18 10:00 UTC is a Wednesday.
	x.queue("Nine to five", QueueConfig{Hours: &Hours{TimeZone: "Europe/Berlin", Week: map[string][][2]string{"wed": {{"12:00", "17:00"}}}}})
	ann := x.member("Ann", "agent", nil)
	x.online(ann)
	v, _, _ := x.start(Meta{})
	if got := x.status(v.Conversation); got != StatusOffline {
		t.Fatalf("11:00 in Berlin is before opening: %s", got)
	}
	x.advance(2 * time.Hour)
	v, _, _ = x.start(Meta{})
	if got := x.status(v.Conversation); got != StatusQueued {
		t.Fatalf("13:00 in Berlin is open: %s", got)
	}
	x.e.DisconnectAgent(ann, nil)
	tn := x.e.inMemory(ann.Tenant)
	tn.mu.Lock()
	ag := tn.agents[ann.User]
	clear(ag.sinks)
	x.e.setPresence(tn, ag, Offline)
	tn.mu.Unlock()
	v, _, _ = x.start(Meta{})
	if got := x.status(v.Conversation); got != StatusOffline {
		t.Fatalf("nobody signed in: %s", got)
	}
	h := Hours{Week: map[string][][2]string{"mon": {{"17:00", "09:00"}}}}
	if err := h.validate(); err == nil {
		t.Fatal("a span that ends before it starts")
	}
}

func TestPrechatBotRoutesByTopicAndOffersSkipIt(t *testing.T) {
	x := newEng(t, nil)
	sales, support := x.queue("Sales", QueueConfig{}), x.queue("Support", QueueConfig{})
	s := DefaultSettings()
	s.Prechat = &Prechat{Question: "What can we help with?", Options: []PrechatOption{{Label: "Buying", Queue: sales}, {Label: "A problem", Queue: support}}}
	doc, _ := json.Marshal(s)
	x.st.SetChatSettings(x.ctx, store.System, x.tenant.ID, doc)
	x.reload()
	sam := x.member("Sam", "agent", &AgentProfile{Queues: []string{support}})
	rs := x.online(sam)
	v, rv, _ := x.start(Meta{})
	if got := x.status(v.Conversation); got != StatusBot {
		t.Fatalf("the bot asks first: %s", got)
	}
	// The question reaches the connection live, unless it was committed
	// before the visitor connected (a busy machine): then only in the
	// history, which a socket reads right after connecting.
	if ts := rv.texts(); len(ts) > 1 || len(ts) == 1 && ts[0] != "What can we help with?" {
		t.Fatalf("the visitor gets the question: %q", ts)
	}
	hist, _ := x.e.VisitorHistory(x.ctx, v, 0, 10)
	if len(hist) != 1 || hist[0].Text != "What can we help with?" || !strings.Contains(string(hist[0].Payload), "A problem") {
		t.Fatalf("the question with its options: %+v", hist)
	}
	x.say(v, "something else")
	if got := x.status(v.Conversation); got != StatusBot {
		t.Fatal("an answer that is no option asks again")
	}
	x.say(v, "a PROBLEM")
	x.e.Flush()
	c, _ := x.st.Conversation(x.ctx, x.tenant.ID, v.Conversation)
	if c.QueueID != support || !offeredTo(rs, v.Conversation) {
		t.Fatalf("the answer picks the queue: %+v", c)
	}
	if !strings.Contains(string(c.Metadata), `"topic":"A problem"`) {
		t.Fatalf("the topic is in the context: %s", c.Metadata)
	}
	// An accepted offer skips the questions; its queue and data reach the agent.
	v2, _, _ := x.start(Meta{Offer: &OfferMeta{ID: "cart-help", Name: "Cart help", Queue: support, Data: map[string]string{"cart": "129.00"}},
		Page: &PageMeta{URL: "https://shop.test/cart", Title: "Cart"}})
	if got := x.status(v2.Conversation); got != StatusQueued {
		t.Fatalf("offers skip the bot: %s", got)
	}
	for _, ev := range rs.of("offer") {
		if ev.Conversation == v2.Conversation {
			meta := string(ev.Data.(map[string]any)["conversation"].(View).Metadata)
			if !strings.Contains(meta, "cart-help") || !strings.Contains(meta, "129.00") || !strings.Contains(meta, "https://shop.test/cart") {
				t.Fatalf("the offer's metadata reaches the agent: %s", meta)
			}
		}
	}
}

func TestTransferConferenceConsultMonitorWhisperBarge(t *testing.T) {
	x := newEng(t, nil)
	sales := x.queue("Sales", QueueConfig{})
	support := x.queue("Support", QueueConfig{})
	ann := x.member("Ann", "agent", &AgentProfile{Queues: []string{sales}})
	bob := x.member("Bob", "agent", &AgentProfile{Queues: []string{sales}})
	cy := x.member("Cy", "agent", &AgentProfile{Queues: []string{support}})
	sue := x.member("Sue", "supervisor", &AgentProfile{Queues: []string{"none"}})
	ra, rb, rc, rs := x.online(ann), x.online(bob), x.online(cy), x.online(sue)
	v, rv, _ := x.start(Meta{})
	x.accept(ann, v.Conversation)
	x.say(v, "hello")

	// Consult: Bob joins unseen; what he writes stays among agents.
	if err := x.e.Invite(x.ctx, ann, v.Conversation, bob.User, RoleConsult, "knows returns"); err != nil {
		t.Fatal(err)
	}
	x.accept(bob, v.Conversation)
	x.reply(bob, v.Conversation, "tell them 30 days")
	if !slices.Contains(ra.texts(), "tell them 30 days") || slices.Contains(rv.texts(), "tell them 30 days") {
		t.Fatal("a consult is between agents")
	}
	if slices.ContainsFunc(rv.of("state"), func(ev Event) bool { return slices.Contains(ev.Data.(VisitorView).Agents, "Bob") }) {
		t.Fatal("the visitor does not see the consultant")
	}
	if err := x.e.Leave(x.ctx, bob, v.Conversation); err != nil {
		t.Fatal(err)
	}
	// Conference: Bob joins again, seen this time.
	if err := x.e.Invite(x.ctx, ann, v.Conversation, bob.User, RoleConference, ""); err != nil {
		t.Fatal(err)
	}
	x.accept(bob, v.Conversation)
	x.reply(bob, v.Conversation, "Hi, Bob here")
	if !slices.Contains(rv.texts(), "Hi, Bob here") || !slices.Contains(rv.texts(), "Bob joined the chat.") {
		t.Fatal("a conference partner is seen")
	}
	x.e.Leave(x.ctx, bob, v.Conversation)

	// Monitor: silent; whisper reaches agents only; barge makes the supervisor seen.
	rv.reset()
	if err := x.e.Monitor(x.ctx, bob, v.Conversation); !errors.Is(err, ErrForbidden) {
		t.Fatalf("an agent cannot monitor: %v", err)
	}
	if err := x.e.Monitor(x.ctx, sue, v.Conversation); err != nil {
		t.Fatal(err)
	}
	x.say(v, "are you there")
	if !slices.Contains(rs.texts(), "are you there") {
		t.Fatal("the supervisor hears the chat")
	}
	if _, err := x.e.AgentSend(x.ctx, sue, v.Conversation, Message{Text: "offer the coupon"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ra.texts(), "offer the coupon") || slices.Contains(rv.texts(), "offer the coupon") {
		t.Fatal("a whisper reaches the agent, not the visitor")
	}
	if len(rv.of("state")) != 0 {
		t.Fatal("monitoring is silent")
	}
	if err := x.e.Barge(x.ctx, sue, v.Conversation); err != nil {
		t.Fatal(err)
	}
	x.reply(sue, v.Conversation, "Sue here, I can help")
	if !slices.Contains(rv.texts(), "Sue here, I can help") {
		t.Fatal("after barging in the supervisor is seen")
	}
	x.e.Leave(x.ctx, sue, v.Conversation)

	// Transfer to an agent: offered; declined, the chat stays with Ann.
	if err := x.e.Transfer(x.ctx, ann, v.Conversation, bob.User, "", "wants a refund"); err != nil {
		t.Fatal(err)
	}
	if err := x.e.Decline(x.ctx, bob, v.Conversation); err != nil {
		t.Fatal(err)
	}
	if len(ra.of("invite_ended")) == 0 {
		t.Fatal("Ann hears that Bob declined")
	}
	x.e.Transfer(x.ctx, ann, v.Conversation, bob.User, "", "wants a refund")
	x.accept(bob, v.Conversation)
	x.e.Flush()
	c, _ := x.st.Conversation(x.ctx, x.tenant.ID, v.Conversation)
	if c.AgentID != bob.User || !ra.has("removed", v.Conversation) {
		t.Fatalf("accepted, the chat is Bob's: %+v", c)
	}
	if _, err := x.e.AgentSend(x.ctx, ann, v.Conversation, Message{Text: "still me"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Ann has left: %v", err)
	}
	hist, _ := x.e.History(x.ctx, bob, v.Conversation, 0, 100)
	if !slices.ContainsFunc(hist, func(m Message) bool { return m.Text == "wants a refund" && m.Audience == AudienceAgents }) {
		t.Fatal("the transfer note is for agents")
	}
	// Transfer to a queue: at once, the note follows.
	if err := x.e.Transfer(x.ctx, bob, v.Conversation, "", support, "billing question"); err != nil {
		t.Fatal(err)
	}
	if !offeredTo(rc, v.Conversation) {
		t.Fatal("the Support queue offers it to Cy")
	}
	x.accept(cy, v.Conversation)
	vh, _ := x.e.VisitorHistory(x.ctx, v, 0, 100)
	for _, m := range vh {
		if m.Audience != AudienceAll || m.Text == "billing question" || m.Text == "offer the coupon" || m.Text == "tell them 30 days" {
			t.Fatalf("the visitor's history holds nothing for agents only: %+v", m)
		}
	}
	_ = rb
}

func TestHoldReopensToTheLastAgent(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{})
	ann, bob := x.member("Ann", "agent", &AgentProfile{Capacity: 1}), x.member("Bob", "agent", nil)
	ra, rb := x.online(ann), x.online(bob)
	v, _, _ := x.start(Meta{})
	x.accept(ann, v.Conversation)
	if err := x.e.Hold(x.ctx, ann, v.Conversation); err != nil {
		t.Fatal(err)
	}
	if got := x.status(v.Conversation); got != StatusHold {
		t.Fatal(got)
	}
	// On hold the chat does not count: Ann (capacity 1) can take another.
	x.e.SetPresence(x.ctx, bob, Away)
	v2, _, _ := x.start(Meta{})
	if !offeredTo(ra, v2.Conversation) {
		t.Fatal("a held chat frees its agent")
	}
	x.e.Decline(x.ctx, ann, v2.Conversation)
	x.e.SetPresence(x.ctx, bob, Available)
	if !offeredTo(rb, v2.Conversation) {
		t.Fatal("Bob takes the declined chat")
	}
	x.accept(bob, v2.Conversation)
	x.advance(3 * time.Hour)
	x.say(v, "I'm back")
	if !offeredTo(ra, v.Conversation) {
		t.Fatal("the visitor's message reopens the chat with their last agent")
	}
	x.accept(ann, v.Conversation)
	hist, _ := x.e.History(x.ctx, ann, v.Conversation, 0, 100)
	if !slices.ContainsFunc(hist, func(m Message) bool { return m.Text == "I'm back" }) {
		t.Fatal("the message that reopened the chat is there")
	}
}

func TestCloseDispositionCSATAndInactivity(t *testing.T) {
	s := DefaultSettings()
	s.CSAT, s.Dispositions = true, []string{"sold", "no sale"}
	s.Inactivity = Inactivity{WarnAfter: 60, CloseAfter: 120}
	x := newEng(t, &s)
	x.queue("Sales", QueueConfig{})
	ann := x.member("Ann", "agent", nil)
	x.online(ann)
	v, rv, _ := x.start(Meta{})
	x.accept(ann, v.Conversation)
	x.say(v, "hi")
	x.advance(30 * time.Second)
	x.reply(ann, v.Conversation, "hello, how can I help?")
	if err := x.e.CloseChat(x.ctx, ann, v.Conversation, "maybe", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a disposition outside the list: %v", err)
	}
	if err := x.e.Rate(x.ctx, v, 5); !errors.Is(err, ErrState) {
		t.Fatalf("rating an open chat: %v", err)
	}
	if err := x.e.CloseChat(x.ctx, ann, v.Conversation, "sold", []string{"vip", "upsell"}); err != nil {
		t.Fatal(err)
	}
	x.e.Flush()
	c, _ := x.st.Conversation(x.ctx, x.tenant.ID, v.Conversation)
	if c.Status != StatusClosed || c.CloseReason != "agent" || c.Disposition != "sold" || !slices.Equal(c.Tags, []string{"vip", "upsell"}) ||
		c.FirstResponseAt == nil || c.FirstResponseAt.Sub(*c.AssignedAt) != 30*time.Second {
		t.Fatalf("closed: %+v", c)
	}
	if !slices.Contains(rv.texts(), "How would you rate this chat?") {
		t.Fatal("the visitor is asked to rate")
	}
	if err := x.e.Rate(x.ctx, v, 6); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	if err := x.e.Rate(x.ctx, v, 4); err != nil {
		t.Fatal(err)
	}
	if err := x.e.Rate(x.ctx, v, 5); !errors.Is(err, ErrState) {
		t.Fatal("rated once")
	}
	if _, err := x.e.VisitorSend(x.ctx, v, Message{Text: "one more thing"}); !errors.Is(err, ErrState) {
		t.Fatal("a closed chat takes no messages")
	}

	// Inactivity: the agent answered, the visitor went quiet.
	v2, rv2, _ := x.start(Meta{})
	x.accept(ann, v2.Conversation)
	x.say(v2, "hi")
	x.reply(ann, v2.Conversation, "what is your order number?")
	x.advance(61 * time.Second)
	if !slices.ContainsFunc(rv2.texts(), func(s string) bool { return strings.HasPrefix(s, "Are you still there?") }) {
		t.Fatal("warned")
	}
	x.advance(60 * time.Second)
	x.e.Flush()
	c, _ = x.st.Conversation(x.ctx, x.tenant.ID, v2.Conversation)
	if c.Status != StatusClosed || c.CloseReason != "inactivity" {
		t.Fatalf("closed for inactivity: %+v", c)
	}
	// A visitor waiting for the agent is never closed for inactivity.
	v3, _, _ := x.start(Meta{})
	x.accept(ann, v3.Conversation)
	x.say(v3, "hello?")
	x.advance(time.Hour)
	if got := x.status(v3.Conversation); got != StatusAssigned {
		t.Fatal(got)
	}
}

func TestAgentsOnlyReachTheirChatsAndTokensBindOneConversation(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{})
	ann, bob := x.member("Ann", "agent", nil), x.member("Bob", "agent", nil)
	x.online(ann)
	v, _, token := x.start(Meta{})
	x.accept(ann, v.Conversation)
	x.say(v, "my secret")
	for name, err := range map[string]error{
		"send":     func() error { _, err := x.e.AgentSend(x.ctx, bob, v.Conversation, Message{Text: "hi"}); return err }(),
		"read":     func() error { _, err := x.e.History(x.ctx, bob, v.Conversation, 0, 10); return err }(),
		"close":    x.e.CloseChat(x.ctx, bob, v.Conversation, "", nil),
		"hold":     x.e.Hold(x.ctx, bob, v.Conversation),
		"transfer": x.e.Transfer(x.ctx, bob, v.Conversation, "", "x", ""),
	} {
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("%s by an agent not in the chat: %v", name, err)
		}
	}
	if err := x.e.Accept(x.ctx, bob, v.Conversation); !errors.Is(err, ErrState) {
		t.Fatalf("accepting what was not offered: %v", err)
	}
	other := Agent{Tenant: "01OTHERTENANT", User: ann.User, Supervise: true}
	if _, err := x.e.History(x.ctx, other, v.Conversation, 0, 10); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another tenant: %v", err)
	}
	got, err := x.e.VisitorByToken(x.ctx, token)
	if err != nil || got != v {
		t.Fatalf("the token binds the conversation: %+v %v", got, err)
	}
	for _, bad := range []string{"", "nodot", v.Conversation + ".forged", v.Conversation + "." + strings.Repeat("a", 300), "01UNKNOWN." + strings.Split(token, ".")[1]} {
		if _, err := x.e.VisitorByToken(x.ctx, bad); !errors.Is(err, ErrToken) {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	if _, err := x.e.AgentSend(x.ctx, ann, v.Conversation, Message{Kind: KindSystem, Text: "fake notice"}); !errors.Is(err, ErrInvalid) {
		t.Fatal("agents cannot forge system notices")
	}
	if _, err := x.e.VisitorSend(x.ctx, v, Message{Kind: KindRich, Payload: json.RawMessage(`{"type":"quick_replies","options":[{"label":"a","value":"a"}]}`)}); !errors.Is(err, ErrInvalid) {
		t.Fatal("visitors send text")
	}
}

func TestRestartRebuildsQueuesAndAssignments(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{})
	ann := x.member("Ann", "agent", &AgentProfile{Capacity: 1})
	x.online(ann)
	v1, _, _ := x.start(Meta{})
	x.accept(ann, v1.Conversation)
	v2, _, _ := x.start(Meta{}) // waits: Ann is full
	x.e.Close()
	x.open()
	ra := &rec{e: x.e}
	snap, err := x.e.ConnectAgent(x.ctx, ann, ra, Available)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Chats) != 1 || snap.Chats[0].ID != v1.Conversation {
		t.Fatalf("Ann finds her chat again: %+v", snap)
	}
	if offeredTo(ra, v2.Conversation) {
		t.Fatal("she is still full")
	}
	if err := x.e.CloseChat(x.ctx, ann, v1.Conversation, "", nil); err != nil {
		t.Fatal(err)
	}
	if !offeredTo(ra, v2.Conversation) {
		t.Fatal("the waiting chat survived the restart")
	}
}

func TestDisconnectedAgentsChatsReturnToTheQueue(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{})
	ann, bob := x.member("Ann", "agent", nil), x.member("Bob", "agent", nil)
	ra := &rec{e: x.e}
	x.e.ConnectAgent(x.ctx, ann, ra, Available)
	v, rv, _ := x.start(Meta{})
	x.accept(ann, v.Conversation)
	x.e.DisconnectAgent(ann, ra)
	x.advance(30 * time.Second)
	rb := x.online(bob)
	if offeredTo(rb, v.Conversation) {
		t.Fatal("within the grace time the chat waits for Ann")
	}
	x.advance(31 * time.Second)
	if !offeredTo(rb, v.Conversation) {
		t.Fatal("after it, the chat goes back to the queue")
	}
	if !slices.ContainsFunc(rv.texts(), func(s string) bool { return strings.Contains(s, "back in the queue") }) {
		t.Fatal("the visitor is told")
	}
}

func TestLiveState(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{})
	ann := x.member("Ann", "agent", &AgentProfile{Capacity: 1})
	x.online(ann)
	v, _, _ := x.start(Meta{})
	x.accept(ann, v.Conversation)
	x.start(Meta{})
	x.advance(10 * time.Second)
	live, err := x.e.LiveState(x.ctx, x.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(live.Queues) != 1 || live.Queues[0].Waiting != 1 || live.Queues[0].LongestWait != 10 || live.Queues[0].AgentsAvailable != 0 || live.Queues[0].Slots != 1 {
		t.Fatalf("queues: %+v", live.Queues)
	}
	if len(live.Agents) != 1 || live.Agents[0].Chats != 1 || live.Agents[0].Presence != Available || live.Agents[0].Name != "Ann" {
		t.Fatalf("agents: %+v", live.Agents)
	}
	if len(live.Chats) != 2 {
		t.Fatalf("chats: %+v", live.Chats)
	}
}

// Availability counts only agents who are available, connected and have a
// free slot; the supervisors' live state and the visitors' estimate say the
// same thing.
func TestAvailabilityIsTruthful(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Support", QueueConfig{})
	state := func() QueueState {
		t.Helper()
		qs, err := x.e.Availability(x.ctx, x.tenant.ID)
		if err != nil || len(qs) != 1 {
			t.Fatalf("%v %v", qs, err)
		}
		live, _ := x.e.LiveState(x.ctx, x.tenant.ID)
		if live.Queues[0].QueueState != qs[0] {
			t.Fatalf("live state %+v differs from availability %+v", live.Queues[0].QueueState, qs[0])
		}
		return qs[0]
	}
	if s := state(); s.AgentsAvailable != 0 || s.EstimatedWait != -1 {
		t.Fatalf("no agents: %+v", s)
	}
	ann := x.member("Ann", "agent", &AgentProfile{Capacity: 1})
	bob := x.member("Bob", "agent", &AgentProfile{Capacity: 2})
	cat := x.member("Cat", "agent", &AgentProfile{Capacity: 3})
	x.online(ann)
	rb := x.online(bob)
	x.online(cat)
	if s := state(); s.AgentsAvailable != 3 || s.Free != 6 || s.EstimatedWait != 0 {
		t.Fatalf("three free agents: %+v", s)
	}
	// All away: nobody can answer, although all are signed in.
	for _, a := range []Agent{ann, bob, cat} {
		if err := x.e.SetPresence(x.ctx, a, Away); err != nil {
			t.Fatal(err)
		}
	}
	if s := state(); s.AgentsAvailable != 0 || s.Slots != 0 || s.EstimatedWait != -1 {
		t.Fatalf("all away: %+v", s)
	}
	// Ann back and full: available but no free slot; the wait is an estimate.
	x.e.SetPresence(x.ctx, ann, Available)
	v, _, _ := x.start(Meta{})
	x.accept(ann, v.Conversation)
	if s := state(); s.AgentsAvailable != 0 || s.Slots != 1 || s.EstimatedWait <= 0 {
		t.Fatalf("Ann full: %+v", s)
	}
	// Bob back: one free agent with two slots.
	x.e.SetPresence(x.ctx, bob, Available)
	if s := state(); s.AgentsAvailable != 1 || s.Free != 2 || s.EstimatedWait != 0 {
		t.Fatalf("Bob free: %+v", s)
	}
	// Bob's socket gone: absent, whatever his presence says.
	x.e.DisconnectAgent(bob, rb)
	if s := state(); s.AgentsAvailable != 0 {
		t.Fatalf("Bob absent: %+v", s)
	}
	// A waiting visitor hears no estimate while nobody available can take the chat soon... and then one.
	_, r, _ := x.start(Meta{})
	qs := r.of("queue")
	if len(qs) == 0 || qs[len(qs)-1].Data.(QueuePosition).EstimatedWait <= 0 {
		t.Fatalf("position with Ann full: %+v", qs)
	}
	x.e.SetPresence(x.ctx, ann, Away)
	qs = r.of("queue")
	if got := qs[len(qs)-1].Data.(QueuePosition); got.EstimatedWait != -1 || got.Position != 1 {
		t.Fatalf("nobody available: the visitor is told %+v; want no estimate", got)
	}
}

// A file's name ends with an extension of what it sniffed as.
func TestFileNamesFollowTheSniffedType(t *testing.T) {
	for _, c := range []struct{ name, typ, want string }{
		{"page.html", "text/plain", "page.html.txt"},
		{"notes.TXT", "text/plain", "notes.TXT"},
		{"photo.jpeg", "image/jpeg", "photo.jpeg"},
		{"photo.png", "image/jpeg", "photo.png.jpg"},
		{"report", "application/pdf", "report.pdf"},
		{"run.exe.pdf", "application/pdf", "run.exe.pdf"},
		{"sheet.csv", "text/csv", "sheet.csv"},
		{"image.svg", "image/png", "image.svg.png"},
	} {
		if got := fitName(c.name, c.typ); got != c.want {
			t.Errorf("fitName(%q, %s) = %q, want %q", c.name, c.typ, got, c.want)
		}
	} // Names lose paths, controls and bidirectional overrides (which would
	// show "invoice\u202Efdp.exe" as "invoiceexe.pdf").
	for name, want := range map[string]string{
		"invoice\u202Efdp.exe": "invoicefdp.exe", "a\u2066b\u2069c\u200f.txt": "abc.txt", "../../x\u0007.txt": "x.txt",
		"\u061Crep\u200Eort.pdf": "report.pdf",
	} {
		if got := cleanName(name); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", name, got, want)
		}
	}
}

// A person who connects without choosing a status is away, and gets no
// chat, until they choose; another tab keeps the status chosen in the first;
// a bot is available.
func TestFirstStatusIsAway(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{})
	sup := x.member("Sue", "supervisor", nil)
	rs := &rec{e: x.e}
	snap, err := x.e.ConnectAgent(x.ctx, sup, rs, "")
	if err != nil || snap.Presence != Away {
		t.Fatalf("first status: %+v %v", snap, err)
	}
	v, _, _ := x.start(Meta{})
	if offeredTo(rs, v.Conversation) {
		t.Fatal("a supervisor who has not chosen is offered a chat")
	}
	if err := x.e.SetPresence(x.ctx, sup, Available); err != nil {
		t.Fatal(err)
	}
	if v, _, _ = x.start(Meta{}); !offeredTo(rs, v.Conversation) {
		t.Fatal("once available, a chat is offered")
	}
	if snap, _ := x.e.ConnectAgent(x.ctx, sup, &rec{e: x.e}, ""); snap.Presence != Available {
		t.Fatalf("a second tab: %s", snap.Presence)
	}
	if _, err := x.e.ConnectAgent(x.ctx, sup, &rec{e: x.e}, "busy"); err == nil {
		t.Fatal("an unknown status is refused")
	}
	bot := x.member("Helper", "bot", nil)
	if snap, _ := x.e.ConnectAgent(x.ctx, bot, &rec{e: x.e}, ""); snap.Presence != Available {
		t.Fatalf("a bot: %s", snap.Presence)
	}
}

// A placeholder the conversation has no value for takes its default; the
// visitor's name comes from the page, else the pre-chat form, else the
// signed identity.
func TestCannedPlaceholdersDefaults(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{})
	ann := x.member("Ann", "agent", nil)
	x.online(ann)
	for _, c := range []struct {
		meta Meta
		want string
	}{
		{Meta{}, "Hi there, I am Ann."},
		{Meta{Vars: map[string]string{"name": "Bea"}}, "Hi Bea, I am Ann."},
		{Meta{Identity: &Identity{ID: "u1", Name: "Cy", Verified: true}}, "Hi Cy, I am Ann."},
	} {
		v, _, _ := x.start(c.meta)
		x.accept(ann, v.Conversation)
		got, err := x.e.Expand(x.ctx, ann, v.Conversation, "Hi {{visitor.name|there}}, I am {{agent.name}}.")
		if err != nil || got != c.want {
			t.Errorf("%+v: %q %v; want %q", c.meta, got, err, c.want)
		}
	}
	if err := CheckTemplate("Hi {{visitor.name|there}} {{page.url}}"); err != nil {
		t.Fatal(err)
	}
	if err := CheckTemplate("Hi {{visitor.nick|there}}"); err == nil {
		t.Fatal("an unknown placeholder with a default passes")
	}
}

// A held chat goes back to its agent: reopened by them before the visitor
// writes, or offered to them marked as the held chat it is when the visitor
// writes again.
func TestHeldChatsComeBack(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{})
	ann, bob := x.member("Ann", "agent", nil), x.member("Bob", "agent", nil)
	ra := x.online(ann)
	x.online(bob)
	v, rv, _ := x.start(Meta{})
	if !offeredTo(ra, v.Conversation) {
		t.Fatal("the chat goes to Ann (idle the longest)")
	}
	x.accept(ann, v.Conversation)
	if err := x.e.Hold(x.ctx, ann, v.Conversation); err != nil {
		t.Fatal(err)
	}
	if err := x.e.Reopen(x.ctx, bob, v.Conversation); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Bob reopens Ann's chat: %v", err)
	}
	if err := x.e.Reopen(x.ctx, ann, v.Conversation); err != nil {
		t.Fatal(err)
	}
	if err := x.e.Reopen(x.ctx, ann, v.Conversation); !errors.Is(err, ErrState) {
		t.Fatalf("reopened twice: %v", err)
	}
	if !slices.ContainsFunc(rv.texts(), func(s string) bool { return strings.Contains(s, "Ann is back") }) {
		t.Fatal("the visitor is told")
	}
	if err := x.e.Hold(x.ctx, ann, v.Conversation); err != nil {
		t.Fatal(err)
	}
	if _, err := x.e.VisitorSend(x.ctx, v, Message{Kind: KindText, Text: "Any news?"}); err != nil {
		t.Fatal(err)
	}
	var held bool
	for _, ev := range ra.of("offer") {
		if ev.Conversation == v.Conversation {
			held, _ = ev.Data.(map[string]any)["held"].(bool)
		}
	}
	if !held {
		t.Fatal("the visitor's reply comes back to Ann as the held chat it is")
	}
}

// An agent works the queues they choose among those their profile allows:
// chats of the others go to colleagues; a queue they may not work is refused.
func TestAgentsChooseTheirQueues(t *testing.T) {
	x := newEng(t, nil)
	sales := x.queue("Sales", QueueConfig{})
	tech := x.queue("Tech", QueueConfig{})
	ann := x.member("Ann", "agent", &AgentProfile{Queues: []string{sales, tech}})
	bob := x.member("Bob", "agent", nil)
	ra := x.online(ann)
	rb := x.online(bob)
	if err := x.e.SetWorking(x.ctx, ann, []string{tech}, false); err != nil {
		t.Fatal(err)
	}
	v, _, _ := x.start(Meta{Offer: &OfferMeta{ID: "page", Queue: sales}})
	if offeredTo(ra, v.Conversation) || !offeredTo(rb, v.Conversation) {
		t.Fatal("Ann works Tech only: the Sales chat goes to Bob")
	}
	if err := x.e.SetWorking(x.ctx, bob, []string{"01NOPE"}, false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an unknown queue: %v", err)
	}
	other := x.queue("Billing", QueueConfig{})
	if err := x.e.SetWorking(x.ctx, ann, []string{other}, false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a queue Ann's profile does not allow: %v", err)
	}
	if err := x.e.SetWorking(x.ctx, ann, []string{other, tech}, true); err != nil {
		t.Fatalf("lenient: %v", err)
	}
	snap, _ := x.e.ConnectAgent(x.ctx, ann, &rec{e: x.e}, "")
	if len(snap.Queues) != 2 || len(snap.Working) != 1 || snap.Working[0] != tech {
		t.Fatalf("Ann's queues: %+v %+v", snap.Queues, snap.Working)
	}
}

// TestShownWhileCommittedReachesEveryReader: a message shown while its
// commit runs reaches a connection that opens before the commit ends (once),
// and a resend found at the commit is taken back from those it was shown to.
func TestShownWhileCommittedReachesEveryReader(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{})
	ann := x.member("Ann", "agent", nil)
	first := x.online(ann)
	v, _, _ := x.start(Meta{})
	x.accept(ann, v.Conversation)
	x.say(v, "hello") // the conversation's seq is known from here on
	x.e.Flush()
	first.reset()

	running, hold := make(chan struct{}), make(chan struct{})
	x.e.Log().Do("", func(*store.Tx) error { close(running); <-hold; return nil })
	<-running
	wait, err := x.e.VisitorPost(x.ctx, v, Message{ClientID: "c1", Text: "while committed"})
	if err != nil {
		t.Fatal(err)
	}
	// Shown while the commit before it is held (reading without the
	// recorder's flush, which would wait for that commit).
	for shown := 0; shown == 0; {
		first.mu.Lock()
		shown = len(first.evs)
		first.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	second := &rec{e: x.e}
	if _, err := x.e.ConnectAgent(x.ctx, ann, second, Available); err != nil {
		t.Fatal(err)
	}
	close(hold)
	m, err := wait(x.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first.texts(), []string{"while committed"}) || !slices.Equal(second.texts(), []string{"while committed"}) {
		t.Fatalf("the first connection has %q, the one opened during the commit %q; want it once each", first.texts(), second.texts())
	}

	// The same client id again, unmarked: shown, found a resend, taken back.
	first.reset()
	again, err := x.e.VisitorSend(x.ctx, v, Message{ClientID: "c1", Text: "while committed"})
	if err != nil || again.Seq != m.Seq || again.ID != m.ID {
		t.Fatalf("resend: %+v %v; want the original %+v", again, err, m)
	}
	msgs, retracted := first.of("message"), first.of("retracted")
	if len(msgs) != 1 || len(retracted) != 1 {
		t.Fatalf("resend: %d messages, %d retractions; want one of each", len(msgs), len(retracted))
	}
	shownAs, r := msgs[0].Data.(Message), retracted[0].Data.(Retracted)
	if shownAs.Seq <= m.Seq || r.Seq != shownAs.Seq || r.ID != shownAs.ID {
		t.Fatalf("resend shown as %d %s, retracted %+v", shownAs.Seq, shownAs.ID, r)
	}
}

// TestReadsSeeWhatWasShown: a conversation read right after a change the
// console was shown (its notice is shown while the commit runs) has that
// change, even when the commit is slow.
func TestReadsSeeWhatWasShown(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Support", QueueConfig{})
	ann := x.member("Ann", "agent", nil)
	x.online(ann)
	v, _, _ := x.start(Meta{})
	x.accept(ann, v.Conversation)
	x.e.Flush()
	held, release := make(chan struct{}), make(chan struct{})
	go x.st.Write(x.ctx, func(*store.Tx) error { close(held); <-release; return nil }) // the disk is slow
	<-held
	if err := x.e.CloseChat(x.ctx, ann, v.Conversation, "", nil); err != nil {
		t.Fatal(err)
	}
	read := make(chan VisitorContext, 1)
	go func() {
		vc, err := x.e.Context(x.ctx, Agent{Tenant: ann.Tenant, User: ann.User, Supervise: true}, v.Conversation)
		if err != nil {
			t.Error(err)
		}
		read <- vc
	}()
	close(release)
	if vc := <-read; vc.Conversation.Status != StatusClosed {
		t.Fatalf("read %s after the close was shown", vc.Conversation.Status)
	}
}
