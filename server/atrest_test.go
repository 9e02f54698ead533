package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/email/mailtest"
	"github.com/nudgehq/nudge/store/storetest"
)

// A canary sent through every path that stores what a visitor or an agent
// wrote (messages, notes, files and their names, the page's URL and title,
// custom variables, a verified identity, identify and the contact it makes,
// webhooks whose receiver
// answers and one whose receiver is down, the search index, the analytics
// file) is found in no file of the data folder, WAL and shared memory
// included: encryption at rest covers all of it.
func TestNoVisitorTextAtRest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.WebhooksPrivate = true })
	f := newChatFixture(h, "Acme")
	const canary = "zqcanary83x"
	ctx := context.Background()

	var mu sync.Mutex
	var received []byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, b...)
		mu.Unlock()
	}))
	defer recv.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // a receiver that is not there: its deliveries stay stored, to retry
	admin := h.login(f.users["admin"].Email, "password-admin")
	events := []string{"conversation.created", "message.created", "conversation.closed"}
	for _, u := range []string{recv.URL, down.URL} {
		if res := admin.call("POST", "/api/webhooks", map[string]any{"url": u, "events": events}); res.Status != 201 {
			t.Fatalf("webhook: %d %s", res.Status, res.Body)
		}
	}

	site, err := h.st.SiteByKey(ctx, f.site.Key)
	if err != nil {
		t.Fatal(err)
	}
	// The page measures the visit and identifies the visitor.
	id := "user-" + canary // a site's user id may be an email: kept as a fingerprint or sealed
	identify := fmt.Sprintf(`{"type":"identify","url":"https://shop.example.com/cart?coupon=%s","user":{"id":%q,"email":"%s@mail.test","name":"Ann %s"},"hash":%q}`,
		canary, id, canary, canary, analytics.IdentityHash(site.IdentitySecret, id))
	view := fmt.Sprintf(`{"type":"pageview","url":"https://shop.example.com/cart?coupon=%s","ref":"https://www.google.com/?q=%s","title":"T"}`, canary, canary)
	if res := h.do(pageRequest("POST", "/collect", shopOrigin, batch(f.site.Key, "visitor-1", "visit-1", view, identify))); res.Status >= 300 {
		t.Fatalf("collect: %d %s", res.Status, res.Body)
	}

	// The chat, with the page, variables and identity in its metadata.
	agent, _ := f.agent("agent")
	v, _, err := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
	if err != nil {
		t.Fatal(err)
	}
	v.send(map[string]any{"type": "start", "id": "h", "v": 1, "visitor": "visitor-1", "meta": map[string]any{
		"page":     map[string]string{"url": "https://shop.example.com/cart?coupon=" + canary, "title": "Cart of " + canary},
		"vars":     map[string]string{"plan": "pro-" + canary},
		"identity": map[string]string{"id": id, "email": canary + "@mail.test", "name": "Ann " + canary, "hash": analytics.IdentityHash(site.IdentitySecret, id)},
	}})
	start := v.until("started", typed("start_ok", "h"))
	conv := start["data"].(map[string]any)["conversation"].(map[string]any)["id"].(string)
	agent.accept(conv)
	v.send(map[string]any{"type": "send", "id": "1", "text": "my code is " + canary})
	v.until("ack", typed("ack", "1"))
	if done := v.upload("", canary+".txt", []byte("the file says "+canary)); done["type"] != "upload_done" {
		t.Fatalf("upload: %v", done)
	}
	agent.send(map[string]any{"type": "send", "id": "2", "conversation": conv, "text": "noted " + canary})
	agent.until("ack", typed("ack", "2"))
	agent.send(map[string]any{"type": "send", "id": "3", "conversation": conv, "text": "internal " + canary, "internal": true})
	agent.until("ack", typed("ack", "3"))

	// What is sealed opens for those allowed to read it.
	res := admin.call("GET", "/api/conversations/"+conv, nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), "Cart of "+canary) || !strings.Contains(string(res.Body), "pro-"+canary) {
		t.Fatalf("the conversation's metadata: %d %s", res.Status, res.Body)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		got := bytes.Contains(received, []byte("my code is "+canary))
		mu.Unlock()
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reachable receiver never got the message")
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.waitIndexed()
	if got := hitTexts(t, admin.call("GET", "/api/chat/search?q="+canary, nil)); len(got) != 3 {
		t.Fatalf("search finds %q", got)
	}
	h.analyticsRows(t)
	h.srv.chat.Flush()
	// The identity made a contact (sealed) linked to the visitor.
	if err := h.srv.ops.Links.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := h.srv.ops.Contacts.OfVisitor(ctx, site.TenantID, site.ID, "visitor-1"); err != nil || c.Email != canary+"@mail.test" || c.ExternalID != id {
		t.Fatalf("the visitor's contact: %+v %v", c, err)
	}

	// Email: the settings (a password, a sender's name) and a transcript
	// sent to the visitor's address, composed and kept in the outbox.
	mp := mailtest.Shared(t)
	h.srv.ops.Mail.Start()
	if res := admin.call("PUT", "/api/email/settings", map[string]any{"enabled": true, "host": mp.Host, "port": mp.Port, "security": "starttls",
		"username": "u-" + canary, "password": "pw-" + canary, "from": "help@shop.example", "from_name": "Shop " + canary, "transcripts": true}); res.Status != 200 {
		t.Fatalf("email settings: %d %s", res.Status, res.Body)
	}
	v.send(map[string]any{"type": "close", "id": "c"})
	v.until("closed", typed("close_ok", "c"))
	v.send(map[string]any{"type": "transcript", "id": "t", "email": canary + "@mail.test"})
	v.until("queued", typed("transcript_ok", "t"))
	for {
		log := admin.call("GET", "/api/email/deliveries", nil).json(t)["items"].([]any)
		if len(log) == 1 && log[0].(map[string]any)["attempts"].(float64) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transcript was never attempted: %v", log)
		}
		time.Sleep(20 * time.Millisecond)
	}

	var found []string
	filepath.WalkDir(h.srv.cfg.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("read %s: %v", path, err)
		}
		if bytes.Contains(bytes.ToLower(b), []byte(canary)) {
			found = append(found, filepath.Base(path))
		}
		return nil
	})
	for name, b := range storetest.AtRest(t, h.st, "") { // the database's tables, on PostgreSQL
		if bytes.Contains(bytes.ToLower(b), []byte(canary)) {
			found = append(found, name)
		}
	}
	if len(found) > 0 {
		t.Fatalf("the canary is in clear in %v", found)
	}
}
