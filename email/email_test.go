package email

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/email/mailtest"
	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m, mailtest.Stop)) }

// unique is an address no other test sends to.
func unique(t *testing.T, who string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return fmt.Sprintf("%s-%x@example.com", who, b)
}

func mailpitSettings(t *testing.T) (Settings, *mailtest.Server) {
	mp := mailtest.Shared(t)
	s := Settings{Enabled: true, Host: mp.Host, Port: mp.Port, Security: StartTLS, Username: "nudge", Password: "pw-canary-7f3a",
		From: "support@shop.example", FromName: "Shop support", Transcripts: true, OfflineMessages: true}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s, mp
}

func TestSettingsAreCheckedInThePersonsTerms(t *testing.T) {
	good := Settings{Host: "smtp.example.com", From: "help@example.com"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if good.Security != StartTLS || good.Port != 587 {
		t.Fatalf("defaults: %+v", good)
	}
	tls := Settings{Host: "smtp.example.com", From: "help@example.com", Security: TLS}
	if tls.Validate(); tls.Port != 465 {
		t.Fatalf("TLS port: %d", tls.Port)
	}
	for name, c := range map[string]struct {
		s    Settings
		want string
	}{
		"no host":             {Settings{From: "a@b.example"}, "host name is missing"},
		"host with a space":   {Settings{Host: "smtp example.com", From: "a@b.example"}, "not a host name"},
		"host with a newline": {Settings{Host: "smtp.example.com\r\nRCPT", From: "a@b.example"}, "not a host name"},
		"port":                {Settings{Host: "h.example", Port: 70000, From: "a@b.example"}, "1 to 65535"},
		"security":            {Settings{Host: "h.example", Security: "ssl3", From: "a@b.example"}, "starttls, tls or none"},
		"password in clear":   {Settings{Host: "h.example", Security: None, Username: "u", Password: "p", From: "a@b.example"}, "encrypted connection"},
		"password newline":    {Settings{Host: "h.example", Username: "u", Password: "p\r\nQUIT", From: "a@b.example"}, "one line"},
		"sender":              {Settings{Host: "h.example", From: "not an address"}, "sender's address"},
		"sender with a name":  {Settings{Host: "h.example", From: "Eve <eve@b.example>"}, "sender's address"},
		"sender injection":    {Settings{Host: "h.example", From: "a@b.example\r\nBcc: x@y.example"}, "sender's address"},
		"sender name newline": {Settings{Host: "h.example", From: "a@b.example", FromName: "Shop\r\nBcc: x@y.example"}, "sender's name"},
		"notify address":      {Settings{Host: "h.example", From: "a@b.example", NotifyAddress: "team@"}, "notification address"},
		"long user name":      {Settings{Host: "h.example", From: "a@b.example", Username: strings.Repeat("u", 300)}, "user name"},
	} {
		err := c.s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	shown := Settings{Host: "h.example", From: "a@b.example", Password: "hunter2"}.Show()
	b, _ := json.Marshal(shown)
	if strings.Contains(string(b), "hunter2") || !shown.PasswordSet {
		t.Fatalf("shown: %s", b)
	}
}

func TestOneLineKeepsHeadersToOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"Hello\r\nBcc: eve@example.com": "Hello Bcc: eve@example.com",
		"a\x00b\tc\u2028d":              "a b c d",
		"  spaced   out  ":              "spaced out",
		"ééééé":                         "éé…",
	} {
		if got := OneLine(in, 5); in == "ééééé" && got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		} else if in != "ééééé" && OneLine(in, 100) != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, OneLine(in, 100), want)
		}
	}
}

func TestSendDeliversTextAndEscapedHTMLOverSTARTTLS(t *testing.T) {
	s, mp := mailpitSettings(t)
	to := unique(t, "visitor")
	m := Transcript(TranscriptData{Site: "Shop", Start: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC), Lines: []Line{
		{At: time.Date(2026, 12, 6, 10, 0, 5, 0, time.UTC), Who: "You", Text: "<script>alert(1)</script> & my order"},
		{At: time.Date(2026, 12, 6, 10, 1, 0, 0, time.UTC), Who: "Ada", Text: "Found it.\nIt ships today."},
	}})
	m.To, m.MessageID, m.ReplyTo = []string{to}, "transcript-1@shop.example", "help@shop.example"
	if err := Send(context.Background(), s, m, SendOptions{RootCAs: mp.RootCAs}); err != nil {
		t.Fatal(err)
	}
	got := mp.Wait(t, to, 1)[0]
	got.Text = strings.ReplaceAll(got.Text, "\r\n", "\n")
	if got.Subject != "Your chat with Shop" || got.From.Address != "support@shop.example" || got.From.Name != "Shop support" ||
		got.MessageID != "transcript-1@shop.example" || len(got.ReplyTo) != 1 || got.ReplyTo[0].Address != "help@shop.example" {
		t.Fatalf("delivered: %+v", got)
	}
	if !strings.Contains(got.Text, "[10:00] You:\n  <script>alert(1)</script> & my order") || !strings.Contains(got.Text, "  Found it.\n  It ships today.") {
		t.Fatalf("text: %q", got.Text)
	}
	if strings.Contains(got.HTML, "<script>") || !strings.Contains(got.HTML, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; my order") {
		t.Fatalf("html: %q", got.HTML)
	}
}

func TestAHeaderInjectionStaysInItsHeader(t *testing.T) {
	s, mp := mailpitSettings(t)
	to, eve := unique(t, "agent"), unique(t, "eve")
	m := Offline(LeftMessage{Site: "Shop", Name: "Bob\r\nBcc: " + eve + "\r\nX-Evil: 1", Email: "bob@example.com\r\nBcc: " + eve, Text: "hi", At: time.Now()})
	m.To = []string{to}
	if err := Send(context.Background(), s, m, SendOptions{RootCAs: mp.RootCAs}); err != nil {
		t.Fatal(err)
	}
	got := mp.Wait(t, to, 1)[0]
	if strings.ContainsAny(got.Subject, "\r\n") || !strings.HasPrefix(got.Subject, "Message from Bob Bcc:") {
		t.Fatalf("subject: %q", got.Subject)
	}
	if len(got.ReplyTo) != 0 {
		t.Fatalf("a reply-to from a bad address: %+v", got.ReplyTo)
	}
	if h := mp.Headers(t, got.ID); h["X-Evil"] != nil || h["Bcc"] != nil {
		t.Fatalf("injected headers: %v", h)
	}
	if n := len(mp.Messages(t, eve)); n != 0 {
		t.Fatalf("%d emails reached the injected address", n)
	}
	// A recipient with a line break is refused before anything is sent.
	m.To = []string{to + "\r\nRCPT TO:<" + eve + ">"}
	var e *Error
	if err := Send(context.Background(), s, m, SendOptions{RootCAs: mp.RootCAs}); !errors.As(err, &e) || !e.Permanent {
		t.Fatalf("bad recipient: %v", err)
	}
}

// TestSendFailuresAreSentences: what the delivery log shows of a server
// that cannot be used, in the terms of whoever set it up.
func TestSendFailuresAreSentences(t *testing.T) {
	s, mp := mailpitSettings(t)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	port := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	api := strings.TrimPrefix(mp.API, "http://127.0.0.1:")
	apiPort := 0
	fmt.Sscan(api, &apiPort)
	m := Test("Shop")
	m.To = []string{unique(t, "admin")}
	for name, c := range map[string]struct {
		change func(*Settings)
		opts   SendOptions
		want   string
	}{
		"nothing listens":     {func(s *Settings) { s.Port = port }, SendOptions{RootCAs: mp.RootCAs}, fmt.Sprintf("could not connect to 127.0.0.1:%d", port)},
		"TLS on a plain port": {func(s *Settings) { s.Security = TLS }, SendOptions{RootCAs: mp.RootCAs, Timeout: 5 * time.Second}, "does not speak TLS from the first byte"},
		"untrusted":           {func(*Settings) {}, SendOptions{}, "is not trusted"},
		"no such host":        {func(s *Settings) { s.Host = "smtp.nudge-test.invalid" }, SendOptions{}, "was not found"},
		"not SMTP":            {func(s *Settings) { s.Port = apiPort }, SendOptions{RootCAs: mp.RootCAs, Timeout: 2 * time.Second}, "127.0.0.1:"},
	} {
		bad := s
		c.change(&bad)
		err := Send(context.Background(), bad, m, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
			continue
		}
		for _, word := range []string{"gomail", "go-mail", "dial tcp", "x509:", "tls:", "smtp:"} {
			if strings.Contains(err.Error(), word) {
				t.Errorf("%s: %q carries %q", name, err, word)
			}
		}
	}
}

type fixture struct {
	st     *store.Store
	dir    string
	tenant store.Tenant
	mp     *mailtest.Server
}

func newFixture(t *testing.T, s Settings) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, storetest.Path(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	master := make([]byte, keys.MasterSize)
	rand.Read(master)
	ring, err := keys.NewRing(ctx, master, st)
	if err != nil {
		t.Fatal(err)
	}
	st.SetSealer(ring)
	f := &fixture{st: st, dir: dir, mp: mailtest.Shared(t)}
	f.tenant, _ = st.CreateTenant(ctx, store.System, "Shop")
	doc, _ := json.Marshal(s)
	if err := st.SetEmailSettings(ctx, store.System, f.tenant.ID, doc, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

// compose writes the test email to the address in the request.
func compose(_ context.Context, m store.Mail, _ Settings) (Message, error) {
	var req struct{ To string }
	if err := json.Unmarshal(m.Request, &req); err != nil || req.To == "" {
		return Message{}, errors.New("the conversation is gone")
	}
	msg := Test("Shop")
	msg.To = []string{req.To}
	return msg, nil
}

func (f *fixture) queue(t *testing.T, to string) store.Mail {
	t.Helper()
	req, _ := json.Marshal(map[string]string{"To": to})
	m := store.Mail{ID: store.NewID(), TenantID: f.tenant.ID, Kind: "test", Request: req}
	if err := f.st.AddMail(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) mail(t *testing.T, id string) store.Mail {
	t.Helper()
	m, err := f.st.Mail(context.Background(), f.tenant.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitFor waits for a condition on an email of the outbox.
func (f *fixture) waitFor(t *testing.T, id string, ok func(store.Mail) bool) store.Mail {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		m := f.mail(t, id)
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail %s: %+v", id, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTheOutboxSendsEachEmailOnceAcrossRestarts: what a mailer sent is not
// sent again by the next one; what it left (queued, or claimed and never
// finished: a crash) is.
func TestTheOutboxSendsEachEmailOnceAcrossRestarts(t *testing.T) {
	s, mp := mailpitSettings(t)
	f := newFixture(t, s)
	to := unique(t, "many")
	var ids []string
	for range 20 {
		ids = append(ids, f.queue(t, to).ID)
	}
	m := New(Options{Store: f.st, Compose: compose, RootCAs: mp.RootCAs})
	m.Start()
	for _, id := range ids {
		f.waitFor(t, id, func(m store.Mail) bool { return m.Status == store.MailSent })
	}
	m.Close()
	// A crash in the middle of an attempt: claimed, claim run out.
	crashed := f.queue(t, to)
	if ok, err := f.st.ClaimMail(context.Background(), crashed, time.Millisecond, false); !ok || err != nil {
		t.Fatal(ok, err)
	}
	m = New(Options{Store: f.st, Compose: compose, RootCAs: mp.RootCAs, Poll: 10 * time.Millisecond})
	m.Start()
	defer m.Close()
	f.waitFor(t, crashed.ID, func(m store.Mail) bool { return m.Status == store.MailSent })
	got := mp.Wait(t, to, 21)
	seen := map[string]bool{}
	for _, g := range got {
		seen[g.MessageID] = true
	}
	if len(got) != 21 || len(seen) != 21 {
		t.Fatalf("%d emails, %d message ids; want 21 of each", len(got), len(seen))
	}
	if want := crashed.ID + "@shop.example"; !seen[want] {
		t.Fatalf("no %s among %v", want, seen)
	}
}

func TestAFailedAttemptIsRetriedThenFails(t *testing.T) {
	s, mp := mailpitSettings(t)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	s.Port = closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	f := newFixture(t, s)
	id := f.queue(t, unique(t, "retry")).ID
	m := New(Options{Store: f.st, Compose: compose, RootCAs: mp.RootCAs, Backoff: []time.Duration{time.Millisecond, time.Millisecond}, Poll: 5 * time.Millisecond})
	m.Start()
	defer m.Close()
	got := f.waitFor(t, id, func(m store.Mail) bool { return m.Status == store.MailFailed })
	if got.Attempts != 3 || !strings.Contains(got.LastError, "could not connect to 127.0.0.1") {
		t.Fatalf("after the retries: %+v", got)
	}
	// Sent again from the delivery log once the server is right.
	doc, _ := json.Marshal(Settings{Enabled: true, Host: mp.Host, Port: mp.Port, Security: None, From: "support@shop.example"})
	if err := f.st.SetEmailSettings(context.Background(), store.System, f.tenant.ID, doc, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RetryMail(context.Background(), store.System, f.tenant.ID, id); err != nil {
		t.Fatal(err)
	}
	m.Kick()
	if got = f.waitFor(t, id, func(m store.Mail) bool { return m.Status == store.MailSent }); got.Attempts != 4 {
		t.Fatalf("retried: %+v", got)
	}
	if err := f.st.RetryMail(context.Background(), store.System, f.tenant.ID, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("retrying a sent email: %v", err)
	}
}

func TestAnEmailThatCannotBeWrittenOrSentFailsAtOnce(t *testing.T) {
	s, mp := mailpitSettings(t)
	f := newFixture(t, s)
	ctx := context.Background()
	gone := store.Mail{ID: store.NewID(), TenantID: f.tenant.ID, Kind: "transcript", Request: json.RawMessage(`{}`)}
	if err := f.st.AddMail(ctx, gone); err != nil {
		t.Fatal(err)
	}
	m := New(Options{Store: f.st, Compose: compose, RootCAs: mp.RootCAs, Poll: 5 * time.Millisecond})
	m.Start()
	defer m.Close()
	got := f.waitFor(t, gone.ID, func(m store.Mail) bool { return m.Status == store.MailFailed })
	if got.Attempts != 1 || got.LastError != "the email could not be written: the conversation is gone" {
		t.Fatalf("%+v", got)
	}
	// Sending turned off: what is queued fails with a sentence saying so.
	s.Enabled = false
	doc, _ := json.Marshal(s)
	f.st.SetEmailSettings(ctx, store.System, f.tenant.ID, doc, nil)
	off := f.queue(t, unique(t, "off"))
	m.Kick()
	if got = f.waitFor(t, off.ID, func(m store.Mail) bool { return m.Status == store.MailFailed }); got.LastError != ErrNotSetUp.Error() {
		t.Fatalf("%+v", got)
	}
	// SendNow sends with the settings given, enabled or not, and answers.
	now := store.Mail{ID: store.NewID(), TenantID: f.tenant.ID, Kind: "test", Request: json.RawMessage(`{"To":"` + unique(t, "now") + `"}`)}
	later := time.Now().Add(time.Hour)
	now.NextAttemptAt = &later
	f.st.AddMail(ctx, now)
	if err := m.SendNow(ctx, now, s); err != nil {
		t.Fatal(err)
	}
	if got := f.mail(t, now.ID); got.Status != store.MailSent || got.Message == nil {
		t.Fatalf("%+v", got)
	}
}

func TestTheOutboxIsSealedAtRest(t *testing.T) {
	s, mp := mailpitSettings(t)
	f := newFixture(t, s)
	to := unique(t, "canary")
	id := f.queue(t, to).ID
	m := New(Options{Store: f.st, Compose: compose, RootCAs: mp.RootCAs})
	m.Start()
	f.waitFor(t, id, func(m store.Mail) bool { return m.Status == store.MailSent })
	m.Close()
	got := f.mail(t, id)
	var msg Message
	if err := json.Unmarshal(got.Message, &msg); err != nil || msg.To[0] != to {
		t.Fatalf("stored message: %s %v", got.Message, err)
	}
	f.st.Close()
	for name, b := range storetest.AtRest(t, f.st, f.dir) {
		for _, secret := range []string{to, "pw-canary-7f3a", "support@shop.example"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s holds %q in clear", name, secret)
			}
		}
	}
}

// A 5xx answer is a refusal for good: the outbox fails the email at once
// rather than retrying what the server will refuse again; a 4xx is retried.
func TestA5xxAnswerIsPermanent(t *testing.T) {
	for text, want := range map[string]bool{
		"failed to send mail: 550 5.1.1 <x@y.example>: Recipient address rejected": true,
		"554 Transaction failed":                      true,
		"421 4.7.0 Try again later":                   false,
		"451 Temporary local problem":                 false,
		"connection reset by peer":                    false,
		"the server said 5000 things, none of them 5": false,
	} {
		if got := permanentCode(text); got != want {
			t.Errorf("%q: %v, want %v", text, got, want)
		}
	}
}
