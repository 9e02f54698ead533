package server

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/search"
	"github.com/nudgehq/nudge/search/searchtest"
	"github.com/nudgehq/nudge/store"
)

// waitIndexed returns once every committed message is in the search index.
func (h *harness) waitIndexed() {
	h.t.Helper()
	h.srv.chat.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.srv.feed.Flush(ctx); err != nil {
		h.t.Fatalf("search index: %v", err)
	}
}

func hitTexts(t *testing.T, r response) []string {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("search: %d %s", r.Status, r.Body)
	}
	var out []string
	for _, it := range r.json(t)["items"].([]any) {
		out = append(out, it.(map[string]any)["text"].(string))
	}
	return out
}

// searchBackends runs a test on the embedded index and on Elasticsearch.
func searchBackends(t *testing.T, test func(t *testing.T, edit func(*Config))) {
	t.Run("embedded", func(t *testing.T) { test(t, func(*Config) {}) })
	t.Run("elasticsearch", func(t *testing.T) {
		o := searchtest.Options(t)
		test(t, func(c *Config) {
			c.SearchURL, c.SearchUsername, c.SearchPassword, c.SearchAPIKey, c.SearchPrefix = o.URL, o.Username, o.Password, o.APIKey, o.Prefix
		})
	})
}

// searchUntil asks until the search finds n messages (Elasticsearch makes
// writes searchable about a second later) and returns their texts.
func searchUntil(t *testing.T, c *client, query string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := hitTexts(t, c.call("GET", "/api/chat/search?"+query, nil))
		if len(got) == n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSearchTranscripts(t *testing.T) { searchBackends(t, searchTranscripts) }

func searchTranscripts(t *testing.T, edit func(*Config)) {
	h := newHarness(t, edit)
	f := newChatFixture(h, "Acme")
	agent, v, conv := f.acceptedChat()
	v.send(map[string]any{"type": "send", "id": "1", "text": "My Zebrafish parcel is late; card 4111 1111 1111 1111"})
	v.until("ack", typed("ack", "1"))
	agent.send(map[string]any{"type": "send", "id": "2", "conversation": conv, "text": "zebrafish again, checking", "internal": true})
	agent.until("ack", typed("ack", "2"))
	h.waitIndexed()

	owner := h.login(f.users["owner"].Email, "password-owner")
	mine := h.login(f.users["agent"].Email, "password-agent")
	q := func(c *client, query string) response {
		return c.call("GET", "/api/chat/search?q="+url.QueryEscape(query), nil)
	}
	got := searchUntil(t, owner, "q=ZEBRAFISH", 2)
	if len(got) != 2 || got[0] != "zebrafish again, checking" || !strings.Contains(got[1], "My Zebrafish parcel") {
		t.Fatalf("owner finds %q", got)
	}
	if strings.Contains(got[1], "4111") {
		t.Fatalf("a hit shows the card number: %q", got[1])
	}
	hit := q(owner, `"parcel is late"`).json(t)["items"].([]any)[0].(map[string]any)
	if hit["conversation_id"] != conv || hit["conversation"].(map[string]any)["id"] != conv || hit["seq"] == nil {
		t.Fatalf("hit: %v", hit)
	}
	if got := hitTexts(t, q(mine, "zebrafish parcel")); len(got) != 1 {
		t.Fatalf("the agent of the chat finds %q", got)
	}
	// The card number was masked before it was indexed.
	for _, n := range []string{"4111111111111111", `"4111 1111 1111 1111"`, "1111"} {
		if got := hitTexts(t, q(owner, n)); len(got) != 0 {
			t.Fatalf("%s finds %q", n, got)
		}
	}

	// Another agent of the tenant was not in the chat; another tenant's
	// owner has nothing of it.
	second, err := h.srv.auth.CreateUser(t.Context(), store.System, f.tn.ID, auth.NewUser{Email: "second@acme.test", Password: "password-second", Role: "agent"})
	if err != nil {
		t.Fatal(err)
	}
	if got := hitTexts(t, q(h.login(second.Email, "password-second"), "zebrafish")); len(got) != 0 {
		t.Fatalf("an agent not in the chat finds %q", got)
	}
	_, others := h.tenant("Other")
	if got := hitTexts(t, q(h.login(others["owner"].Email, "password-owner"), "zebrafish")); len(got) != 0 {
		t.Fatalf("another tenant finds %q", got)
	}

	for _, bad := range []string{"", "q=", "q=%20%20", "q=" + strings.Repeat("a", 201), "q=x&limit=0", "q=x&limit=101", "q=x&limit=ten",
		"q=x&from=yesterday", "q=x&to=2026-13-01", "q=x&from=2026-11-02&to=2026-11-01", "q=x&cursor=garbage", "q=%22%22"} {
		res := owner.call("GET", "/api/chat/search?"+bad, nil)
		if res.Status != 400 || res.errorCode(t) != "invalid_query" {
			t.Errorf("%q: %d %s", bad, res.Status, res.Body)
		}
	}
	today := time.Now().UTC().Format(time.DateOnly)
	if got := hitTexts(t, owner.call("GET", "/api/chat/search?q=zebrafish&from="+today+"&to="+today, nil)); len(got) != 2 {
		t.Fatalf("today: %q", got)
	}
	if got := hitTexts(t, owner.call("GET", "/api/chat/search?q=zebrafish&to=2020-01-01", nil)); len(got) != 0 {
		t.Fatalf("before 2020: %q", got)
	}
	page := owner.call("GET", "/api/chat/search?q=zebrafish&limit=1", nil).json(t)
	next := page["next_cursor"].(string)
	if len(page["items"].([]any)) != 1 || next == "" {
		t.Fatalf("first page: %v", page)
	}
	if got := hitTexts(t, owner.call("GET", "/api/chat/search?q=zebrafish&limit=1&cursor="+url.QueryEscape(next), nil)); len(got) != 1 || !strings.Contains(got[0], "parcel") {
		t.Fatalf("second page: %q", got)
	}

	// The embedded index file holds no transcript text.
	for _, suffix := range []string{"", "-wal"} {
		b, _ := os.ReadFile(h.srv.cfg.SearchPath() + suffix)
		if bytes.Contains(bytes.ToLower(b), []byte("zebrafish")) {
			t.Fatalf("search.db%s holds message text", suffix)
		}
	}

	// A new index (a lost file, an upgrade) is filled from the store.
	ring, err := keys.OpenRing(t.Context(), h.srv.cfg.MasterKeyFile, h.st)
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.srv.cfg
	cfg.DataDir = t.TempDir()
	if cfg.SearchURL != "" {
		cfg.SearchPrefix += "new"
	}
	ix, err := ops.OpenSearch(t.Context(), cfg.Config, ring, h.srv.log)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	feed := search.NewFeeder(ix, search.FeederOptions{})
	feed.Start(ops.SearchSource(h.st, h.srv.chat.Log(), feed.Touch))
	defer feed.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := feed.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		r, err := ix.Search(ctx, search.Query{Tenant: f.tn.ID, Text: "zebrafish"})
		if err == nil && len(r.Hits) == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("rebuilt index: %+v, %v", r, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Erasing a visitor deletes their chats, open or closed, from the store and
// the index; another visitor's chat stays.
func TestEraseVisitorChats(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	agent, v, conv := f.acceptedChat() // visitor-1
	v.send(map[string]any{"type": "send", "id": "1", "text": "my zebrafish order, address 4 Elm Street"})
	v.until("ack", typed("ack", "1"))
	if done := v.upload("", "photo.png", tinyPNG); done["type"] != "upload_done" {
		t.Fatalf("upload: %v", done)
	}
	other, _, err := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
	if err != nil {
		t.Fatal(err)
	}
	other.send(map[string]any{"type": "start", "id": "s", "visitor": "visitor-2"})
	otherConv := other.until("started", typed("start_ok", "s"))["data"].(map[string]any)["conversation"].(map[string]any)["id"].(string)
	agent.accept(otherConv)
	other.send(map[string]any{"type": "send", "id": "2", "text": "zebrafish too"})
	other.until("ack", typed("ack", "2"))
	h.waitIndexed()

	owner := h.login(f.users["owner"].Email, "password-owner")
	if res := h.login(f.users["agent"].Email, "password-agent").call("DELETE", "/api/sites/"+f.site.ID+"/visitors/visitor-1", nil); res.Status != 403 {
		t.Fatalf("an agent erases: %d", res.Status)
	}
	res := owner.call("DELETE", "/api/sites/"+f.site.ID+"/visitors/visitor-1", nil)
	if res.Status != 200 || res.json(t)["deleted_conversations"] != float64(1) {
		t.Fatalf("erase: %d %s", res.Status, res.Body)
	}
	agent.until("the chat leaves the agent", func(m map[string]any) bool { return m["type"] == "removed" && m["conversation"] == conv })
	v.until("the visitor is told", func(m map[string]any) bool { return strings.Contains(messageText(m), "ended") })

	for _, table := range []string{"conversations WHERE id", "messages WHERE conversation_id", "participants WHERE conversation_id", "files WHERE conversation_id"} {
		var n int
		if err := h.db.QueryRow(`SELECT count(*) FROM `+table+` = ?`, conv).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d left (%v)", table, n, err)
		}
	}
	if res := owner.call("GET", "/api/conversations/"+conv+"/transcript", nil); res.Status != 404 {
		t.Fatalf("transcript after erasure: %d", res.Status)
	}
	r, err := h.srv.search.Search(t.Context(), search.Query{Tenant: f.tn.ID, Text: "zebrafish"})
	if err != nil || len(r.Hits) != 1 || r.Hits[0].ConversationID != otherConv {
		t.Fatalf("index after erasure: %+v, %v", r, err)
	}
	if got := hitTexts(t, owner.call("GET", "/api/chat/search?q=zebrafish", nil)); len(got) != 1 || got[0] != "zebrafish too" {
		t.Fatalf("search after erasure: %q", got)
	}
}

// Deleting a site takes what its pages and chats left: its conversations
// (and their webhook deliveries and search entries) and its analytics.
func TestDeletingASiteLeavesNothingOfIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	admin := h.login(f.users["admin"].Email, "password-admin")
	if res := admin.call("POST", "/api/webhooks", map[string]any{"url": "https://hooks.example.com/x", "events": []string{"message.created"}}); res.Status != 201 {
		t.Fatalf("webhook: %d %s", res.Status, res.Body)
	}
	h.do(pageRequest("POST", "/collect", shopOrigin, batch(f.site.Key, "v1", "s1", pageview("/pricing"))))
	if n := h.analyticsRows(t); n != 1 {
		t.Fatalf("%d events", n)
	}
	agent, v, conv := f.acceptedChat()
	v.send(map[string]any{"type": "send", "id": "1", "text": "quokka sightings"})
	v.until("ack", typed("ack", "1"))
	h.waitIndexed()
	h.srv.hooks.Flush()
	var deliveries int
	h.db.QueryRow(`SELECT count(*) FROM webhook_deliveries WHERE tenant_id = ?`, f.tn.ID).Scan(&deliveries)
	if deliveries == 0 {
		t.Fatal("no delivery to delete")
	}
	if got := hitTexts(t, admin.call("GET", "/api/chat/search?q=quokka", nil)); len(got) != 1 {
		t.Fatalf("before: %q", got)
	}
	if res := admin.call("DELETE", "/api/sites/"+f.site.ID, nil); res.Status != 204 {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	// The open chat was closed first: its agent let it go, its visitor was told.
	agent.until("the chat leaves the agent", func(m map[string]any) bool { return m["type"] == "removed" && m["conversation"] == conv })
	v.until("the visitor is told", func(m map[string]any) bool {
		d, _ := m["data"].(map[string]any)
		p, _ := d["payload"].(map[string]any)
		return strings.Contains(messageText(m), "ended") && p["reason"] == "site_deleted"
	})
	if got := hitTexts(t, admin.call("GET", "/api/chat/search?q=quokka", nil)); len(got) != 0 {
		t.Fatalf("the deleted site's chats are still found: %q", got)
	}
	var convs, visits int
	h.db.QueryRow(`SELECT count(*) FROM conversations WHERE tenant_id = ?`, f.tn.ID).Scan(&convs)
	h.db.QueryRow(`SELECT count(*) FROM webhook_deliveries WHERE tenant_id = ?`, f.tn.ID).Scan(&deliveries)
	h.srv.analytics.R.QueryRow(`SELECT count(*) FROM visits`).Scan(&visits)
	if n := h.analyticsRows(t); n != 0 || visits != 0 || convs != 0 || deliveries != 0 {
		t.Fatalf("left: %d events, %d visits, %d conversations, %d deliveries", n, visits, convs, deliveries)
	}
}

// An agent steers a search: prefixes, filters, order, snippets; a filter
// naming what is not the tenant's is an error, and an agent searches only
// the chats they took part in.
func TestSearchFiltersAndSnippets(t *testing.T) { searchBackends(t, searchFilters) }

func searchFilters(t *testing.T, edit func(*Config)) {
	h := newHarness(t, edit)
	f := newChatFixture(h, "Acme")
	agent, v, conv := f.acceptedChat()
	v.send(map[string]any{"type": "send", "id": "1", "text": "Hello! I would like a refund for the blue kettle, it leaks all over the counter."})
	v.until("ack", typed("ack", "1"))
	agent.send(map[string]any{"type": "send", "id": "2", "conversation": conv, "text": "Sorry about that: your refund is on its way."})
	agent.until("ack", typed("ack", "2"))
	agent.send(map[string]any{"type": "close", "id": "3", "conversation": conv, "disposition": "refunded"})
	agent.until("closed", typed("close_ok", "3"))

	other, _, err := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
	if err != nil {
		t.Fatal(err)
	}
	other.send(map[string]any{"type": "start", "id": "s", "visitor": "visitor-2"})
	otherConv := other.until("started", typed("start_ok", "s"))["data"].(map[string]any)["conversation"].(map[string]any)["id"].(string)
	other.send(map[string]any{"type": "send", "id": "4", "text": "Refunds take how long?"})
	other.until("ack", typed("ack", "4"))
	h.waitIndexed()

	owner := h.login(f.users["owner"].Email, "password-owner")
	mine := h.login(f.users["agent"].Email, "password-agent")
	if got := searchUntil(t, owner, "q=refun*", 3); len(got) != 3 {
		t.Fatalf("refun*: %q", got)
	}
	// The close reaches the indexed messages a moment later.
	if got := searchUntil(t, owner, "q=refun*&status=closed&disposition=refunded", 2); len(got) != 2 {
		t.Fatalf("closed, refunded: %q", got)
	}
	for query, want := range map[string]int{
		"q=refun*&status=open":                  1,
		"q=refun*&visitor=visitor-2":            1,
		"q=refun*&visitor=visitor-1":            2,
		"q=refun*&site=" + f.site.ID:            3,
		"q=refun*&queue=" + f.queue:             3,
		"q=refun*&agent=" + f.users["agent"].ID: 2,
		"q=kettle+refund&order=relevance":       1,
		`q="refund+for+the+blue"`:               1,
		"q=refun*&disposition=spam":             0,
	} {
		if got := hitTexts(t, owner.call("GET", "/api/chat/search?"+query, nil)); len(got) != want {
			t.Errorf("%s: %q; want %d", query, got, want)
		}
	}
	// The agent took part in the first chat only, whatever they ask for.
	if got := hitTexts(t, mine.call("GET", "/api/chat/search?q=refun*", nil)); len(got) != 2 {
		t.Errorf("the agent finds %q", got)
	}
	if res := mine.call("GET", "/api/chat/search?q=refun*&agent="+f.users["owner"].ID, nil); res.Status != 403 {
		t.Errorf("an agent asks for another's chats: %d %s", res.Status, res.Body)
	}

	// A snippet marks the words found, around the first of them.
	hit := owner.call("GET", "/api/chat/search?q=kettle+refun*", nil).json(t)["items"].([]any)[0].(map[string]any)
	var marked []string
	for _, s := range hit["snippet"].([]any) {
		if seg := s.(map[string]any); seg["match"] == true {
			marked = append(marked, seg["text"].(string))
		}
	}
	if strings.Join(marked, ",") != "refund,kettle" {
		t.Errorf("snippet %v marks %q", hit["snippet"], marked)
	}

	// Filters naming another tenant's site, queue or member are refused;
	// bad values are 400s, and nothing is found of another tenant.
	otherTenant := newChatFixture(h, "Globex")
	for _, bad := range []string{"site=" + otherTenant.site.ID, "queue=" + otherTenant.queue, "agent=" + otherTenant.users["agent"].ID,
		"site=nope", "status=pending", "order=newest", "visitor=" + strings.Repeat("v", 129), "q=a*", "q=x&cursor=o.99999.1"} {
		query := bad
		if !strings.HasPrefix(bad, "q=") {
			query = "q=refund&" + bad
		}
		res := owner.call("GET", "/api/chat/search?"+query, nil)
		if res.Status != 400 || res.errorCode(t) != "invalid_query" {
			t.Errorf("%s: %d %s", query, res.Status, res.Body)
		}
	}
	if got := hitTexts(t, h.login(otherTenant.users["owner"].Email, "password-owner").call("GET", "/api/chat/search?q=refun*&visitor=visitor-1", nil)); len(got) != 0 {
		t.Errorf("another tenant finds %q", got)
	}
	if otherConv == conv {
		t.Fatal("one conversation for two visitors")
	}
}

// The tenant's transcript retention deletes chats closed longer ago, from
// the store and the index; open and recent chats stay.
func TestTranscriptRetention(t *testing.T) {
	t.Parallel()
	searchBackends(t, func(t *testing.T, edit func(*Config)) {
		h := newHarness(t, edit)
		f := newChatFixture(h, "Acme")
		agent, v, conv := f.acceptedChat()
		v.send(map[string]any{"type": "send", "id": "1", "text": "an old teapot question"})
		v.until("ack", typed("ack", "1"))
		agent.send(map[string]any{"type": "close", "id": "c", "conversation": conv})
		agent.until("closed", typed("close_ok", "c"))
		other, _, err := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
		if err != nil {
			t.Fatal(err)
		}
		other.send(map[string]any{"type": "start", "id": "s", "visitor": "visitor-2"})
		other.until("started", typed("start_ok", "s"))
		other.send(map[string]any{"type": "send", "id": "2", "text": "a teapot still open"})
		other.until("ack", typed("ack", "2"))
		h.waitIndexed()
		owner := h.login(f.users["owner"].Email, "password-owner")
		if got := searchUntil(t, owner, "q=teapot", 2); len(got) != 2 {
			t.Fatalf("before: %q", got)
		}

		settings := owner.call("GET", "/api/chat/settings", nil).json(t)
		for _, bad := range []any{-1, 3651, "30"} {
			settings["transcript_retention_days"] = bad
			if res := owner.call("PUT", "/api/chat/settings", settings); res.Status != 400 && res.Status != 422 {
				t.Errorf("retention %v: %d %s", bad, res.Status, res.Body)
			}
		}
		settings["transcript_retention_days"] = 30
		if res := owner.call("PUT", "/api/chat/settings", settings); res.Status != 200 && res.Status != 204 {
			t.Fatalf("settings: %d %s", res.Status, res.Body)
		}
		h.srv.ops.Housekeep(t.Context(), time.Now().AddDate(0, 0, 29))
		owner = h.login(f.users["owner"].Email, "password-owner") // the session expired, a month on
		if got := hitTexts(t, owner.call("GET", "/api/chat/search?q=teapot", nil)); len(got) != 2 {
			t.Fatalf("after 29 days: %q", got)
		}
		h.srv.ops.Housekeep(t.Context(), time.Now().AddDate(0, 0, 31))
		owner = h.login(f.users["owner"].Email, "password-owner")
		if res := owner.call("GET", "/api/conversations/"+conv+"/transcript", nil); res.Status != 404 {
			t.Fatalf("transcript after retention: %d", res.Status)
		}
		for deadline := time.Now().Add(30 * time.Second); ; {
			n, err := h.srv.search.Count(t.Context(), f.tn.ID)
			if err == nil && n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("index count %d, %v; want the open chat's 1", n, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := hitTexts(t, owner.call("GET", "/api/chat/search?q=teapot", nil)); len(got) != 1 || got[0] != "a teapot still open" {
			t.Fatalf("after 31 days: %q", got)
		}
	})
}

// Reading back the store touches the conversations of the notices it meets:
// a close the index had not applied before a crash is applied after it.
func TestReplayTouchesNoticedConversations(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	agent, _, conv := f.acceptedChat()
	agent.send(map[string]any{"type": "close", "id": "c", "conversation": conv})
	agent.until("closed", typed("close_ok", "c"))
	h.srv.chat.Flush()
	touched := map[string]bool{}
	src := ops.SearchSource(h.st, h.srv.chat.Log(), func(tenant, id string) { touched[tenant+"/"+id] = true })
	if err := src.Replay(t.Context(), time.Time{}, func([]search.Doc) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if !touched[f.tn.ID+"/"+conv] || len(touched) != 1 {
		t.Fatalf("touched %v; want %s", touched, conv)
	}
}
