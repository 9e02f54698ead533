package server

import (
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/email/mailtest"
)

func newAddress(who string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return fmt.Sprintf("%s-%x@example.com", who, b)
}

// mailpitSettings is the settings body that sends through the test SMTP server.
func mailpitSettings(mp *mailtest.Server, port int) map[string]any {
	return map[string]any{"enabled": true, "host": mp.Host, "port": port, "security": "none", "from": "help@shop.example",
		"from_name": "Shop", "transcripts": true, "offline_messages": true, "missed_chats": false}
}

func TestAnAdminSetsUpEmailAndSendsATestMail(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Mailco")
	mp := mailtest.Shared(t)
	admin := h.login(f.users["admin"].Email, "password-admin")

	if res := admin.call("GET", "/api/email/settings", nil); res.Status != 200 || res.json(t)["security"] != "starttls" || res.json(t)["enabled"] != false {
		t.Fatalf("defaults: %d %s", res.Status, res.Body)
	}
	// Bad settings: every reason in sentences, nothing stored.
	before := h.snapshot()
	bad := mailpitSettings(mp, mp.Port)
	bad["from_name"] = "Shop\r\nBcc: eve@example.com"
	bad["from"] = "not an address"
	bad["security"] = "none"
	bad["username"], bad["password"] = "u", "p"
	res := admin.call("PUT", "/api/email/settings", bad)
	msg, _ := res.json(t)["error"].(map[string]any)["message"].(string)
	for _, want := range []string{"The sender's address is not an email address.", "The sender's name is at most 200 characters, on one line.", "encrypted connection"} {
		if res.Status != 422 || !strings.Contains(msg, want) {
			t.Errorf("bad settings: %d %q, want %q", res.Status, msg, want)
		}
	}
	if strings.Contains(msg, "email:") || strings.Contains(msg, "\n") {
		t.Errorf("the message carries a prefix or a line break: %q", msg)
	}
	h.unchanged(before, "refused email settings")

	good := mailpitSettings(mp, mp.Port)
	if res := admin.call("PUT", "/api/email/settings", good); res.Status != 200 || res.json(t)["port"] != float64(mp.Port) {
		t.Fatalf("save: %d %s", res.Status, res.Body)
	}
	to := newAddress("admin")
	res = admin.call("POST", "/api/email/test", map[string]string{"to": to})
	if res.Status != 200 || res.json(t)["status"] != "sent" {
		t.Fatalf("test mail: %d %s", res.Status, res.Body)
	}
	if m := mp.Wait(t, to, 1)[0]; m.Subject != "Test email from nudge" || !strings.Contains(m.Text, "Mailco") {
		t.Fatalf("%+v", m)
	}
	for _, bad := range []string{"", "nobody", "a@b.example\r\nBcc: eve@example.com"} {
		if res := admin.call("POST", "/api/email/test", map[string]string{"to": bad}); res.Status != 422 {
			t.Errorf("test mail to %q: %d %s", bad, res.Status, res.Body)
		}
	}

	// A server that cannot be reached: the answer says so, the log keeps it.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	admin.call("PUT", "/api/email/settings", mailpitSettings(mp, closed))
	res = admin.call("POST", "/api/email/test", map[string]string{"to": to})
	if want := fmt.Sprintf("The test email was not sent: could not connect to 127.0.0.1:%d", closed); res.Status != 502 || res.errorCode(t) != "not_sent" ||
		!strings.HasPrefix(res.json(t)["error"].(map[string]any)["message"].(string), want) {
		t.Fatalf("unreachable: %d %s", res.Status, res.Body)
	}
	log := admin.call("GET", "/api/email/deliveries", nil).json(t)["items"].([]any)
	if len(log) != 2 || log[0].(map[string]any)["status"] != "failed" || log[1].(map[string]any)["status"] != "sent" ||
		log[1].(map[string]any)["to"].([]any)[0] != to {
		t.Fatalf("delivery log: %v", log)
	}
	if failed := admin.call("GET", "/api/email/deliveries?status=failed", nil).json(t)["items"].([]any); len(failed) != 1 {
		t.Fatalf("failed only: %v", failed)
	}
	for _, q := range []string{"status=lost", "kind=spam", "limit=0"} {
		if res := admin.call("GET", "/api/email/deliveries?"+q, nil); res.Status != 400 {
			t.Errorf("%s: %d", q, res.Status)
		}
	}
	// The settings never show the password, and keep it when it is left out.
	withPassword := mailpitSettings(mp, mp.Port)
	withPassword["security"], withPassword["username"], withPassword["password"] = "starttls", "help", "pw-canary-3c1d"
	admin.call("PUT", "/api/email/settings", withPassword)
	delete(withPassword, "password")
	res = admin.call("PUT", "/api/email/settings", withPassword)
	if strings.Contains(string(res.Body), "pw-canary") || res.json(t)["password_set"] != true {
		t.Fatalf("password: %s", res.Body)
	}
	// Retry: only a failed email, only the tenant's.
	failedID := log[0].(map[string]any)["id"].(string)
	if res := admin.call("POST", "/api/email/deliveries/"+failedID+"/retry", nil); res.Status != 202 {
		t.Fatalf("retry: %d %s", res.Status, res.Body)
	}
	if res := admin.call("POST", "/api/email/deliveries/"+failedID+"/retry", nil); res.Status != 404 {
		t.Fatalf("retry of a pending email: %d", res.Status)
	}
}

func TestAVisitorAsksForTheTranscriptOverTheSocket(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Transco")
	mp := mailtest.Shared(t)
	h.srv.ops.Mail.Start() // the harness runs no background work of its own
	admin := h.login(f.users["admin"].Email, "password-admin")
	agent, v, conv := f.acceptedChat()
	v.send(map[string]any{"type": "send", "id": "s1", "client_id": "s1", "text": "Where is order 42?"})
	v.until("ack", typed("ack", "s1"))
	agent.send(map[string]any{"type": "send", "id": "a1", "conversation": conv, "client_id": "a1", "text": "On its way."})
	agent.until("ack", typed("ack", "a1"))

	// Not offered before email is set up.
	v.send(map[string]any{"type": "transcript", "id": "t0", "email": newAddress("early")})
	if m := v.until("refused", typed("error", "t0")); m["code"] != "state" {
		t.Fatalf("%v", m)
	}
	if res := admin.call("PUT", "/api/email/settings", mailpitSettings(mp, mp.Port)); res.Status != 200 {
		t.Fatal(res.Status)
	}
	to := newAddress("visitor")
	v.send(map[string]any{"type": "transcript", "id": "t1", "email": to})
	if m := v.until("refused", typed("error", "t1")); m["code"] != "state" || !strings.Contains(m["message"].(string), "once the chat has ended") {
		t.Fatalf("open chat: %v", m)
	}
	v.send(map[string]any{"type": "close", "id": "c"})
	v.until("closed", typed("close_ok", "c"))
	before := h.snapshot()
	for name, bad := range map[string]string{"not an address": "nobody", "header injection": to + "\r\nBcc: eve@example.com", "none": ""} {
		v.send(map[string]any{"type": "transcript", "id": "bad", "email": bad})
		if m := v.until("refused", typed("error", "bad")); m["code"] != "invalid" {
			t.Errorf("%s: %v", name, m)
		}
	}
	h.unchanged(before, "refused transcript requests")
	v.send(map[string]any{"type": "transcript", "id": "t2", "email": to})
	v.until("queued", typed("transcript_ok", "t2"))
	m := mp.Wait(t, to, 1)[0]
	text := strings.ReplaceAll(m.Text, "\r\n", "\n")
	if m.Subject != "Your chat with Transco shop" || !strings.Contains(text, "You:\n  Where is order 42?") || !strings.Contains(text, "On its way.") {
		t.Fatalf("%q\n%s", m.Subject, text)
	}
	// A returning page learns that transcripts are offered.
	w, hello := f.visitor("", 0)
	if hello["transcripts"] != true {
		t.Fatalf("hello: %v", hello)
	}
	w.c.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		log := admin.call("GET", "/api/email/deliveries?kind=transcript", nil).json(t)["items"].([]any)
		if len(log) == 1 && log[0].(map[string]any)["status"] == "sent" && log[0].(map[string]any)["conversation_id"] == conv {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery log: %v", log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
