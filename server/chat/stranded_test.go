package chat

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
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
		x.e.mu.Lock()
		defer x.e.mu.Unlock()
		var out []string
		for id, cv := range x.e.convs {
			if cv.offer != nil && cv.offer.to == user {
				out = append(out, id)
			}
		}
		slices.Sort(out)
		return out
	}
	withStatus := func(status string) []*conv {
		x.e.mu.Lock()
		defer x.e.mu.Unlock()
		var out []*conv
		for _, cv := range x.e.convs {
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
		x.e.mu.Lock()
		defer x.e.mu.Unlock()
		now := x.e.now()
		seen := map[[2]string]bool{}
		for _, cv := range x.e.convs {
			q := cv.t.queues[cv.c.QueueID]
			if cv.c.Status != StatusQueued || cv.offer != nil || q == nil {
				continue
			}
			for k, ag := range x.e.agents {
				if k.tenant != cv.c.TenantID || ag.presence != Available || len(ag.sinks) == 0 || len(ag.offers) > 0 ||
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
