package ops

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/store"
)

// leave has a visitor leave a message on the offline form (Ann is away).
func (f *fixture) leave(visitor, name, address, text string) string {
	f.t.Helper()
	f.s.Chat.SetPresence(f.ctx, f.ann(), chat.Away)
	v, _, err := f.s.Chat.Start(f.ctx, f.site, visitor, chat.Meta{Page: &chat.PageMeta{URL: "https://shop.example/contact"}})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.Chat.LeaveMessage(f.ctx, v, name, address, text); err != nil {
		f.t.Fatal(err)
	}
	f.s.Chat.Flush()
	return v.Conversation
}

func TestLeftMessagesAreWorkForTheirQueue(t *testing.T) {
	f := newFixture(t)
	mp := f.useMailpit(nil)
	to := mailTo("bob")
	id := f.leave("v-left", "Bob", to, "Please call me about my order.")
	noAddress := f.leave("v-anon", "", "", "No address here.")
	supervisor := chat.Agent{Tenant: f.tenant.ID, User: "sup", Name: "Sue", Supervise: true}
	ann := f.ann()

	ls, _, err := f.s.LeftMessages(f.ctx, supervisor, store.LeftFilter{State: "new"}, store.Page{})
	if err != nil || len(ls) != 2 || ls[1].ConversationID != id || ls[1].Name != "Bob" || ls[1].Email != to ||
		ls[1].Text != "Please call me about my order." || ls[1].Page != "https://shop.example/contact" || ls[1].State != "new" {
		t.Fatalf("%+v %v", ls, err)
	}
	// An agent who answers another queue sees none of them, and cannot answer one.
	other, _ := f.s.Store.CreateQueue(f.ctx, store.System, store.Queue{TenantID: f.tenant.ID, Name: "Billing", Config: json.RawMessage(`{}`)})
	if err := f.s.Store.SetAgentConfig(f.ctx, store.System, store.AgentConfig{TenantID: f.tenant.ID, UserID: ann.User,
		Config: json.RawMessage(`{"queues":["` + other.ID + `"]}`)}); err != nil {
		t.Fatal(err)
	}
	if ls, _, _ := f.s.LeftMessages(f.ctx, ann, store.LeftFilter{}, store.Page{}); len(ls) != 0 {
		t.Fatalf("another queue's agent sees %d", len(ls))
	}
	if err := f.s.AnswerLeftMessage(f.ctx, store.System, ann, id, "Hello"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("another queue's agent answers: %v", err)
	}
	f.s.Store.SetAgentConfig(f.ctx, store.System, store.AgentConfig{TenantID: f.tenant.ID, UserID: ann.User, Config: json.RawMessage(`{}`)})

	for _, bad := range []string{"", "   ", strings.Repeat("x", chat.MaxText+1)} {
		if err := f.s.AnswerLeftMessage(f.ctx, store.System, ann, id, bad); !errors.Is(err, chat.ErrInvalid) {
			t.Fatalf("answer %q: %v", bad[:min(len(bad), 10)], err)
		}
	}
	if err := f.s.AnswerLeftMessage(f.ctx, store.System, ann, noAddress, "Hi"); !errors.Is(err, chat.ErrState) || !strings.Contains(chat.Explain(err), "no email address") {
		t.Fatalf("no address: %v", err)
	}
	if err := f.s.AnswerLeftMessage(f.ctx, store.System, ann, id, "We will call you at noon."); err != nil {
		t.Fatal(err)
	}
	m := mp.Wait(t, to, 1)[0]
	text := strings.ReplaceAll(m.Text, "\r\n", "\n")
	if m.Subject != "Re: your message to shop" || !strings.HasPrefix(text, "We will call you at noon.\n\nAnn, shop") || !strings.Contains(text, "> Please call me about my order.") {
		t.Fatalf("%q\n%s", m.Subject, text)
	}
	ls, _, _ = f.s.LeftMessages(f.ctx, supervisor, store.LeftFilter{State: "answered"}, store.Page{})
	if len(ls) != 1 || ls[0].AnsweredBy != "Ann" || ls[0].AnsweredAt == nil {
		t.Fatalf("answered: %+v", ls)
	}
	// The answer is in the conversation, for the transcript and search.
	ms, _ := f.s.visitorMessages(f.ctx, mustConversation(t, f, id))
	if last := ms[len(ms)-1]; last.Sender.Kind != "agent" || last.Text != "We will call you at noon." {
		t.Fatalf("last message: %+v", last)
	}
	// Marked answered by phone, then new again.
	yes, no := true, false
	if err := f.s.MarkLeftMessage(f.ctx, store.System, ann, noAddress, &yes); err != nil {
		t.Fatal(err)
	}
	if err := f.s.MarkLeftMessage(f.ctx, store.System, ann, noAddress, nil); err == nil {
		t.Fatal("a mark without answered")
	}
	// Counted in the chat reports.
	aggs, err := f.s.Store.ChatAggregates(f.ctx, f.tenant.ID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "queue", time.UTC)
	if err != nil || len(aggs) != 1 || aggs[0].LeftMessages != 2 || aggs[0].LeftAnswered != 2 {
		t.Fatalf("%+v %v", aggs, err)
	}
	f.s.MarkLeftMessage(f.ctx, store.System, ann, noAddress, &no)
	if ls, _, _ := f.s.LeftMessages(f.ctx, supervisor, store.LeftFilter{State: "new"}, store.Page{}); len(ls) != 1 || ls[0].ConversationID != noAddress {
		t.Fatalf("new again: %+v", ls)
	}
	// Not a left message: absent.
	f.s.Chat.SetPresence(f.ctx, ann, chat.Available)
	if err := f.s.MarkLeftMessage(f.ctx, store.System, ann, f.chat("v-chat", "hi"), &yes); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%v", err)
	}
}

func TestALeftMessageIsNotAnsweredWithoutEmail(t *testing.T) {
	f := newFixture(t)
	id := f.leave("v-left", "Bob", "bob@example.com", "Hello?")
	if err := f.s.AnswerLeftMessage(f.ctx, store.System, f.ann(), id, "Hi Bob"); !errors.Is(err, chat.ErrState) || !strings.Contains(chat.Explain(err), "Email page") {
		t.Fatalf("%v", err)
	}
	if l, _ := f.s.Store.LeftMessage(f.ctx, f.tenant.ID, id); l.AnsweredAt != nil {
		t.Fatal("marked answered without an email")
	}
}

func mustConversation(t *testing.T, f *fixture, id string) store.Conversation {
	c, err := f.s.Store.Conversation(f.ctx, f.tenant.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
