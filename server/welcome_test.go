package server

import (
	"net/http"
	"strings"
	"testing"
)

// welcome reads the chat panel's first screen as a page of the site does.
func (f *chatFixture) welcome(origin string) response {
	f.h.t.Helper()
	f.h.srv.ops.ForgetWelcome(f.tn.ID)
	req, _ := http.NewRequest("GET", "http://localhost:8080/chat/welcome/"+f.site.Key, nil)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return f.h.do(req)
}

// TestWelcomeTellsTheTruth: the panel's first screen names the team, shows
// the available agents who chose a name (never a part of an email address),
// and says whether and when someone answers, as the agents' status changes.
func TestWelcomeTellsTheTruth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	w := f.welcome(shopOrigin).json(t)
	if w["title"] != "Acme shop" || w["available"] != false || w["estimated_wait"] != -1.0 || len(w["team"].([]any)) != 0 || w["form"] != nil {
		t.Fatalf("nobody signed in: %v", w)
	}
	if res := f.welcome("https://evil.test"); res.Status != 403 {
		t.Fatalf("another origin: %d", res.Status)
	}
	req, _ := http.NewRequest("GET", "http://localhost:8080/chat/welcome/nope", nil)
	req.Header.Set("Origin", shopOrigin)
	if res := h.do(req); res.Status != 404 {
		t.Fatalf("an unknown site: %d", res.Status)
	}

	// An agent without a display name answers, but is not shown by their email.
	agent, _ := f.agent("agent")
	w = f.welcome(shopOrigin).json(t)
	if w["available"] != true || w["estimated_wait"] != 0.0 || len(w["team"].([]any)) != 0 {
		t.Fatalf("an agent without a name: %v", w)
	}
	// A supervisor who named themselves and went available is shown.
	sup := h.login(f.users["supervisor"].Email, "password-supervisor")
	if res := sup.call("PUT", "/api/me/profile", map[string]any{"name": "Sue"}); res.Status != 200 {
		t.Fatalf("profile: %d %s", res.Status, res.Body)
	}
	s, _ := f.agent("supervisor")
	s.send(map[string]any{"type": "presence", "id": "p", "status": "available"})
	s.until("available", typed("presence_ok", "p"))
	if team := f.welcome(shopOrigin).json(t)["team"].([]any); len(team) != 1 || team[0].(map[string]any)["name"] != "Sue" {
		t.Fatalf("the team: %v", team)
	}
	// Everyone away: nobody answers, whatever the sign-ins.
	for _, w := range []*wsClient{agent, s} {
		w.send(map[string]any{"type": "presence", "id": "a", "status": "away"})
		w.until("away", typed("presence_ok", "a"))
	}
	if w := f.welcome(shopOrigin).json(t); w["available"] != false || w["estimated_wait"] != -1.0 || len(w["team"].([]any)) != 0 {
		t.Fatalf("all away: %v", w)
	}
	// ...and a visitor who writes anyway gets the offline form at once.
	_, start := f.visitor("", 0)
	if st := start["conversation"].(map[string]any)["status"]; st != "offline" {
		t.Fatalf("a chat with everyone away: %v", st)
	}

	admin := h.login(f.users["admin"].Email, "password-admin")
	if res := admin.call("PUT", "/api/chat/settings", map[string]any{"welcome": map[string]any{"title": "Acme support", "greeting": "Hi! Ask us anything."},
		"prechat": map[string]any{"question": "What is it about?", "options": []map[string]string{{"label": "Billing", "queue": f.queue}}},
		"form":    map[string]any{"fields": []map[string]any{{"kind": "name", "label": "Your name", "required": true}}}}); res.Status != 200 {
		t.Fatalf("settings: %d %s", res.Status, res.Body)
	}
	w = f.welcome(shopOrigin).json(t)
	if w["title"] != "Acme support" || w["greeting"] != "Hi! Ask us anything." || w["question"] != "What is it about?" || len(w["topics"].([]any)) != 1 ||
		len(w["form"].(map[string]any)["fields"].([]any)) != 1 {
		t.Fatalf("the tenant's words: %v", w)
	}
}

// TestPrechatForm: the visitor's answers reach the agent with the chat, the
// topic picks its queue without the bot's question, and answers the form
// does not allow are refused with nothing stored.
func TestPrechatForm(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	admin := h.login(f.users["admin"].Email, "password-admin")
	tech := admin.call("POST", "/api/queues", map[string]any{"name": "Tech", "config": map[string]any{}}).json(t)["id"].(string)
	form := map[string]any{"fields": []map[string]any{
		{"kind": "name", "label": "Your name", "required": true},
		{"kind": "email", "label": "Email", "required": false},
		{"kind": "text", "key": "order", "label": "Order number", "required": true},
	}}
	if res := admin.call("PUT", "/api/chat/settings", map[string]any{"form": form,
		"prechat": map[string]any{"question": "What is it about?", "options": []map[string]string{{"label": "Billing", "queue": f.queue}, {"label": "Tech", "queue": tech}}}}); res.Status != 200 {
		t.Fatalf("settings: %d %s", res.Status, res.Body)
	}
	for name, body := range map[string]any{
		"no fields":     map[string]any{"form": map[string]any{"fields": []any{}}},
		"unknown kind":  map[string]any{"form": map[string]any{"fields": []map[string]any{{"kind": "phone", "label": "Phone", "required": false}}}},
		"bad key":       map[string]any{"form": map[string]any{"fields": []map[string]any{{"kind": "text", "key": "Order No", "label": "Order", "required": false}}}},
		"twice":         map[string]any{"form": map[string]any{"fields": []map[string]any{{"kind": "name", "label": "A", "required": false}, {"kind": "name", "label": "B", "required": false}}}},
		"no label":      map[string]any{"form": map[string]any{"fields": []map[string]any{{"kind": "name", "label": " ", "required": false}}}},
		"long greeting": map[string]any{"welcome": map[string]any{"greeting": strings.Repeat("x", 501)}},
	} {
		if res := admin.call("PUT", "/api/chat/settings", body); res.Status != 422 {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
	}
	agent, _ := f.agent("agent")
	start := func(answers map[string]any) map[string]any {
		t.Helper()
		w, _, err := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
		if err != nil {
			t.Fatal(err)
		}
		w.send(map[string]any{"type": "start", "id": "h", "v": 1, "visitor": "v-form", "meta": map[string]any{"form": answers}})
		return w.next()
	}
	before := h.snapshot()
	for name, answers := range map[string]map[string]any{
		"missing name":  {"topic": "Tech", "fields": map[string]string{"order": "A-1"}},
		"missing order": {"topic": "Tech", "name": "Ann"},
		"bad email":     {"topic": "Tech", "name": "Ann", "email": "ann at home", "fields": map[string]string{"order": "A-1"}},
		"unknown field": {"topic": "Tech", "name": "Ann", "fields": map[string]string{"order": "A-1", "admin": "yes"}},
		"unknown topic": {"topic": "Refunds", "name": "Ann", "fields": map[string]string{"order": "A-1"}},
		"too long":      {"topic": "Tech", "name": "Ann", "fields": map[string]string{"order": strings.Repeat("x", 1001)}},
	} {
		if m := start(answers); m["type"] != "error" || m["code"] != "invalid" {
			t.Errorf("%s: %v", name, m)
		}
	}
	h.unchanged(before, "refused forms")

	m := start(map[string]any{"topic": "Tech", "name": "Ann", "email": "ann@example.com", "fields": map[string]string{"order": "A-1"}})
	if m["type"] != "start_ok" {
		t.Fatalf("a good form: %v", m)
	}
	for _, msg := range m["data"].(map[string]any)["messages"].([]any) {
		if msg.(map[string]any)["kind"] == "system" && strings.Contains(msg.(map[string]any)["text"].(string), "What is it about?") {
			t.Fatal("the bot asks the question the form answered")
		}
	}
	offer := agent.until("offer", typed("offer", ""))["data"].(map[string]any)["conversation"].(map[string]any)
	meta := offer["metadata"].(map[string]any)
	form2 := meta["form"].(map[string]any)
	if offer["queue"].(map[string]any)["id"] != tech || meta["topic"] != "Tech" || form2["name"] != "Ann" || form2["email"] != "ann@example.com" ||
		form2["fields"].(map[string]any)["order"] != "A-1" {
		t.Fatalf("the agent's view: %v", offer)
	}
}

// TestDeskLists: an agent sees the colleagues signed in to chat (whom to
// transfer to or invite: people, not bots) and the tenant's dispositions.
func TestDeskLists(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	agent := h.login(f.users["agent"].Email, "password-agent")
	if items := agent.call("GET", "/api/chat/agents", nil).json(t)["items"].([]any); len(items) != 0 {
		t.Fatalf("nobody signed in: %v", items)
	}
	ws, _ := f.agent("agent")
	f.agent("supervisor")
	// Bad commands change nothing: a chat of another tenant (or none), a chat
	// not on hold, a queue the agent may not work.
	other := newChatFixture(h, "Other")
	_, _, oconv := other.acceptedChat()
	for name, cmd := range map[string]map[string]any{
		"other tenant's chat": {"type": "reopen", "id": "b", "conversation": oconv},
		"unknown chat":        {"type": "reopen", "id": "b", "conversation": "01NOPE"},
		"unknown queue":       {"type": "presence", "id": "b", "queues": []string{other.queue}},
	} {
		ws.send(cmd)
		if m := ws.until("refused", typed("error", "b")); m["code"] != "not_found" && m["code"] != "invalid" {
			t.Errorf("%s: %v", name, m)
		}
	}
	items := agent.call("GET", "/api/chat/agents", nil).json(t)["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["presence"] == "" { // not the other tenant's agent
		t.Fatalf("colleagues: %v", items)
	}
	if ds := agent.call("GET", "/api/chat/dispositions", nil).json(t)["dispositions"].([]any); len(ds) != 0 {
		t.Fatalf("no dispositions: %v", ds)
	}
	admin := h.login(f.users["admin"].Email, "password-admin")
	if res := admin.call("PUT", "/api/chat/settings", map[string]any{"dispositions": []string{"Solved", "Sale"}}); res.Status != 200 {
		t.Fatalf("settings: %d", res.Status)
	}
	if ds := agent.call("GET", "/api/chat/dispositions", nil).json(t)["dispositions"].([]any); len(ds) != 2 || ds[0] != "Solved" {
		t.Fatalf("dispositions: %v", ds)
	}
	marketer := h.login(f.users["marketer"].Email, "password-marketer")
	if res := marketer.call("GET", "/api/chat/agents", nil); res.Status != 403 {
		t.Fatalf("a marketer: %d", res.Status)
	}
}

// TestAgentsFollowTheVisitor: the agents learn the page the visitor is on
// now (the one before is kept), and when no page has the chat open.
func TestAgentsFollowTheVisitor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	agent, visitor, conv := f.acceptedChat()
	visitor.send(map[string]any{"type": "page", "id": "pg", "page": map[string]any{"url": "https://shop.test/checkout", "title": "Checkout"}})
	visitor.until("page", typed("page_ok", "pg"))
	st := agent.until("the new page", func(m map[string]any) bool {
		if m["type"] != "state" {
			return false
		}
		meta := m["data"].(map[string]any)["metadata"].(map[string]any)
		return meta["page"].(map[string]any)["url"] == "https://shop.test/checkout"
	})
	pages := st["data"].(map[string]any)["metadata"].(map[string]any)["pages"].([]any)
	if len(pages) != 1 || pages[0].(map[string]any)["url"] != "https://shop.test/cart" {
		t.Fatalf("the page before: %v", pages)
	}
	for name, bad := range map[string]any{
		"no url":   map[string]any{"type": "page", "id": "b", "page": map[string]any{"title": "x"}},
		"too long": map[string]any{"type": "page", "id": "b", "page": map[string]any{"url": strings.Repeat("x", 3000)}},
	} {
		visitor.sendAsIs(bad)
		if m := visitor.until("refused", typed("error", "b")); m["code"] != "invalid" {
			t.Errorf("%s: %v", name, m)
		}
	}
	visitor.c.Close()
	agent.until("the visitor has left", func(m map[string]any) bool {
		return m["type"] == "visitor" && m["conversation"] == conv && m["data"].(map[string]any)["online"] == false
	})
}
