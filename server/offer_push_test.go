package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/store"
)

type nopSink struct{}

func (nopSink) Send(chat.Event) {}

func pushFixture(t testing.TB, edit ...func(*Config)) (*harness, store.Site, *client) {
	h, site, marketer := offerFixture(t, edit...)
	site, err := h.st.UpdateSite(context.Background(), store.System, site.TenantID, site.ID, func(s *store.Site) error {
		s.Settings.PushOffers = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.srv.ops.Forget(site.Key)
	return h, site, marketer
}

// The page's availability says what the chat engine says: nobody until an
// agent is available and connected.
func TestAvailabilityForPages(t *testing.T) {
	t.Parallel()
	h, site, _ := offerFixture(t)
	get := func() map[string]any {
		t.Helper()
		res := h.do(pageRequest("GET", "/availability/shop", shopOrigin, ""))
		if res.Status != 200 || res.Header.Get("Cache-Control") != "public, max-age=5" || res.Header.Get("Access-Control-Allow-Origin") != shopOrigin {
			t.Fatalf("availability: %d %v %s", res.Status, res.Header, res.Body)
		}
		return res.json(t)["queues"].(map[string]any)["support"].(map[string]any)
	}
	if q := get(); q["agents_available"].(float64) != 0 || q["estimated_wait"].(float64) != -1 {
		t.Fatalf("nobody online: %v", q)
	}
	if res := h.do(pageRequest("GET", "/availability/shop", "https://evil.example", "")); res.Status != 403 {
		t.Fatalf("foreign origin: %d", res.Status)
	}
	agent, err := h.st.UserByEmail(context.Background(), "agent@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	a := chat.Agent{Tenant: site.TenantID, User: agent.ID, Name: "Agent"}
	if _, err := h.srv.chat.ConnectAgent(context.Background(), a, nopSink{}, chat.Available); err != nil {
		t.Fatal(err)
	}
	// Cached two seconds at most: wait for the answer to follow.
	deadline := time.Now().Add(time.Minute)
	for get()["agents_available"].(float64) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("availability never saw the agent")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A push reaches a visitor who is on the site (polling), once; a visitor
// who is not gets 409; a user id counts only with its identity hash.
func TestPushedOffers(t *testing.T) {
	t.Parallel()
	h, site, marketer := pushFixture(t)
	poll := func(q string) response {
		t.Helper()
		return h.do(pageRequest("GET", "/offers/shop?"+q, shopOrigin, ""))
	}
	offer := map[string]any{"queue": "Support", "text": "Your order is ready: questions?", "metadata": map[string]string{"order": "4411"}}
	if res := marketer.call("POST", "/api/sites/shop/visitors/v1/offers", offer); res.Status != 409 || res.errorCode(t) != "not_on_site" {
		t.Fatalf("push before the visitor is on the site: %d %s", res.Status, res.Body)
	}
	if res := poll("visitor=v1"); res.Status != 204 {
		t.Fatalf("empty poll: %d %s", res.Status, res.Body)
	}
	res := marketer.call("POST", "/api/sites/shop/visitors/v1/offers", offer)
	if res.Status != 202 || res.json(t)["id"] == "" {
		t.Fatalf("push: %d %s", res.Status, res.Body)
	}
	res = poll("visitor=v1")
	var got struct{ Offers []ops.PushedOffer }
	if json.Unmarshal(res.Body, &got); res.Status != 200 || len(got.Offers) != 1 || got.Offers[0].Metadata["order"] != "4411" || !got.Offers[0].UI {
		t.Fatalf("poll: %d %s", res.Status, res.Body)
	}
	if res := poll("visitor=v1"); res.Status != 204 {
		t.Fatalf("an offer delivered twice: %d", res.Status)
	}
	// By identified user, with the hash the site's server computes.
	hash := analytics.IdentityHash(site.IdentitySecret, "user-42")
	if res := poll("visitor=v2&user=user-42&hash=" + strings.Repeat("0", 64)); res.Status != 400 {
		t.Fatalf("a forged hash: %d", res.Status)
	}
	if res := marketer.call("POST", "/api/sites/shop/visitors/user-42/offers", offer); res.Status != 409 {
		t.Fatalf("a forged poll made the user present: %d", res.Status)
	}
	poll("visitor=v2&user=user-42&hash=" + hash)
	if res := marketer.call("POST", "/api/sites/shop/visitors/user-42/offers", map[string]any{"queue": "support", "text": "Hi", "ui": false}); res.Status != 202 {
		t.Fatalf("push by user id: %d %s", res.Status, res.Body)
	}
	if json.Unmarshal(poll("visitor=v2&user=user-42&hash="+hash).Body, &got); len(got.Offers) != 1 || got.Offers[0].UI {
		t.Fatalf("offer by user id: %+v", got)
	}
	// Bad input changes nothing.
	for _, bad := range []map[string]any{
		{"queue": "Sales", "text": "x"}, {"queue": "support", "text": ""}, {"queue": "support", "text": "x", "ttl_seconds": 1},
		{"queue": "support", "text": strings.Repeat("x", 501)},
	} {
		if res := marketer.call("POST", "/api/sites/shop/visitors/v1/offers", bad); res.Status != 422 {
			t.Errorf("%v: %d %s", bad, res.Status, res.Body)
		}
	}
	if res := poll("visitor=v1"); res.Status != 204 {
		t.Fatalf("a refused push was queued: %d", res.Status)
	}
	for _, q := range []string{"", "visitor=" + strings.Repeat("x", 65), "visitor=a%20b"} {
		if res := poll(q); res.Status != 400 {
			t.Errorf("poll %q: %d", q, res.Status)
		}
	}
	if res := h.do(pageRequest("GET", "/offers/shop?visitor=v1", "https://evil.example", "")); res.Status != 403 {
		t.Fatalf("foreign origin: %d", res.Status)
	}
	// The page learns it should poll.
	if _, cfg := config(t, h, ""); cfg["push"] != true || !strings.Contains(strings.Join(anyStrings(cfg["modules"]), ","), "guide") {
		t.Fatalf("config: %v", cfg)
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// A chat started from an accepted offer carries what the agent needs to know
// why: for a published rule, the rule's name, words and metadata whatever
// the page claims; the identity only when the site signed it.
func TestChatFromAnOfferTellsTheAgentWhy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	owner := h.login(f.users["owner"].Email, "password-owner")
	created := owner.call("POST", "/api/sites/"+f.site.Key+"/rules", `{"name": "Billing help", "when": {"all": []},
		"action": {"type": "chat_offer", "queue": "sales", "title": "Billing?", "text": "Questions about your bill?", "metadata": {"topic": "billing"}}}`)
	id := created.json(t)["id"].(string)
	owner.call("POST", "/api/sites/"+f.site.Key+"/rules/"+id+"/publish", nil)

	start := func(meta map[string]any) map[string]any {
		t.Helper()
		w, res, err := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
		if err != nil {
			t.Fatalf("dial: %v %v", err, res)
		}
		w.send(map[string]any{"type": "start", "id": "h", "v": 1, "visitor": "v-1", "meta": meta})
		hello := w.next()
		conv := hello["data"].(map[string]any)["conversation"].(map[string]any)["id"].(string)
		h.srv.chat.Flush()
		c, err := h.st.Conversation(context.Background(), f.tn.ID, conv)
		if err != nil {
			t.Fatal(err)
		}
		var stored map[string]any
		json.Unmarshal(c.Metadata, &stored)
		if c.QueueID != f.queue {
			t.Errorf("queue %q, want the offer's (%s)", c.QueueID, f.queue)
		}
		return stored
	}
	hash := analytics.IdentityHash(f.site.IdentitySecret, "user-7")
	m := start(map[string]any{
		"offer":    map[string]any{"id": id, "queue": "sales", "name": "Forged", "data": map[string]string{"topic": "free money"}},
		"vars":     map[string]string{"plan": "pro"},
		"identity": map[string]string{"id": "user-7", "email": "ann@example.com", "name": "Ann", "hash": hash},
	})
	o := m["offer"].(map[string]any)
	if o["source"] != "rule" || o["name"] != "Billing help" || o["text"] != "Billing? Questions about your bill?" || o["version"].(float64) != 1 ||
		o["data"].(map[string]any)["topic"] != "billing" {
		t.Errorf("offer: %v", o)
	}
	if idn := m["identity"].(map[string]any); idn["verified"] != true || idn["email"] != "ann@example.com" || idn["hash"] != nil {
		t.Errorf("identity: %v", idn)
	}
	if m["vars"].(map[string]any)["plan"] != "pro" {
		t.Errorf("vars: %v", m["vars"])
	}
	// Page code's own offer: its metadata, marked as such; a forged identity is dropped.
	m = start(map[string]any{
		"offer":    map[string]any{"id": "page", "queue": "Sales", "name": "Looks official", "data": map[string]string{"cart": "129.00"}},
		"identity": map[string]string{"id": "user-7", "hash": strings.Repeat("ab", 32)},
	})
	if o := m["offer"].(map[string]any); o["source"] != "page" || o["name"] != nil || o["data"].(map[string]any)["cart"] != "129.00" {
		t.Errorf("page offer: %v", o)
	}
	if m["identity"] != nil {
		t.Errorf("an identity with a forged hash reached the agent: %v", m["identity"])
	}
}
