package chat

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// hosting is the set of tenants an engine runs, as a lease would decide.
type hosting struct {
	mu sync.Mutex
	in map[string]bool
}

func (h *hosting) set(tenant string, on bool) { h.mu.Lock(); h.in[tenant] = on; h.mu.Unlock() }
func (h *hosting) has(tenant string) bool     { h.mu.Lock(); defer h.mu.Unlock(); return h.in[tenant] }

// A tenant moves from one engine to another on the same store, as from one
// node of a cluster to the next: the first tells its connections to go and
// refuses the tenant's commands after; the second rebuilds the waiting and
// the assigned chats from the store, and the agent finds theirs again.
func TestATenantMovesBetweenEngines(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Support", QueueConfig{})
	ann := x.member("Ann", "agent", nil)
	annSink := x.online(ann)
	waiting, vSink, _ := x.start(Meta{})
	x.accept(ann, waiting.Conversation)
	if x.status(waiting.Conversation) != StatusAssigned {
		t.Fatalf("the first chat is %s", x.status(waiting.Conversation))
	}
	if _, err := x.e.AgentSend(x.ctx, ann, waiting.Conversation, Message{Text: "hello from node one"}); err != nil {
		t.Fatal(err)
	}
	// A second visitor waits in the queue, offered to Ann, who has not
	// answered when the tenant moves.
	second, _, _ := x.start(Meta{})
	if x.status(second.Conversation) != StatusQueued {
		t.Fatalf("the second chat is %s", x.status(second.Conversation))
	}

	// The other node: an engine on the same store that runs no tenant yet.
	hostB := &hosting{in: map[string]bool{}}
	b, err := NewEngine(x.ctx, Options{Store: x.st, Ring: x.ring, Now: x.clock, Tick: -1, AgentGrace: time.Minute, Hosts: hostB.has})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.ConnectAgent(x.ctx, ann, &rec{e: b}, Available); !errors.Is(err, ErrElsewhere) {
		t.Fatalf("an engine that does not run the tenant: %v", err)
	}

	// The first engine lets the tenant go: its connections are told.
	x.e.Release(x.tenant.ID)
	for _, r := range []*rec{annSink, vSink} {
		if len(r.of(EventMoved)) != 1 {
			t.Fatalf("a connection was not told the chat moved: %+v", r.evs)
		}
	}
	// The second takes it: the waiting chat is in its queue, the assigned
	// one is Ann's when she connects there.
	hostB.set(x.tenant.ID, true)
	if err := b.Adopt(x.ctx, x.tenant.ID); err != nil {
		t.Fatal(err)
	}
	annB := &rec{e: b}
	snap, err := b.ConnectAgent(x.ctx, ann, annB, Available)
	if err != nil {
		t.Fatal(err)
	}
	b.Flush()
	got := map[string]bool{}
	for _, c := range snap.Chats {
		got[c.ID] = true
	}
	if !got[waiting.Conversation] {
		t.Fatalf("Ann's chat is not hers on the second engine: %+v", snap.Chats)
	}
	// The queued chat is offered to Ann there (available, with a free slot).
	b.Tick(x.ctx)
	if !offeredTo(annB, second.Conversation) {
		t.Fatalf("the waiting chat was not offered on the second engine: %+v", annB.evs)
	}
	if err := b.Accept(x.ctx, ann, second.Conversation); err != nil {
		t.Fatal(err)
	}
	b.Flush()
	if c, _ := x.st.Conversation(x.ctx, x.tenant.ID, second.Conversation); c.Status != StatusAssigned || c.AgentID != ann.User {
		t.Fatalf("the waiting chat on the second engine: %s to %q", c.Status, c.AgentID)
	}
	// The first engine refuses the tenant's commands now.
	if _, err := x.e.AgentSend(x.ctx, ann, waiting.Conversation, Message{Text: "late"}); err == nil {
		t.Fatal("the first engine still took a command of the tenant it let go")
	}
	// History written on the first engine is there.
	ms, err := b.History(x.ctx, ann, waiting.Conversation, 0, 10)
	if err != nil || len(ms) == 0 || ms[len(ms)-1].Text != "hello from node one" {
		t.Fatalf("history on the second engine: %+v %v", ms, err)
	}
}
