package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/contacts"
	"github.com/nudgehq/nudge/store"
)

// TestASecuredSiteChatsOnlyWithProvedVisitors: on a site whose chat is
// secured, a visitor without a visitor token (or with a chat token alone)
// is refused and nothing is made; a proved visitor chats, cannot identify
// as someone else, and continues the same chat on a second device and by
// resuming with a token alone; the page's configuration says so.
func TestASecuredSiteChatsOnlyWithProvedVisitors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Secure")
	ctx := context.Background()
	site, err := h.st.CreateSite(ctx, store.System, store.Site{TenantID: f.tn.ID, Name: "Members area", Key: "secure-members",
		AllowedOrigins: []string{shopOrigin}, Theme: store.DefaultSiteTheme, Settings: store.SiteSettings{Chat: true, SecuredChat: true}})
	if err != nil {
		t.Fatal(err)
	}
	mint := func(sub string) string {
		tok, err := contacts.MintVisitorToken(site.IdentitySecret, site.Key, sub, time.Now(), 10*time.Minute, sub+"@example.com", "")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	dial := func() *wsClient {
		w, res, err := h.dial("/ws/visitor?site="+site.Key, originHeader(shopOrigin))
		if err != nil {
			t.Fatalf("dial: %v %v", err, res)
		}
		return w
	}
	agent, _ := f.agent("agent")
	before := h.snapshot()
	for name, frame := range map[string]map[string]any{
		"a start without a token":         {"type": "start", "id": "h", "v": 1, "visitor": "v-1"},
		"a resume with a chat token only": {"type": "resume", "id": "h", "v": 1, "token": "01ABC.secret"},
		"another site's token": {"type": "start", "id": "h", "v": 1, "visitor": "v-1",
			"visitor_token": func() string {
				s, _ := contacts.MintVisitorToken(f.site.IdentitySecret, f.site.Key, "u1", time.Now(), time.Minute, "", "")
				return s
			}()},
	} {
		w := dial()
		w.send(frame)
		if e := w.until("refused", typed("error", "h")); e["code"] != "visitor_token" {
			t.Errorf("%s: %v", name, e)
		} else if name == "a start without a token" && !strings.Contains(e["message"].(string), "signed-in customers") {
			t.Errorf("%s: %v", name, e)
		}
		if code := w.closeCode(); code != closeVisitorToken {
			t.Errorf("%s: close %d", name, code)
		}
	}
	h.unchanged(before, "refused visitors")
	if ids, _ := h.st.SiteConversations(ctx, f.tn.ID, site.ID); len(ids) != 0 {
		t.Fatalf("%d conversations", len(ids))
	}

	// A proved visitor: no chat open yet, so a resume by the token finds none.
	w := dial()
	w.send(map[string]any{"type": "resume", "id": "h", "v": 1, "visitor_token": mint("u1")})
	if e := w.until("none open", typed("error", "h")); e["code"] != "not_found" {
		t.Fatalf("%v", e)
	}
	laptop := dial()
	laptop.send(map[string]any{"type": "start", "id": "h", "v": 1, "visitor": "laptop", "visitor_token": mint("u1")})
	hello := laptop.until("started", typed("start_ok", "h"))["data"].(map[string]any)
	conv := hello["conversation"].(map[string]any)["id"].(string)
	laptop.send(map[string]any{"type": "send", "id": "s1", "client_id": "s1", "text": "Hello from the laptop"})
	laptop.until("ack", typed("ack", "s1"))
	laptop.send(map[string]any{"type": "identify", "id": "i", "identity": map[string]string{"id": "someone-else", "hash": "x"}})
	if e := laptop.until("refused", typed("error", "i")); e["code"] != "visitor_token" {
		t.Fatalf("identify: %v", e)
	}
	agent.accept(conv)

	// The phone: the same person, another visitor id, the same chat.
	phone := dial()
	phone.send(map[string]any{"type": "start", "id": "h", "v": 1, "visitor": "phone", "visitor_token": mint("u1")})
	hello = phone.until("continued", typed("start_ok", "h"))["data"].(map[string]any)
	if hello["conversation"].(map[string]any)["id"] != conv || hello["token"] != nil {
		t.Fatalf("phone: %v", hello)
	}
	if ms := hello["messages"].([]any); len(ms) == 0 || !strings.Contains(messageTexts(ms), "Hello from the laptop") {
		t.Fatalf("phone's history: %v", ms)
	}
	phone.send(map[string]any{"type": "send", "id": "s2", "client_id": "s2", "text": "Now from the phone"})
	agent.until("the phone's message", func(m map[string]any) bool { return messageText(m) == "Now from the phone" })
	laptop.until("the phone's message on the laptop", func(m map[string]any) bool { return messageText(m) == "Now from the phone" })

	// The next page: a resume with the token alone.
	page := dial()
	page.send(map[string]any{"type": "resume", "id": "h", "v": 1, "visitor_token": mint("u1"), "after": 0})
	if got := page.until("resumed", typed("resume_ok", "h"))["data"].(map[string]any)["conversation"].(map[string]any)["id"]; got != conv {
		t.Fatalf("resumed %v", got)
	}
	// Another person is not in it.
	other := dial()
	other.send(map[string]any{"type": "start", "id": "h", "v": 1, "visitor": "other", "visitor_token": mint("u2")})
	if got := other.until("started", typed("start_ok", "h"))["data"].(map[string]any)["conversation"].(map[string]any)["id"]; got == conv {
		t.Fatal("another person joined the chat")
	}
	// The page's configuration tells the loader.
	req := h.anonymous().request("GET", "/config/"+site.Key, nil)
	req.Header.Set("Origin", shopOrigin)
	res := h.do(req)
	if !strings.Contains(string(res.Body), `"secured":true`) {
		t.Fatalf("config: %s", res.Body)
	}
}

func messageTexts(ms []any) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.(map[string]any)["text"].(string) + "\n")
	}
	return b.String()
}
