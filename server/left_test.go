package server

import (
	"strings"
	"testing"
)

// TestLeftMessagesOverTheAPI: a message left while nobody is signed in is
// on the desk's list; answering needs email set up and an address; marking
// it answered moves it.
func TestLeftMessagesOverTheAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Leftco")
	v, start := f.visitor("", 0) // nobody signed in: offline at once
	if st := start["conversation"].(map[string]any)["status"]; st != "offline" {
		t.Fatalf("status %v", st)
	}
	conv := start["conversation"].(map[string]any)["id"].(string)
	v.send(map[string]any{"type": "leave_message", "id": "lm", "name": "Bob", "email": "bob@example.com", "text": "Call me back, please."})
	v.until("left", typed("leave_message_ok", "lm"))
	h.srv.chat.Flush()

	agent := h.login(f.users["agent"].Email, "password-agent")
	res := agent.call("GET", "/api/left-messages?state=new", nil)
	items := res.json(t)["items"].([]any)
	if res.Status != 200 || len(items) != 1 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if m := items[0].(map[string]any); m["conversation_id"] != conv || m["name"] != "Bob" || m["email"] != "bob@example.com" || m["text"] != "Call me back, please." || m["state"] != "new" {
		t.Fatalf("%v", m)
	}
	before := h.snapshot()
	res = agent.call("POST", "/api/left-messages/"+conv+"/reply", map[string]string{"text": "Sure."})
	if res.Status != 409 || !strings.Contains(string(res.Body), "Email page") {
		t.Fatalf("without email: %d %s", res.Status, res.Body)
	}
	if res := agent.call("POST", "/api/left-messages/"+conv+"/reply", map[string]string{"text": " "}); res.Status != 422 {
		t.Fatalf("empty answer: %d %s", res.Status, res.Body)
	}
	if res := agent.call("PATCH", "/api/left-messages/"+conv, map[string]any{}); res.Status != 422 {
		t.Fatalf("no answered: %d %s", res.Status, res.Body)
	}
	h.unchanged(before, "refused answers")
	for _, q := range []string{"state=old", "limit=500"} {
		if res := agent.call("GET", "/api/left-messages?"+q, nil); res.Status != 400 {
			t.Errorf("%s: %d", q, res.Status)
		}
	}
	if res := agent.call("PATCH", "/api/left-messages/"+conv, map[string]bool{"answered": true}); res.Status != 204 {
		t.Fatalf("mark: %d %s", res.Status, res.Body)
	}
	items = agent.call("GET", "/api/left-messages?state=answered", nil).json(t)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["answered_by"] != f.users["agent"].Name {
		t.Fatalf("answered: %v", items)
	}
	// Counted in the chat reports.
	sup := h.login(f.users["supervisor"].Email, "password-supervisor")
	rows := sup.call("GET", "/api/chat/reports/summary?by=queue", nil).json(t)["rows"].([]any)
	if len(rows) != 1 || rows[0].(map[string]any)["left_messages"] != 1.0 || rows[0].(map[string]any)["left_answered"] != 1.0 {
		t.Fatalf("report: %v", rows)
	}
}
