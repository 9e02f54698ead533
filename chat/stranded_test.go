package chat

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The journey that stranded a chat: the only agent lets the offer lapse, is
// set away, comes back, and must be offered the chat again.
func TestAMissedChatIsOfferedAgainWhenTheAgentComesBack(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{OfferTimeout: 20})
	ann := x.member("Ann", "agent", nil)
	ra := x.online(ann)
	v, _, _ := x.start(Meta{})
	x.advance(21 * time.Second)
	if offeredTo(ra, v.Conversation) {
		t.Fatal("the lapsed offer is withdrawn")
	}
	if err := x.e.SetPresence(x.ctx, ann, Available); err != nil {
		t.Fatal(err)
	}
	if !offeredTo(ra, v.Conversation) {
		t.Fatal("Ann is available again: the waiting chat is hers to take")
	}
	x.accept(ann, v.Conversation)

	// Declined by the only agent: offered to her again after one offer timeout.
	v2, _, _ := x.start(Meta{})
	if err := x.e.Decline(x.ctx, ann, v2.Conversation); err != nil {
		t.Fatal(err)
	}
	if offeredTo(ra, v2.Conversation) {
		t.Fatal("a declined chat is not offered straight back")
	}
	x.advance(20 * time.Second)
	if !offeredTo(ra, v2.Conversation) {
		t.Fatal("one offer timeout after a decline the only agent is offered the chat again")
	}
}

// Invariant: no chat stays queued without an offer for longer than one offer
// timeout while an agent who may take it is available, connected, has a free
// slot and holds no pending offer. Checked after every step of randomized
// sequences of engine events.
func TestNoChatIsStrandedUnderRandomEvents(t *testing.T) {
	seeds := 40
	if n, err := strconv.Atoi(os.Getenv("NUDGE_STRAND_SEEDS")); err == nil {
		seeds = n
	}
	if testing.Short() {
		seeds = 8
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { strandRun(t, uint64(seed)) })
	}
}

func strandRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 24))
	x := newEng(t, nil)
	sales := x.queue("Sales", QueueConfig{OfferTimeout: 20})
	support := x.queue("Support", QueueConfig{OfferTimeout: 30, Routing: LeastBusy})
	vip := x.queue("VIP", QueueConfig{OfferTimeout: 15, Routing: Skills, Skills: []string{"vip"}})
	queues := []string{sales, support, vip}
	agents := []Agent{
		x.member("Ann", "agent", &AgentProfile{Capacity: 2}),
		x.member("Bob", "agent", &AgentProfile{Capacity: 1, Queues: []string{sales}}),
		x.member("Cat", "agent", &AgentProfile{Capacity: 3, Queues: []string{support, vip}, Skills: map[string]int{"vip": 3}}),
		x.member("Dan", "supervisor", &AgentProfile{Capacity: 1, Skills: map[string]int{"vip": 1}}),
	}
	sinks := map[string]*rec{}
	var visitors []Visitor
	since := map[[2]string]time.Time{} // (chat, agent) → since when the chat waits for that agent
	began := map[[2]string]string{}    // and after which event
	var trail []string

	offers := func(user string) []string {
		tn := x.e.inMemory(x.tenant.ID)
		tn.mu.Lock()
		defer tn.mu.Unlock()
		var out []string
		for id, cv := range tn.convs {
			if cv.offer != nil && cv.offer.to == user {
				out = append(out, id)
			}
		}
		slices.Sort(out)
		return out
	}
	withStatus := func(status string) []*conv {
		tn := x.e.inMemory(x.tenant.ID)
		tn.mu.Lock()
		defer tn.mu.Unlock()
		var out []*conv
		for _, cv := range tn.convs {
			if cv.c.Status == status {
				out = append(out, cv)
			}
		}
		slices.SortFunc(out, func(a, b *conv) int { return cmpString(a.c.ID, b.c.ID) })
		return out
	}
	owner := func(cv *conv) Agent {
		for _, a := range agents {
			if a.User == cv.c.AgentID {
				return a
			}
		}
		return Agent{}
	}
	check := func() {
		tn := x.e.inMemory(x.tenant.ID)
		tn.mu.Lock()
		defer tn.mu.Unlock()
		now := x.e.now()
		seen := map[[2]string]bool{}
		for _, cv := range tn.convs {
			q := cv.t.queues[cv.c.QueueID]
			if cv.c.Status != StatusQueued || cv.offer != nil || q == nil {
				continue
			}
			for _, ag := range tn.agents {
				k := ag.key
				if ag.presence != Available || len(ag.sinks) == 0 || len(ag.offers) > 0 ||
					len(ag.chats) >= cv.t.capacity(ag) || !x.e.serves(cv.t, ag, q) {
					continue
				}
				pair := [2]string{cv.c.ID, k.user}
				seen[pair] = true
				if _, ok := since[pair]; !ok {
					since[pair] = now
					began[pair] = "the start"
					if len(trail) > 0 {
						began[pair] = trail[len(trail)-1]
					}
				}
				if waited := now.Sub(since[pair]); waited > time.Duration(q.cfg.OfferTimeout)*time.Second {
					t.Fatalf("seed %d: chat %s in %s waited %s without an offer while %s could take it, since %q (passed over until %v, in line %v); events:\n%s",
						seed, cv.c.ID, q.name, waited, ag.name, began[pair], cv.tried, slices.Contains(q.waiting, cv), joinLines(trail))
				}
			}
		}
		for pair := range since {
			if !seen[pair] {
				delete(since, pair)
			}
		}
	}

	for _, a := range agents[:2] {
		sinks[a.User] = x.online(a)
	}
	for step := 0; step < 300; step++ {
		a := agents[rng.IntN(len(agents))]
		var did string
		switch n := rng.IntN(100); {
		case n < 14:
			meta := Meta{}
			if q := queues[rng.IntN(len(queues))]; rng.IntN(3) > 0 {
				meta.Offer = &OfferMeta{ID: "offer", Queue: q}
			}
			v, token, err := x.e.Start(x.ctx, x.site, fmt.Sprint("visitor-", step), meta)
			if err != nil {
				t.Fatal(err)
			}
			_ = token
			visitors = append(visitors, v)
			did = "start " + v.Conversation
		case n < 22:
			if sinks[a.User] == nil {
				r := &rec{}
				if _, err := x.e.ConnectAgent(x.ctx, a, r, []string{Available, Away, ""}[rng.IntN(3)]); err != nil {
					t.Fatal(err)
				}
				sinks[a.User] = r
				did = "connect " + a.Name
			} else if rng.IntN(3) == 0 {
				x.e.DisconnectAgent(a, sinks[a.User])
				delete(sinks, a.User)
				did = "disconnect " + a.Name
			}
		case n < 34:
			p := []string{Available, Away}[rng.IntN(2)]
			if err := x.e.SetPresence(x.ctx, a, p); err != nil {
				t.Fatal(err)
			}
			did = a.Name + " " + p
		case n < 48:
			if os := offers(a.User); len(os) > 0 {
				id := os[rng.IntN(len(os))]
				if err := x.e.Accept(x.ctx, a, id); err != nil {
					t.Fatalf("accept: %v", err)
				}
				did = a.Name + " accepts " + id
			}
		case n < 56:
			if os := offers(a.User); len(os) > 0 {
				id := os[rng.IntN(len(os))]
				if err := x.e.Decline(x.ctx, a, id); err != nil {
					t.Fatalf("decline: %v", err)
				}
				did = a.Name + " declines " + id
			}
		case n < 70:
			d := time.Duration(1+rng.IntN(40)) * time.Second
			x.advance(d)
			did = fmt.Sprint("wait ", d)
		case n < 76:
			if cs := withStatus(StatusAssigned); len(cs) > 0 {
				cv := cs[rng.IntN(len(cs))]
				if err := x.e.CloseChat(x.ctx, owner(cv), cv.c.ID, "", nil); err != nil {
					t.Fatalf("close: %v", err)
				}
				did = "close " + cv.c.ID
			}
		case n < 82:
			if cs := withStatus(StatusAssigned); len(cs) > 0 {
				cv := cs[rng.IntN(len(cs))]
				if err := x.e.Hold(x.ctx, owner(cv), cv.c.ID); err != nil {
					t.Fatalf("hold: %v", err)
				}
				did = "hold " + cv.c.ID
			}
		case n < 87:
			if cs := withStatus(StatusHold); len(cs) > 0 {
				cv := cs[rng.IntN(len(cs))]
				v := Visitor{Tenant: cv.c.TenantID, Site: cv.c.SiteID, ID: cv.c.Visitor, Conversation: cv.c.ID}
				if _, err := x.e.VisitorSend(x.ctx, v, Message{Text: "still there?"}); err != nil {
					t.Fatalf("visitor writes on hold: %v", err)
				}
				did = "visitor wakes " + cv.c.ID
			}
		case n < 94:
			if cs := withStatus(StatusAssigned); len(cs) > 0 {
				cv := cs[rng.IntN(len(cs))]
				from := owner(cv)
				var err error
				if rng.IntN(2) == 0 {
					to := queues[rng.IntN(len(queues))]
					err = x.e.Transfer(x.ctx, from, cv.c.ID, "", to, "")
					did = "transfer " + cv.c.ID + " to a queue"
				} else {
					to := agents[rng.IntN(len(agents))]
					err = x.e.Transfer(x.ctx, from, cv.c.ID, to.User, "", "")
					did = "transfer " + cv.c.ID + " to " + to.Name
				}
				if err != nil {
					did += fmt.Sprintf(" (refused: %v)", err)
				}
			}
		case n < 97:
			if cs := withStatus(StatusQueued); len(cs) > 0 {
				cv := cs[rng.IntN(len(cs))]
				to := agents[rng.IntN(len(agents))]
				err := x.e.Assign(x.ctx, agents[3], cv.c.ID, to.User) // Dan supervises
				did = "Dan assigns " + cv.c.ID + " to " + to.Name
				if err != nil {
					did += fmt.Sprintf(" (refused: %v)", err)
				}
			}
		default:
			var work []string
			for _, q := range queues {
				if rng.IntN(2) == 0 {
					work = append(work, q)
				}
			}
			if err := x.e.SetWorking(x.ctx, a, work, true); err != nil {
				t.Fatal(err)
			}
			did = fmt.Sprint(a.Name, " works ", len(work), " queues")
		}
		if did != "" {
			trail = append(trail, did)
		}
		x.e.Flush()
		check()
	}
	if len(visitors) == 0 {
		t.Fatal("the sequence started no chat")
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func joinLines(ls []string) string {
	if len(ls) > 12 {
		ls = ls[len(ls)-12:]
	}
	out := ""
	for _, l := range ls {
		out += "  " + l + "\n"
	}
	return out
}

// A supervisor gives a waiting chat to an agent, or takes it; barging into a
// waiting chat takes it (there is nobody to join), and into a held one is
// refused with a sentence.
func TestSupervisorsAssignAndTakeWaitingChats(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Sales", QueueConfig{})
	ann := x.member("Ann", "agent", &AgentProfile{Capacity: 1})
	bob := x.member("Bob", "agent", &AgentProfile{Capacity: 1})
	sue := x.member("Sue", "supervisor", nil)
	ra := x.online(ann)
	rb := x.online(bob)
	if _, err := x.e.ConnectAgent(x.ctx, sue, &rec{e: x.e}, Away); err != nil {
		t.Fatal(err)
	}
	v1, _, _ := x.start(Meta{})
	x.accept(ann, v1.Conversation)
	v2, _, _ := x.start(Meta{})
	x.accept(bob, v2.Conversation)
	v3, r3, _ := x.start(Meta{}) // everyone is full: it waits
	if x.status(v3.Conversation) != StatusQueued {
		t.Fatal("the third chat waits")
	}
	if err := x.e.Assign(x.ctx, ann, v3.Conversation, ann.User); !errors.Is(err, ErrForbidden) {
		t.Fatalf("an agent assigns: %v", err)
	}
	stranger := Agent{Tenant: "another-tenant", User: sue.User, Supervise: true}
	if err := x.e.Assign(x.ctx, stranger, v3.Conversation, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another tenant's supervisor: %v", err)
	}
	ghost := x.member("Gus", "agent", nil)
	if err := x.e.Assign(x.ctx, sue, v3.Conversation, ghost.User); !errors.Is(err, ErrState) {
		t.Fatalf("to an agent not connected: %v", err)
	}
	if err := x.e.Assign(x.ctx, sue, v3.Conversation, bob.User); err != nil {
		t.Fatal(err)
	}
	if x.status(v3.Conversation) != StatusAssigned || !rb.has("state", v3.Conversation) {
		t.Fatal("Bob has the chat, over his capacity: the supervisor decided")
	}
	if !slices.Contains(r3.texts(), "Bob joined the chat.") {
		t.Fatalf("the visitor is told: %v", r3.texts())
	}
	if err := x.e.Assign(x.ctx, sue, v3.Conversation, ann.User); !errors.Is(err, ErrState) {
		t.Fatalf("an assigned chat: %v", err)
	}
	x.reply(bob, v3.Conversation, "Hello from Bob")

	// Barging into a waiting chat takes it.
	v4, _, _ := x.start(Meta{})
	if err := x.e.Monitor(x.ctx, sue, v4.Conversation); err != nil {
		t.Fatal(err)
	}
	if err := x.e.Barge(x.ctx, sue, v4.Conversation); err != nil {
		t.Fatal(err)
	}
	if x.status(v4.Conversation) != StatusAssigned {
		t.Fatal("the supervisor took the waiting chat")
	}
	x.reply(sue, v4.Conversation, "Sue here, how can I help?")
	if offeredTo(ra, v4.Conversation) {
		t.Fatal("no offer of a taken chat stays")
	}

	// A held chat has nobody to join.
	if err := x.e.Hold(x.ctx, ann, v1.Conversation); err != nil {
		t.Fatal(err)
	}
	x.e.Monitor(x.ctx, sue, v1.Conversation)
	err := x.e.Barge(x.ctx, sue, v1.Conversation)
	if !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "no conversation to join") {
		t.Fatalf("barge into a held chat: %v", err)
	}
}

// What a person reads of a refusal is a sentence, without the package's words.
func TestExplainSpeaksToPeople(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("%w: only a chat waiting for an agent can be assigned; this one is assigned", ErrState): "Only a chat waiting for an agent can be assigned; this one is assigned.",
		ErrState:                            "That is not possible in the chat's current state.",
		fmt.Errorf("load: %w", ErrNotFound): "That chat does not exist, or it is not yours to see.",
		fmt.Errorf("%w: a rating is 1 to 5", ErrInvalid): "A rating is 1 to 5.",
	} {
		if got := Explain(err); got != want {
			t.Errorf("Explain(%q) = %q, want %q", err, got, want)
		}
	}
}
