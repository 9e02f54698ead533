package ops

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/store"
)

// offers records the chats offered to an agent's connection.
type offers struct {
	mu  sync.Mutex
	ids []string
}

func (o *offers) Send(ev chat.Event) {
	if ev.Type == "offer" {
		o.mu.Lock()
		o.ids = append(o.ids, ev.Conversation)
		o.mu.Unlock()
	}
}

func (o *offers) has(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, x := range o.ids {
		if x == id {
			return true
		}
	}
	return false
}

// bea is a second agent, connected with a recording connection.
func (f *fixture) bea() (chat.Agent, *offers) {
	f.t.Helper()
	u, err := f.s.Store.CreateUser(f.ctx, store.System, f.tenant.ID, store.User{Email: "bea@shop.test", Name: "Bea", PasswordHash: "x"}, "agent")
	if err != nil {
		f.t.Fatal(err)
	}
	a := chat.Agent{Tenant: f.tenant.ID, User: u.ID, Name: "Bea"}
	rec := &offers{}
	if _, err := f.s.Chat.ConnectAgent(f.ctx, a, rec, chat.Available); err != nil {
		f.t.Fatal(err)
	}
	return a, rec
}

func TestAVisitorOnTheSiteIsListedAndInvited(t *testing.T) {
	f := newFixture(t)
	f.site.Settings.PushOffers = true
	f.event("v-browsing")
	f.identify("v-known", "cust-7", "kim@example.com", "Kim", false)
	f.event("v-known")
	now := time.Now()
	f.s.PollOffers(f.ctx, f.site, []string{"v-known"}, now) // v-known's page asks for pushed offers

	live, err := f.s.LiveVisitors(f.ctx, f.site)
	if err != nil || len(live) != 2 {
		t.Fatalf("%+v %v", live, err)
	}
	byID := map[string]LiveVisitor{}
	for _, v := range live {
		byID[v.Visitor] = v
	}
	known, browsing := byID["v-known"], byID["v-browsing"]
	if known.Contact == nil || known.Contact.Name != "Kim" || known.Contact.Email != "kim@example.com" || !known.Invitable || known.Pages != 2 || known.Page != "/" {
		t.Fatalf("known: %+v", known)
	}
	if browsing.Contact != nil || browsing.Invitable || browsing.Returning {
		t.Fatalf("browsing: %+v", browsing)
	}

	bea, _ := f.bea()
	for _, bad := range []InviteRequest{{Text: "", Queue: "Support"}, {Text: "Hi", Queue: "Nope"}, {Text: strings.Repeat("x", 501), Queue: "Support"},
		{Text: "\xff\xfe", Queue: "Support"}} {
		var fe *store.FieldError
		if _, err := f.s.Invite(f.ctx, store.System, bea, f.site, "v-known", bad); !errors.As(err, &fe) {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
	if _, err := f.s.Invite(f.ctx, store.System, bea, f.site, "v-browsing", InviteRequest{Text: "Hi", Queue: "Support"}); !errors.Is(err, ErrNotOnSite) {
		t.Fatalf("a visitor whose page does not poll: %v", err)
	}
	off := f.site
	off.Settings.PushOffers = false
	if _, err := f.s.Invite(f.ctx, store.System, bea, off, "v-known", InviteRequest{Text: "Hi", Queue: "Support"}); !errors.Is(err, ErrNoPush) {
		t.Fatalf("a site without pushed offers: %v", err)
	}
	if _, err := f.s.Invite(f.ctx, store.System, bea, f.site, "v-known", InviteRequest{Text: "Can I help you choose?", Queue: "Support"}); err != nil {
		t.Fatal(err)
	}
	got, _ := f.s.PollOffers(f.ctx, f.site, []string{"v-known"}, time.Now())
	if len(got) != 1 || got[0].Rule != "invite" || got[0].Text != "Can I help you choose?" || got[0].Metadata["invitation"] != got[0].ID {
		t.Fatalf("the page's poll: %+v", got)
	}

	// The page sends the offer back as the chat's start: the server knows the agent.
	meta := chat.Meta{Offer: &chat.OfferMeta{ID: "invite", Queue: "Support", Data: map[string]string{"invitation": got[0].ID}, Agent: "someone-the-page-chose"}}
	if err := f.s.ResolveOffer(f.ctx, f.site, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Offer.Agent != bea.User || meta.Offer.Source != "invitation" || meta.Offer.Name != "Invitation from Bea" || meta.Offer.Data["invitation"] != "" {
		t.Fatalf("resolved: %+v", meta.Offer)
	}
	// A made-up invitation, or one for another site, names nobody.
	for _, m := range []chat.Meta{
		{Offer: &chat.OfferMeta{ID: "invite", Data: map[string]string{"invitation": "01MADEUP"}, Agent: bea.User}},
		{Offer: &chat.OfferMeta{ID: "page", Agent: bea.User}},
	} {
		f.s.ResolveOffer(f.ctx, f.site, &m)
		if m.Offer.Agent != "" || m.Offer.Source == "invitation" {
			t.Fatalf("%+v", m.Offer)
		}
	}
	other := f.site
	other.ID = "another-site"
	m := chat.Meta{Offer: &chat.OfferMeta{ID: "invite", Data: map[string]string{"invitation": got[0].ID}}}
	f.s.ResolveOffer(f.ctx, other, &m)
	if m.Offer.Agent != "" {
		t.Fatal("an invitation worked on another site")
	}
}

// TestAnInvitedChatGoesToItsAgentFirst: invariant, over random orders of
// who is available and how busy: a chat started from an invitation is
// offered to the inviting agent when they can take it, and otherwise to
// someone who can, never left waiting while someone could take it.
func TestAnInvitedChatGoesToItsAgentFirst(t *testing.T) {
	f := newFixture(t)
	f.site.Settings.PushOffers = true
	bea, beaOffers := f.bea()
	ann := f.ann()
	r := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	for i := range 12 {
		beaFree := r.IntN(3) != 0
		presence := chat.Available
		if !beaFree {
			presence = chat.Away
		}
		if err := f.s.Chat.SetPresence(f.ctx, bea, presence); err != nil {
			t.Fatal(err)
		}
		f.s.Chat.SetPresence(f.ctx, ann, chat.Available)
		visitor := "v-invited-" + string(rune('a'+i))
		f.s.PollOffers(f.ctx, f.site, []string{visitor}, time.Now())
		o, err := f.s.Invite(f.ctx, store.System, bea, f.site, visitor, InviteRequest{Text: "Hi", Queue: "Support"})
		if err != nil {
			t.Fatal(err)
		}
		meta := chat.Meta{Offer: &chat.OfferMeta{ID: "invite", Queue: "Support", Data: map[string]string{"invitation": o.ID}}}
		if err := f.s.ResolveOffer(f.ctx, f.site, &meta); err != nil {
			t.Fatal(err)
		}
		v, _, err := f.s.Chat.Start(f.ctx, f.site, visitor, meta)
		if err != nil {
			t.Fatal(err)
		}
		f.s.Chat.Flush()
		if beaFree && !beaOffers.has(v.Conversation) {
			t.Fatalf("round %d: Bea was free and did not get her invitation's chat", i)
		}
		if !beaFree && beaOffers.has(v.Conversation) {
			t.Fatalf("round %d: offered to Bea while away", i)
		}
		// Either way it is offered to someone who can take it, not left waiting.
		live, err := f.s.Chat.LiveState(f.ctx, f.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range live.Queues {
			if q.Offered != q.Waiting {
				t.Fatalf("round %d: %d waiting, %d offered", i, q.Waiting, q.Offered)
			}
		}
		f.s.Chat.VisitorClose(f.ctx, v)
	}
}
