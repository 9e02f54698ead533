package ops

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/store"
)

// browse records a visit of visitor: pages, each left after seconds.
func (f *fixture) browse(visitor string, at time.Time, pages []string, seconds []int64) {
	f.t.Helper()
	var evs []analytics.Event
	ts := at.UnixMilli()
	for i, p := range pages {
		u := "https://shop.example.com" + p
		evs = append(evs, analytics.Event{Type: "pageview", URL: u, TS: ts},
			analytics.Event{Type: "leave", URL: u, TS: ts + seconds[i]*1000, EngagedMS: seconds[i] * 1000})
		ts += seconds[i]*1000 + 1
	}
	b := &analytics.Batch{Site: f.site.Key, Visitor: visitor, Sent: ts, Events: evs}
	if _, err := f.s.Ingest.Accept(f.ctx, &f.site, b, analytics.Meta{IP: "192.0.2.1", UserAgent: desktopUA, Now: time.UnixMilli(ts)}); err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.Ingest.Flush(f.ctx); err != nil {
		f.t.Fatal(err)
	}
}

// TestTheAgentSeesTheCustomer: beside a chat, the contact and how it was
// verified, this visit's pages in order with the time on each, and the
// customer's earlier conversations on every device, within the agent's
// queues; an earlier one opens read-only, another customer's does not.
func TestTheAgentSeesTheCustomer(t *testing.T) {
	f := newFixture(t)
	ann := f.ann()
	sup := chat.Agent{Tenant: f.tenant.ID, User: "sup", Name: "Sue", Supervise: true}
	billing, err := f.s.Store.CreateQueue(f.ctx, store.System, store.Queue{TenantID: f.tenant.ID, Name: "Wholesale", Config: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	f.s.Chat.Reload(f.ctx, f.tenant.ID)
	ada := &chat.Identity{ID: "cust-ada", Email: "ada@example.com", Name: "Ada", Verified: true, By: "token"}
	start := func(visitor string, meta chat.Meta) chat.Visitor {
		v, _, err := f.s.Chat.Start(f.ctx, f.site, visitor, meta)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Chat.VisitorSend(f.ctx, v, chat.Message{Text: "Hello from " + visitor}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Ada's earlier chats: one on her phone (Support), one on the laptop in Wholesale.
	phone := start("phone", chat.Meta{Identity: ada})
	f.s.Identified(f.site, "phone", ada, "token")
	f.s.Chat.VisitorClose(f.ctx, phone)
	billed := start("laptop", chat.Meta{Identity: ada, Offer: &chat.OfferMeta{ID: "x", Queue: billing.ID}})
	f.s.Chat.VisitorClose(f.ctx, billed)
	stranger := start("stranger", chat.Meta{})
	f.s.Chat.VisitorClose(f.ctx, stranger)
	// Now on the laptop, after three pages.
	t0 := time.Now().Add(-2 * time.Minute)
	f.browse("laptop", t0, []string{"/", "/pricing", "/checkout"}, []int64{12, 40, 5})
	now := start("laptop", chat.Meta{Identity: ada})
	f.s.Identified(f.site, "laptop", ada, "token")
	f.s.Links.Flush(f.ctx)
	if err := f.s.Chat.Accept(f.ctx, ann, now.Conversation); err != nil {
		t.Fatal(err)
	}

	cc, err := f.s.ChatContext(f.ctx, ann, now.Conversation)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Contact == nil || cc.Contact.ExternalID != "cust-ada" || cc.Contact.Name != "Ada" || cc.Verified != "token" || cc.Contact.Conversations != 3 {
		t.Fatalf("contact: %+v verified %q", cc.Contact, cc.Verified)
	}
	if cc.Visit == nil || len(cc.Visit.Pages) != 3 || cc.Visit.Pages[0].Path != "/" || cc.Visit.Pages[1].Path != "/pricing" || cc.Visit.Pages[1].Seconds != 40 ||
		cc.Visit.Pages[2].Path != "/checkout" {
		t.Fatalf("visit: %+v", cc.Visit)
	}
	ids := func(cs []store.ContactConversation) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	want := []string{phone.Conversation, billed.Conversation}
	slices.Sort(want)
	if got := ids(cc.Earlier); !slices.Equal(got, want) {
		t.Fatalf("earlier for Ann (every queue): %v, want %v", got, want)
	}
	// Ann answers Support only: the Wholesale chat is not hers to see.
	support := ""
	if c, _ := f.s.Store.Conversation(f.ctx, f.tenant.ID, phone.Conversation); c.QueueID != "" {
		support = c.QueueID
	}
	f.s.Store.SetAgentConfig(f.ctx, store.System, store.AgentConfig{TenantID: f.tenant.ID, UserID: ann.User, Config: json.RawMessage(`{"queues":["` + support + `"]}`)})
	cc, err = f.s.ChatContext(f.ctx, ann, now.Conversation)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(cc.Earlier); !slices.Equal(got, []string{phone.Conversation}) {
		t.Fatalf("earlier within Ann's queues (%s): %+v", support, cc.Earlier)
	}
	if cs, _ := f.s.ChatContext(f.ctx, sup, now.Conversation); len(cs.Earlier) != 2 {
		t.Fatalf("the supervisor sees %d", len(cs.Earlier))
	}
	tr, err := f.s.EarlierTranscript(f.ctx, ann, now.Conversation, phone.Conversation)
	if err != nil || len(tr.Messages) == 0 || !slices.ContainsFunc(tr.Messages, func(m chat.Message) bool { return m.Text == "Hello from phone" }) {
		t.Fatalf("the earlier chat: %+v %v", tr.Messages, err)
	}
	for name, id := range map[string]string{"another queue's": billed.Conversation, "another customer's": stranger.Conversation, "this one": now.Conversation} {
		if _, err := f.s.EarlierTranscript(f.ctx, ann, now.Conversation, id); !errors.Is(err, chat.ErrNotFound) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A chat Ann is not in: nothing.
	if _, err := f.s.ChatContext(f.ctx, ann, stranger.Conversation); err == nil {
		t.Fatal("Ann read a chat she is not in")
	}

	// The contact's page: its visits, conversations and offers, by name.
	at := time.Now()
	offer := &analytics.Batch{Site: f.site.Key, Visitor: "laptop", Sent: at.UnixMilli(), Events: []analytics.Event{
		{Type: "offer", URL: "https://shop.example.com/", TS: at.UnixMilli(), Offer: &analytics.Offer{Rule: "push", Variant: "offer", Stage: "shown"}}}}
	if _, err := f.s.Ingest.Accept(f.ctx, &f.site, offer, analytics.Meta{IP: "192.0.2.1", UserAgent: desktopUA, Now: at}); err != nil {
		t.Fatal(err)
	}
	f.s.Ingest.Flush(f.ctx)
	page, err := f.s.Contact(f.ctx, f.tenant.ID, cc.Contact.ID)
	if err != nil || page.VisitCount < 1 || len(page.Visits) < 1 || len(page.Conversations) != 3 {
		t.Fatalf("page: %+v %v", page, err)
	}
	if len(page.Offers) != 1 || page.Offers[0].Name != "An offer pushed by the site" || page.Offers[0].Shown != 1 {
		t.Fatalf("offers: %+v", page.Offers)
	}
}

// An unverified chat of a browser verified earlier (on /collect) shows the
// contact as known, not verified.
func TestAChatOfAKnownBrowserShowsItsContactUnverified(t *testing.T) {
	f := newFixture(t)
	f.identify("v-known", "cust-kim", "kim@example.com", "Kim", false)
	id := f.chat("v-known", "Hi")
	sup := chat.Agent{Tenant: f.tenant.ID, User: "sup", Name: "Sue", Supervise: true}
	cc, err := f.s.ChatContext(f.ctx, sup, id)
	if err != nil || cc.Contact == nil || cc.Contact.Name != "Kim" || cc.Verified != "" {
		t.Fatalf("%+v %v", cc, err)
	}
}
