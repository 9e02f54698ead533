package ops

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/email"
	"github.com/nudgehq/nudge/email/mailtest"
	"github.com/nudgehq/nudge/store"
)

// mailTo is an address no other test sends to.
func mailTo(who string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return fmt.Sprintf("%s-%x@example.com", who, b)
}

// useMailpit sets the tenant's email to the test SMTP server and starts
// the mailer.
func (f *fixture) useMailpit(change func(*email.Settings)) *mailtest.Server {
	f.t.Helper()
	mp := mailtest.Shared(f.t)
	set := email.Settings{Enabled: true, Host: mp.Host, Port: mp.Port, Security: email.None, From: "help@shop.example", FromName: "Shop",
		Transcripts: true, OfflineMessages: true, MissedChats: true}
	if change != nil {
		change(&set)
	}
	if _, err := f.s.SetEmailSettings(f.ctx, store.System, f.tenant.ID, set, nil); err != nil {
		f.t.Fatal(err)
	}
	f.s.Mail.Start()
	return mp
}

func (f *fixture) ann() chat.Agent {
	f.t.Helper()
	u, err := f.s.Store.UserByEmail(f.ctx, "ann@shop.test")
	if err != nil {
		f.t.Fatal(err)
	}
	return chat.Agent{Tenant: f.tenant.ID, User: u.ID, Name: "Ann"}
}

func (f *fixture) visitor(conversation string) chat.Visitor {
	f.t.Helper()
	c, err := f.s.Store.Conversation(f.ctx, f.tenant.ID, conversation)
	if err != nil {
		f.t.Fatal(err)
	}
	return chat.Visitor{Tenant: f.tenant.ID, Site: f.site.ID, ID: c.Visitor, Conversation: c.ID}
}

// mails waits until the conversation has n emails of a kind in the outbox,
// done (sent or failed), and returns them.
func (f *fixture) mails(conversation, kind string, n int) []MailView {
	f.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		f.s.Chat.Flush()
		ms, _, err := f.s.Mails(f.ctx, f.tenant.ID, store.MailFilter{ConversationID: conversation, Kind: kind}, store.Page{})
		if err != nil {
			f.t.Fatal(err)
		}
		done := 0
		for _, m := range ms {
			if m.Status == store.MailSent || m.Status == store.MailFailed || m.Attempts > 0 && m.LastError != "" {
				done++
			}
		}
		if done >= n {
			return ms
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d of %d %s emails done: %+v", done, n, kind, ms)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAVisitorGetsTheTranscriptOfTheirClosedChat(t *testing.T) {
	f := newFixture(t)
	mp := f.useMailpit(nil)
	id := f.chat("v-transcript", "My card is 4111 1111 1111 1111, can you check the order?")
	v := f.visitor(id)
	if err := f.s.Chat.Accept(f.ctx, f.ann(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Chat.AgentSend(f.ctx, f.ann(), id, chat.Message{Text: "Checked: it ships today."}); err != nil {
		t.Fatal(err)
	}
	to := mailTo("visitor")
	if err := f.s.RequestTranscript(f.ctx, v, to); !errors.Is(err, chat.ErrState) || !strings.Contains(chat.Explain(err), "once the chat has ended") {
		t.Fatalf("an open chat's transcript: %v", err)
	}
	if err := f.s.Chat.VisitorClose(f.ctx, v); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"not an address", "a@b.example\r\nBcc: eve@example.com", "Eve <eve@example.com>"} {
		if err := f.s.RequestTranscript(f.ctx, v, bad); !errors.Is(err, chat.ErrInvalid) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if err := f.s.RequestTranscript(f.ctx, v, ""); !errors.Is(err, chat.ErrInvalid) || !strings.Contains(chat.Explain(err), "email address") {
		t.Fatalf("no address and none verified: %v", err)
	}
	// Someone else's conversation: another visitor id, or another site.
	other := v
	other.ID = "someone-else"
	if err := f.s.RequestTranscript(f.ctx, other, to); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("another visitor's chat: %v", err)
	}
	other = v
	other.Site = "another-site"
	if err := f.s.RequestTranscript(f.ctx, other, to); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("another site's chat: %v", err)
	}
	if err := f.s.RequestTranscript(f.ctx, v, to); err != nil {
		t.Fatal(err)
	}
	got := mp.Wait(t, to, 1)[0]
	text := strings.ReplaceAll(got.Text, "\r\n", "\n")
	if got.Subject != "Your chat with shop" || !strings.Contains(text, "You:\n  My card is ████ ████ ████ ████, can you check") ||
		!strings.Contains(text, "Ann:\n  Checked: it ships today.") || strings.Contains(text+got.HTML, "4111") {
		t.Fatalf("transcript: %q\n%s", got.Subject, text)
	}
	// Twice more (a mistyped address), then no more.
	for range MaxTranscripts - 1 {
		if err := f.s.RequestTranscript(f.ctx, v, mailTo("again")); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.s.RequestTranscript(f.ctx, v, mailTo("more")); !errors.Is(err, chat.ErrState) {
		t.Fatalf("a fourth transcript: %v", err)
	}
	f.mails(id, MailTranscript, MaxTranscripts)
	// Erasing the visitor erases their emails too.
	if _, err := f.s.EraseVisitor(f.ctx, store.System, f.tenant.ID, f.site.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.s.Store.CountMail(f.ctx, f.tenant.ID, id, MailTranscript); n != 0 {
		t.Fatalf("%d transcript emails outlived the erasure", n)
	}
}

func TestAVerifiedVisitorGetsTheTranscriptWithoutTypingAnAddress(t *testing.T) {
	f := newFixture(t)
	mp := f.useMailpit(nil)
	to := mailTo("known")
	id := f.chatWith("v-known", chat.Meta{Identity: &chat.Identity{ID: "u-1", Email: to, Verified: true}}, "Hello")
	v := f.visitor(id)
	f.s.Chat.VisitorClose(f.ctx, v)
	if err := f.s.RequestTranscript(f.ctx, v, ""); err != nil {
		t.Fatal(err)
	}
	mp.Wait(t, to, 1)
}

func TestTranscriptsAreRefusedWhereTheyAreNotSent(t *testing.T) {
	f := newFixture(t)
	id := f.chat("v-none", "Hello")
	v := f.visitor(id)
	f.s.Chat.VisitorClose(f.ctx, v)
	if err := f.s.RequestTranscript(f.ctx, v, mailTo("x")); !errors.Is(err, chat.ErrState) || !strings.Contains(chat.Explain(err), "not sent by email here") {
		t.Fatalf("no email settings: %v", err)
	}
	f.useMailpit(func(s *email.Settings) { s.Transcripts = false })
	if err := f.s.RequestTranscript(f.ctx, v, mailTo("x")); !errors.Is(err, chat.ErrState) {
		t.Fatalf("transcripts off: %v", err)
	}
}

func TestALeftMessageReachesTheQueuesAgents(t *testing.T) {
	f := newFixture(t)
	mp := f.useMailpit(nil)
	if err := f.s.Chat.SetPresence(f.ctx, f.ann(), chat.Away); err != nil {
		t.Fatal(err)
	}
	// The queue's people: Ann, and Bea (whose profile answers every queue).
	bea := mailTo("bea")
	if _, err := f.s.Store.CreateUser(f.ctx, store.System, f.tenant.ID, store.User{Email: bea, Name: "Bea", PasswordHash: "x"}, "supervisor"); err != nil {
		t.Fatal(err)
	}
	v, _, err := f.s.Chat.Start(f.ctx, f.site, "v-left", chat.Meta{Page: &chat.PageMeta{URL: "https://shop.example/cart", Title: "Cart"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.Chat.LeaveMessage(f.ctx, v, "Bob\r\nBcc: eve@example.com", "bob@example.com", "Call me back please. Card 4111-1111-1111-1111."); err != nil {
		t.Fatal(err)
	}
	m := mp.Wait(t, bea, 1)[0]
	if len(m.To) != 2 {
		t.Fatalf("to %+v, want Ann and Bea", m.To)
	}
	text := strings.ReplaceAll(m.Text, "\r\n", "\n")
	if !strings.HasPrefix(m.Subject, "Message from Bob") || strings.ContainsAny(m.Subject, "\r\n") || len(m.ReplyTo) != 1 || m.ReplyTo[0].Address != "bob@example.com" ||
		!strings.Contains(text, "Call me back please. Card ████-████-████-████.") || !strings.Contains(text, "Page: https://shop.example/cart") {
		t.Fatalf("left message: %+v\n%s", m, text)
	}
	// With a notification address, it goes there instead.
	notify := mailTo("team")
	f.useMailpit(func(s *email.Settings) { s.NotifyAddress = notify })
	v, _, _ = f.s.Chat.Start(f.ctx, f.site, "v-left-2", chat.Meta{})
	if err := f.s.Chat.LeaveMessage(f.ctx, v, "", "", "Second"); err != nil {
		t.Fatal(err)
	}
	if m := mp.Wait(t, notify, 1)[0]; !strings.Contains(m.Text, "The visitor left no email address.") || len(m.ReplyTo) != 0 {
		t.Fatalf("%+v", m)
	}
}

func TestAChatNobodyAnsweredIsNotified(t *testing.T) {
	f := newFixture(t)
	notify := mailTo("missed")
	mp := f.useMailpit(func(s *email.Settings) { s.NotifyAddress = notify })
	// Ann is full (three chats): the fourth waits, then its visitor leaves.
	var busy []string
	for i := range chat.DefaultCapacity {
		busy = append(busy, f.chat(fmt.Sprint("v-busy-", i), "Hi"))
	}
	id := f.chat("v-waits", "Is anyone there?")
	c, _ := f.s.Store.Conversation(f.ctx, f.tenant.ID, id)
	if c.Status != chat.StatusQueued {
		t.Fatalf("status %s", c.Status)
	}
	if err := f.s.Chat.VisitorClose(f.ctx, f.visitor(id)); err != nil {
		t.Fatal(err)
	}
	m := mp.Wait(t, notify, 1)[0]
	if m.Subject != "Missed chat on shop" || !strings.Contains(m.Text, "Is anyone there?") || !strings.Contains(m.Text, "(Support)") {
		t.Fatalf("%+v", m)
	}
	// An answered chat that closes is not missed.
	if err := f.s.Chat.Accept(f.ctx, f.ann(), busy[0]); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Chat.VisitorClose(f.ctx, f.visitor(busy[0])); err != nil {
		t.Fatal(err)
	}
	f.s.Chat.Flush()
	if ms, _, _ := f.s.Mails(f.ctx, f.tenant.ID, store.MailFilter{Kind: MailMissed}, store.Page{}); len(ms) != 1 {
		t.Fatalf("%d missed-chat emails", len(ms))
	}
}

// TestAnUnreachableServerLeavesTheChatAlone: the left message is stored
// and the chat closed; the email waits for a retry, its error in the log.
func TestAnUnreachableServerLeavesTheChatAlone(t *testing.T) {
	f := newFixture(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	f.useMailpit(func(s *email.Settings) { s.Port = port })
	f.s.Chat.SetPresence(f.ctx, f.ann(), chat.Away)
	v, _, err := f.s.Chat.Start(f.ctx, f.site, "v-down", chat.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.Chat.LeaveMessage(f.ctx, v, "Bob", "bob@example.com", "Still there?"); err != nil {
		t.Fatal(err)
	}
	ms := f.mails(v.Conversation, MailOffline, 1)
	if ms[0].Status != store.MailPending || !strings.Contains(ms[0].LastError, fmt.Sprintf("could not connect to 127.0.0.1:%d", port)) {
		t.Fatalf("%+v", ms[0])
	}
	if c, _ := f.s.Store.Conversation(f.ctx, f.tenant.ID, v.Conversation); c.Status != chat.StatusClosed || c.CloseReason != "offline_message" {
		t.Fatalf("the chat: %+v", c)
	}
}

func TestEmailSettingsKeepTheirPasswordAndRefuseBadInput(t *testing.T) {
	f := newFixture(t)
	pw := "hunter2"
	in := email.Settings{Enabled: true, Host: "smtp.shop.example", Username: "help", From: "help@shop.example"}
	shown, err := f.s.SetEmailSettings(f.ctx, store.System, f.tenant.ID, in, &pw)
	if err != nil || !shown.PasswordSet || shown.Password != "" || shown.Port != 587 {
		t.Fatalf("%+v %v", shown, err)
	}
	// Saved again without a password: kept for the same server and user.
	in.FromName = "Shop"
	if shown, _ = f.s.SetEmailSettings(f.ctx, store.System, f.tenant.ID, in, nil); !shown.PasswordSet {
		t.Fatal("the password was dropped")
	}
	// Another server: the password is not carried to it.
	in.Host = "smtp.elsewhere.example"
	if shown, _ = f.s.SetEmailSettings(f.ctx, store.System, f.tenant.ID, in, nil); shown.PasswordSet {
		t.Fatal("the password went to another server")
	}
	bad := in
	bad.FromName = "Shop\r\nBcc: eve@example.com"
	if _, err := f.s.SetEmailSettings(f.ctx, store.System, f.tenant.ID, bad, nil); !errors.Is(err, ErrEmail) {
		t.Fatalf("%v", err)
	}
	if got, _ := f.s.EmailSettings(f.ctx, f.tenant.ID); got.FromName != "Shop" || got.Host != "smtp.elsewhere.example" {
		t.Fatalf("a refused change changed them: %+v", got)
	}
	if _, err := f.s.SendTestMail(f.ctx, f.tenant.ID, "nobody"); !errors.Is(err, ErrEmail) {
		t.Fatalf("%v", err)
	}
}

// The delivery log keeps MailLogKept: housekeeping prunes what was sent or
// failed before, never what still waits to be sent.
func TestHousekeepingPrunesTheDeliveryLog(t *testing.T) {
	f := newFixture(t)
	add := func(status string) string {
		m := store.Mail{ID: store.NewID(), TenantID: f.tenant.ID, Kind: MailTest, Request: []byte(`{"to":"a@example.com"}`)}
		if err := f.s.Store.AddMail(f.ctx, m); err != nil {
			t.Fatal(err)
		}
		if status != store.MailPending {
			f.s.Store.MailOutcome(f.ctx, m.ID, status, "", nil)
		}
		return m.ID
	}
	sent, failed, waiting := add(store.MailSent), add(store.MailFailed), add(store.MailPending)
	f.s.Housekeep(f.ctx, time.Now().Add(MailLogKept-time.Hour))
	for _, id := range []string{sent, failed, waiting} {
		if _, err := f.s.Store.Mail(f.ctx, f.tenant.ID, id); err != nil {
			t.Fatalf("pruned within %v: %v", MailLogKept, err)
		}
	}
	f.s.Housekeep(f.ctx, time.Now().Add(MailLogKept+time.Hour))
	for id, kept := range map[string]bool{sent: false, failed: false, waiting: true} {
		if _, err := f.s.Store.Mail(f.ctx, f.tenant.ID, id); (err == nil) != kept {
			t.Errorf("mail %s: kept %v, want %v", id, err == nil, kept)
		}
	}
}
