package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/store/storetest"
)

func TestQueuesAgentsAndSettingsAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	admin := h.login(f.users["admin"].Email, "password-admin")
	res := admin.call("POST", "/api/queues", map[string]any{"name": "Billing", "config": map[string]any{
		"routing": "skills", "skills": []string{"billing"}, "offer_timeout": 20, "overflow_queue": f.queue, "overflow_after": 120,
		"hours": map[string]any{"time_zone": "Europe/Paris", "week": map[string]any{"mon": [][]string{{"09:00", "18:00"}}}}}})
	if res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	billing := res.json(t)["id"].(string)
	before := h.snapshot()
	for name, body := range map[string]any{
		"no name":            map[string]any{"config": map[string]any{}},
		"taken name":         map[string]any{"name": "sales"},
		"unknown routing":    map[string]any{"name": "X", "config": map[string]any{"routing": "random"}},
		"skills, none given": map[string]any{"name": "X", "config": map[string]any{"routing": "skills"}},
		"timeout too short":  map[string]any{"name": "X", "config": map[string]any{"offer_timeout": 1}},
		"unknown overflow":   map[string]any{"name": "X", "config": map[string]any{"overflow_queue": "01NOPE", "overflow_after": 10}},
		"overflow, no time":  map[string]any{"name": "X", "config": map[string]any{"overflow_queue": f.queue}},
		"bad hours":          map[string]any{"name": "X", "config": map[string]any{"hours": map[string]any{"week": map[string]any{"mon": [][]string{{"18:00", "09:00"}}}}}},
		"bad day":            map[string]any{"name": "X", "config": map[string]any{"hours": map[string]any{"week": map[string]any{"someday": [][]string{}}}}},
		"unknown field":      map[string]any{"name": "X", "config": map[string]any{"colour": "red"}},
	} {
		res := admin.call("POST", "/api/queues", body)
		if res.Status != 422 && res.Status != 400 && res.Status != 409 {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
		res.errorCode(t)
	}
	if res := admin.call("PATCH", "/api/queues/"+billing, map[string]any{"config": map[string]any{"overflow_queue": billing, "overflow_after": 5}}); res.Status != 422 {
		t.Errorf("overflow into itself: %d", res.Status)
	}
	h.unchanged(before, "refused queue changes")

	agent := f.users["agent"].ID
	if res := admin.call("PUT", "/api/agents/"+agent, map[string]any{"capacity": 5, "skills": map[string]int{"billing": 8}, "queues": []string{billing}}); res.Status != 200 {
		t.Fatalf("set agent: %d %s", res.Status, res.Body)
	}
	for name, body := range map[string]any{
		"rating 11":     map[string]any{"skills": map[string]int{"billing": 11}},
		"capacity 0?":   map[string]any{"capacity": -1},
		"unknown queue": map[string]any{"queues": []string{"01NOPE"}},
	} {
		if res := admin.call("PUT", "/api/agents/"+agent, body); res.Status != 422 {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
	}
	if res := admin.call("PUT", "/api/agents/"+f.users["marketer"].ID, map[string]any{}); res.Status != 422 {
		t.Errorf("a marketer does not chat: %d", res.Status)
	}
	res = admin.call("GET", "/api/agents", nil)
	if !strings.Contains(string(res.Body), `"billing":8`) || strings.Contains(string(res.Body), f.users["marketer"].Email) {
		t.Fatalf("agents: %s", res.Body)
	}

	if res := admin.call("PUT", "/api/chat/settings", map[string]any{"csat": true, "patterns": []string{`\bACME-\d{6}\b`},
		"prechat": map[string]any{"question": "Topic?", "options": []map[string]string{{"label": "Bills", "queue": billing}}}}); res.Status != 200 {
		t.Fatalf("settings: %d %s", res.Status, res.Body)
	}
	for name, body := range map[string]any{
		"bad pattern":   map[string]any{"patterns": []string{"("}},
		"empty pattern": map[string]any{"patterns": []string{"x*"}},
		"unknown queue": map[string]any{"default_queue": "01NOPE"},
		"inactivity":    map[string]any{"inactivity": map[string]int{"warn_after": 600, "close_after": 60}},
		"no options":    map[string]any{"prechat": map[string]any{"question": "Topic?", "options": []any{}}},
	} {
		if res := admin.call("PUT", "/api/chat/settings", body); res.Status != 422 {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
	}
	if got := admin.call("GET", "/api/chat/settings", nil).json(t); got["csat"] != true {
		t.Fatalf("settings kept: %v", got)
	}
	if res := admin.call("DELETE", "/api/queues/"+billing, nil); res.Status != 204 {
		t.Fatalf("delete: %d", res.Status)
	}
}

func TestConversationsAndTranscripts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	agent, v, conv := f.acceptedChat()
	v.send(map[string]any{"type": "send", "id": "1", "text": "Where is my order?\nIt is late."})
	v.until("ack", typed("ack", "1"))
	agent.send(map[string]any{"type": "send", "id": "2", "conversation": conv, "text": "checking the warehouse", "internal": true})
	agent.until("ack", typed("ack", "2"))
	agent.send(map[string]any{"type": "close", "id": "3", "conversation": conv, "disposition": "answered", "tags": []string{"shipping"}})
	agent.until("closed", typed("close_ok", "3"))

	mine := h.login(f.users["agent"].Email, "password-agent")
	other := h.login(f.users["owner"].Email, "password-owner")
	if items := mine.call("GET", "/api/conversations", nil).json(t)["items"].([]any); len(items) != 1 {
		t.Fatalf("the agent lists the conversation they were in: %v", items)
	}
	res := mine.call("GET", "/api/conversations/"+conv+"/transcript?format=text", nil)
	text := string(res.Body)
	if res.Status != 200 || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(text, "Visitor: Where is my order?\n    It is late.") || !strings.Contains(text, "[agents only]: checking the warehouse") {
		t.Fatalf("text transcript: %d %s", res.Status, text)
	}
	res = mine.call("GET", "/api/conversations/"+conv+"/transcript", nil)
	if msgs := res.json(t)["messages"].([]any); len(msgs) < 4 {
		t.Fatalf("json transcript: %s", res.Body)
	}
	if ctx := mine.call("GET", "/api/conversations/"+conv, nil).json(t); ctx["meta"].(map[string]any)["page"] == nil {
		t.Fatalf("context: %v", ctx)
	}
	if res := mine.call("GET", "/api/conversations/"+conv+"/transcript?format=pdf", nil); res.Status != 400 {
		t.Fatalf("bad format: %d", res.Status)
	}
	if res := mine.call("GET", "/api/conversations?status=weird", nil); res.Status != 400 {
		t.Fatalf("bad status: %d", res.Status)
	}
	if res := mine.call("GET", "/api/conversations?reason=weird", nil); res.Status != 400 || res.errorCode(t) != "invalid_query" {
		t.Fatalf("bad reason: %d", res.Status)
	}
	if items := mine.call("GET", "/api/conversations?reason=offline_message", nil).json(t)["items"].([]any); len(items) != 0 {
		t.Fatalf("no message was left: %v", items)
	}
	// Another agent of the tenant was not in it: it does not exist for them.
	second, err := h.srv.auth.CreateUser(t.Context(), store.System, f.tn.ID, auth.NewUser{Email: "second@acme.test", Password: "password-second", Role: "agent"})
	if err != nil {
		t.Fatal(err)
	}
	stranger := h.login(second.Email, "password-second")
	if res := stranger.call("GET", "/api/conversations/"+conv+"/transcript", nil); res.Status != 404 {
		t.Fatalf("an agent not in the chat: %d", res.Status)
	}
	if items := stranger.call("GET", "/api/conversations", nil).json(t)["items"].([]any); len(items) != 0 {
		t.Fatalf("lists none: %v", items)
	}
	if items := other.call("GET", "/api/conversations?status=closed", nil).json(t)["items"].([]any); len(items) != 1 {
		t.Fatalf("an owner supervises all: %v", items)
	}
}

func TestChatReports(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	agent, _ := f.agent("agent")
	for i := range 2 {
		v, start := f.visitor("", 0)
		conv := start["conversation"].(map[string]any)["id"].(string)
		agent.accept(conv)
		v.send(map[string]any{"type": "send", "id": "1", "text": "hello"})
		v.until("ack", typed("ack", "1"))
		agent.send(map[string]any{"type": "send", "id": "2", "conversation": conv, "text": "hi there"})
		agent.until("ack", typed("ack", "2"))
		if i == 0 {
			agent.send(map[string]any{"type": "close", "id": "3", "conversation": conv, "disposition": "answered"})
			agent.until("closed", typed("close_ok", "3"))
		}
	}
	h.srv.chat.Flush()
	sup := h.login(f.users["supervisor"].Email, "password-supervisor")
	res := sup.call("GET", "/api/chat/reports/conversations", nil)
	items := res.json(t)["items"].([]any)
	if res.Status != 200 || len(items) != 2 {
		t.Fatalf("conversations: %d %s", res.Status, res.Body)
	}
	closed := items[1].(map[string]any) // newest first: the first chat is second
	if closed["outcome"] != "agent" || closed["disposition"] != "answered" || closed["visitor_messages"] != 1.0 ||
		closed["agent_messages"] != 1.0 || closed["wait"] == nil || closed["first_response"] == nil || closed["handle"] == nil || closed["answered"] != true {
		t.Fatalf("metrics: %v", closed)
	}
	if open := items[0].(map[string]any); open["handle"] != nil || open["outcome"] != "" {
		t.Fatalf("an open conversation has no handle time yet: %v", open)
	}
	for _, by := range []string{"queue", "agent", "day"} {
		res := sup.call("GET", "/api/chat/reports/summary?by="+by, nil)
		rows := res.json(t)["rows"].([]any)
		if res.Status != 200 || len(rows) != 1 || rows[0].(map[string]any)["conversations"] != 2.0 || rows[0].(map[string]any)["answered"] != 2.0 {
			t.Fatalf("by %s: %s", by, res.Body)
		}
		if by == "queue" && rows[0].(map[string]any)["name"] != "Sales" {
			t.Fatalf("queue names: %s", res.Body)
		}
	}
	for _, q := range []string{"by=week", "from=yesterday", "from=2026-01-10&to=2026-01-01", "from=2020-01-01&to=2026-01-01"} {
		if res := sup.call("GET", "/api/chat/reports/summary?"+q, nil); res.Status != 400 {
			t.Errorf("%s: %d", q, res.Status)
		}
	}
	if res := sup.call("GET", "/api/chat/reports/summary?from=2020-01-01&to=2020-01-31", nil); len(res.json(t)["rows"].([]any)) != 0 {
		t.Fatalf("another range: %s", res.Body)
	}
	// Days are the team's days: in their time zone, 14 hours ahead of UTC
	// or 8 behind, today's chats are counted on that zone's date.
	admin := h.login(f.users["admin"].Email, "password-admin")
	settings := admin.call("GET", "/api/chat/settings", nil).json(t)
	for _, zone := range []string{"Pacific/Kiritimati", "America/Los_Angeles"} {
		settings["time_zone"] = zone
		if res := admin.call("PUT", "/api/chat/settings", settings); res.Status != 200 {
			t.Fatalf("set %s: %d %s", zone, res.Status, res.Body)
		}
		loc, _ := time.LoadLocation(zone)
		before := time.Now().In(loc).Format(time.DateOnly)
		res := sup.call("GET", "/api/chat/reports/summary?by=day", nil)
		after := time.Now().In(loc).Format(time.DateOnly)
		body := res.json(t)
		rows := body["rows"].([]any)
		if len(rows) != 1 || body["time_zone"] != zone {
			t.Fatalf("%s: %s", zone, res.Body)
		}
		if day := rows[0].(map[string]any)["key"]; day != before && day != after {
			t.Errorf("in %s today's chats are counted on %v, want %s", zone, day, after)
		}
		if to := body["to"]; to != before && to != after {
			t.Errorf("in %s the range ends %v, want %s", zone, to, after)
		}
	}
	settings["time_zone"] = "Mars/Olympus_Mons"
	if res := admin.call("PUT", "/api/chat/settings", settings); res.Status != 422 || res.errorCode(t) != "invalid" {
		t.Fatalf("an unknown zone: %d %s", res.Status, res.Body)
	}
}

func TestCannedResponses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	sup := h.login(f.users["supervisor"].Email, "password-supervisor")
	res := sup.call("POST", "/api/canned", map[string]any{"shortcut": "hi", "title": "Greeting",
		"text": "Hello {{visitor.name}}, I am {{agent.name}}. About {{page.title}} on your {{vars.plan}} plan? {{ offer.name }}"})
	if res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	before := h.snapshot()
	for name, body := range map[string]any{
		"unknown placeholder": map[string]any{"shortcut": "x", "text": "{{visitor.password}}"},
		"taken shortcut":      map[string]any{"shortcut": "hi", "text": "again"},
		"bad shortcut":        map[string]any{"shortcut": "Hi There", "text": "x"},
		"empty text":          map[string]any{"shortcut": "y", "text": "  "},
		"too long":            map[string]any{"shortcut": "z", "text": strings.Repeat("x", 4001)},
	} {
		if res := sup.call("POST", "/api/canned", body); res.Status != 422 {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
	}
	h.unchanged(before, "refused canned responses")
	agentHTTP := h.login(f.users["agent"].Email, "password-agent")
	if items := agentHTTP.call("GET", "/api/canned", nil).json(t)["items"].([]any); len(items) != 1 {
		t.Fatalf("agents list them: %v", items)
	}
	if res := agentHTTP.call("POST", "/api/canned", map[string]any{"shortcut": "mine", "text": "x"}); res.Status != 403 {
		t.Fatalf("agents do not write them: %d", res.Status)
	}

	// Visitors see the name an agent chose, never a part of their email.
	if res := agentHTTP.call("PUT", "/api/me/profile", map[string]any{"name": "Ann"}); res.Status != 200 {
		t.Fatalf("profile: %d %s", res.Status, res.Body)
	}
	agent, _ := f.agent("agent")
	w, _, err := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
	if err != nil {
		t.Fatal(err)
	}
	w.send(map[string]any{"type": "start", "visitor": "v9", "meta": map[string]any{
		"page": map[string]string{"url": "https://shop.test/pricing", "title": "Pricing"}, "vars": map[string]string{"name": "Vera", "plan": "pro"}}})
	start := w.until("started", typed("start_ok", ""))
	conv := start["data"].(map[string]any)["conversation"].(map[string]any)["id"].(string)
	agent.accept(conv)
	agent.send(map[string]any{"type": "send", "id": "c", "conversation": conv, "canned": "hi"})
	ack := agent.until("ack", typed("ack", "c"))
	want := "Hello Vera, I am Ann. About Pricing on your pro plan? "
	if got := ack["data"].(map[string]any)["text"]; got != want {
		t.Fatalf("expanded: %q, want %q", got, want)
	}
	w.until("the visitor gets it", func(m map[string]any) bool { return messageText(m) == want })
	agent.send(map[string]any{"type": "send", "id": "d", "conversation": conv, "canned": "nope"})
	if m := agent.until("error", typed("error", "d")); m["code"] != "not_found" {
		t.Fatalf("unknown canned response: %v", m)
	}
}

func TestWebhooksReceiveChatEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.WebhooksPrivate = true })
	f := newChatFixture(h, "Acme")
	var mu sync.Mutex
	var got, bodies []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Type string }
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &p)
		mu.Lock()
		got = append(got, p.Type+" "+r.Header.Get("webhook-signature")[:3])
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer recv.Close()
	admin := h.login(f.users["admin"].Email, "password-admin")
	before := h.snapshot()
	for name, body := range map[string]any{
		"no events":     map[string]any{"url": recv.URL},
		"unknown event": map[string]any{"url": recv.URL, "events": []string{"conversation.exploded"}},
		"bad url":       map[string]any{"url": "gopher://x", "events": []string{"conversation.closed"}},
		"credentials":   map[string]any{"url": "https://u:p@x.test/", "events": []string{"conversation.closed"}},
	} {
		if res := admin.call("POST", "/api/webhooks", body); res.Status != 422 {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
	}
	h.unchanged(before, "refused webhooks")
	res := admin.call("POST", "/api/webhooks", map[string]any{"url": recv.URL, "events": []string{"conversation.created", "conversation.assigned", "message.created", "conversation.closed"}})
	if res.Status != 201 || !strings.HasPrefix(res.json(t)["secret"].(string), "whsec_") {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	hook := res.json(t)["webhook"].(map[string]any)["id"].(string)
	if res := admin.call("GET", "/api/webhooks/"+hook, nil); strings.Contains(string(res.Body), "whsec_") {
		t.Fatal("the secret is shown once")
	}

	agent, _ := f.agent("agent")
	v, start := f.visitor("", 0)
	conv := start["conversation"].(map[string]any)["id"].(string)
	agent.accept(conv)
	v.send(map[string]any{"type": "send", "id": "1", "text": "hello"})
	v.until("ack", typed("ack", "1"))
	v.send(map[string]any{"type": "close", "id": "x"})
	v.until("closed", typed("close_ok", "x"))
	want := []string{"conversation.created v1,", "conversation.assigned v1,", "message.created v1,", "conversation.closed v1,"}
	for range 500 {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 6 { // created, assigned, the joined notice, hello, closed and its notice
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	all := strings.Join(got, "|")
	mu.Unlock()
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Fatalf("missing %q in %s", w, all)
		}
	}
	// The tenant's own systems get the agent's name as colleagues see it
	// (no display name: the email), not the visitor's "An agent".
	mu.Lock()
	assigned := strings.Join(bodies, "|")
	mu.Unlock()
	if !strings.Contains(assigned, `"name":"`+f.users["agent"].Email+`"`) {
		t.Fatalf("the assigned agent's name in the webhooks: %s", assigned)
	}
	// The receiver answers before the sender records the outcome: wait for
	// the log to say so.
	var items []any
	for range 500 {
		res = admin.call("GET", "/api/webhooks/"+hook+"/deliveries", nil)
		items = res.json(t)["items"].([]any)
		if len(items) >= 4 && items[0].(map[string]any)["status"] == "succeeded" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(items) < 4 || items[0].(map[string]any)["status"] != "succeeded" {
		t.Fatalf("delivery log: %s", res.Body)
	}
	id := items[0].(map[string]any)["id"].(string)
	if res := admin.call("POST", "/api/webhooks/"+hook+"/deliveries/"+id+"/replay", nil); res.Status != 202 {
		t.Fatalf("replay: %d %s", res.Status, res.Body)
	}
	if res := admin.call("POST", "/api/webhooks/"+hook+"/deliveries/msg_nope/replay", nil); res.Status != 404 {
		t.Fatalf("replay an unknown delivery: %d", res.Status)
	}
}

// A webhook to a private, reserved or documentation address, or to a name
// that resolves to one, is refused when it is saved (422 on url), and nothing
// is stored; a public receiver is taken.
func TestWebhookTargetsAreCheckedWhenSaved(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	admin := h.login(f.users["admin"].Email, "password-admin")
	before := h.snapshot()
	for _, u := range []string{"https://127.0.0.1:8080/x", "https://localhost/x", "https://192.0.2.1/x", "https://198.51.100.2/x",
		"https://203.0.113.3/x", "http://169.254.169.254/latest/meta-data", "https://[fd00::1]/x", "https://0.0.0.0:8080/"} {
		res := admin.call("POST", "/api/webhooks", map[string]any{"url": u, "events": []string{"conversation.closed"}})
		if res.Status != 422 || res.json(t)["error"].(map[string]any)["field"] != "url" {
			t.Errorf("%s: %d %s; want 422 on url", u, res.Status, res.Body)
		}
	}
	h.unchanged(before, "refused webhook targets")
	res := admin.call("POST", "/api/webhooks", map[string]any{"url": "https://8.8.8.8/hook", "events": []string{"conversation.closed"}})
	if res.Status != 201 {
		t.Fatalf("a public receiver: %d %s", res.Status, res.Body)
	}
	id := res.json(t)["webhook"].(map[string]any)["id"].(string)
	if res := admin.call("PATCH", "/api/webhooks/"+id, map[string]any{"url": "https://10.1.2.3/hook"}); res.Status != 422 {
		t.Errorf("changed to a private address: %d %s", res.Status, res.Body)
	}
}

// Webhook payloads carry messages: they are sealed at rest (the canary is in
// no file of the database, WAL included), opened to be sent and in the
// delivery log, and erased with their conversation.
func TestWebhookPayloadsAreSealedAtRest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	admin := h.login(f.users["admin"].Email, "password-admin")
	res := admin.call("POST", "/api/webhooks", map[string]any{"url": "https://hooks.example.com/nudge", "events": []string{"message.created"}})
	if res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	hook := res.json(t)["webhook"].(map[string]any)["id"].(string)
	_, v, _ := f.acceptedChat()
	const canary = "canary-7f3e9a-webhook"
	v.send(map[string]any{"type": "send", "id": "1", "text": "my code is " + canary})
	v.until("ack", typed("ack", "1"))
	deadline := time.Now().Add(time.Minute)
	for {
		res = admin.call("GET", "/api/webhooks/"+hook+"/deliveries", nil)
		if strings.Contains(string(res.Body), canary) {
			break // opened for the log
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery of the message: %s", res.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.srv.chat.Flush()
	for name, b := range storetest.AtRest(t, h.st, h.srv.cfg.DataDir) {
		if bytes.Contains(b, []byte(canary)) {
			t.Errorf("the canary is in clear in %s", name)
		}
	}
	var stored string
	h.db.QueryRow(`SELECT payload FROM webhook_deliveries WHERE event = 'message.created' LIMIT 1`).Scan(&stored)
	if !strings.HasPrefix(stored, `"sealed:`) {
		t.Errorf("stored payload: %.80s", stored)
	}
	owner := h.login(f.users["owner"].Email, "password-owner")
	if res := owner.call("DELETE", "/api/sites/"+f.site.ID+"/visitors/visitor-1", nil); res.Status != 200 {
		t.Fatalf("erase: %d %s", res.Status, res.Body)
	}
	var left int
	h.db.QueryRow(`SELECT count(*) FROM webhook_deliveries WHERE tenant_id = ?`, f.tn.ID).Scan(&left)
	if left != 0 {
		t.Errorf("%d deliveries of the erased visitor's chat left", left)
	}
}

// The secrets that sign identities and webhooks are sealed at rest: a copy
// of the database is not enough to forge either.
func TestSecretsAreSealedAtRest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	admin := h.login(f.users["admin"].Email, "password-admin")
	secret := admin.call("GET", "/api/sites/"+f.site.ID+"/secret", nil).json(t)["identity_secret"].(string)
	rotated := admin.call("POST", "/api/sites/"+f.site.ID+"/secret", nil).json(t)["identity_secret"].(string)
	res := admin.call("POST", "/api/webhooks", map[string]any{"url": "https://hooks.example.com/x", "events": []string{"conversation.closed"}})
	hookSecret := res.json(t)["secret"].(string)
	if secret == "" || rotated == "" || rotated == secret || !strings.HasPrefix(hookSecret, "whsec_") {
		t.Fatalf("secrets: %q %q %q", secret, rotated, hookSecret)
	}
	var site, hook string
	h.db.QueryRow(`SELECT identity_secret FROM sites WHERE id = ?`, f.site.ID).Scan(&site)
	h.db.QueryRow(`SELECT secret FROM webhooks WHERE tenant_id = ?`, f.tn.ID).Scan(&hook)
	if !strings.HasPrefix(site, "sealed:") || strings.Contains(site, rotated) || !strings.HasPrefix(hook, "sealed:") || strings.Contains(hook, hookSecret) {
		t.Fatalf("stored in clear: %q %q", site, hook)
	}
	for name, b := range storetest.AtRest(t, h.st, h.srv.cfg.DataDir) {
		for _, s := range []string{secret, rotated, hookSecret} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("a secret is in clear in %s", name)
			}
		}
	}
	// Opened where they are used: an identity signed with the secret verifies.
	cfg, err := h.st.SiteByKey(context.Background(), f.site.Key)
	if err != nil || cfg.IdentitySecret != rotated {
		t.Fatalf("the site's secret opens as %q, %v", cfg.IdentitySecret, err)
	}
}

// The settings form tries masking patterns before saving them.
func TestMaskTest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	admin := h.login(f.users["admin"].Email, "password-admin")
	before := h.snapshot()
	res := admin.call("POST", "/api/chat/settings/mask-test", map[string]any{"patterns": []string{`ORD-\d{6}`}, "text": "order ORD-123456, card 4111 1111 1111 1111"})
	if res.Status != 200 || strings.Contains(res.json(t)["text"].(string), "ORD-123456") || strings.Contains(res.json(t)["text"].(string), "4111 1111") {
		t.Fatalf("mask test: %d %s", res.Status, res.Body)
	}
	if res := admin.call("POST", "/api/chat/settings/mask-test", map[string]any{"patterns": []string{`(`}, "text": "x"}); res.Status != 422 {
		t.Fatalf("a bad pattern: %d %s", res.Status, res.Body)
	}
	if res := admin.call("POST", "/api/chat/settings/mask-test", map[string]any{"text": strings.Repeat("x", 5000)}); res.Status != 422 {
		t.Fatalf("a long text: %d", res.Status)
	}
	h.unchanged(before, "mask tests")
}
