package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/contacts"
	"github.com/nudgehq/nudge/store"
)

// An app without a browser Origin chats with a visitor token its site's
// backend signed; without one, or with a forged, expired or another site's
// token, it gets an error frame naming the token and close 4401, and no
// conversation is made. A browser may present a token too: the identity it
// proves replaces what the page claims.
func TestNativeVisitorWithToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	other := newChatFixture(h, "Other")
	ctx := context.Background()
	now := time.Now()
	mint := func(secret, site, sub string, at time.Time, life time.Duration) string {
		tok, err := contacts.MintVisitorToken(secret, site, sub, at, life, "app-user@example.com", "App User")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	conversations := func() int {
		ids, err := h.st.SiteConversations(ctx, f.tn.ID, f.site.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(ids)
	}
	for name, tok := range map[string]string{
		"no token":           "",
		"forged":             mint("not the site's secret", f.site.Key, "cust-1", now, time.Minute),
		"another site's":     mint(other.site.IdentitySecret, other.site.Key, "cust-1", now, time.Minute),
		"expired":            mint(f.site.IdentitySecret, f.site.Key, "cust-1", now.Add(-2*time.Hour), 10*time.Minute),
		"living too long":    mint(f.site.IdentitySecret, f.site.Key, "cust-1", now, 48*time.Hour),
		"garbage":            "eyJhbGciOi.not-a-jwt",
		"oversized":          strings.Repeat("x", 9000),
		"another site's key": mint(f.site.IdentitySecret, other.site.Key, "cust-1", now, time.Minute),
	} {
		for _, typ := range []string{"start", "resume"} {
			c, _, err := h.dial("/ws/visitor?site="+f.site.Key, http.Header{})
			if err != nil {
				t.Fatalf("%s: dial: %v", name, err)
			}
			frame := map[string]any{"type": typ, "id": "h", "v": 1}
			if typ == "start" {
				frame["visitor"] = "app-install-1"
			} else {
				frame["token"] = "a-chat-token"
			}
			if tok != "" {
				frame["visitor_token"] = tok
			}
			c.sendAsIs(frame) // the oversized token breaks the schema's bound on purpose
			e := c.until("the refusal", typed("error", "h"))
			if e["code"] != "visitor_token" {
				t.Errorf("%s %s: %v", name, typ, e)
			}
			if code := c.closeCode(); code != closeVisitorToken {
				t.Errorf("%s %s: close %d, want %d", name, typ, code, closeVisitorToken)
			}
		}
	}
	if n := conversations(); n != 0 {
		t.Fatalf("refused tokens made %d conversations", n)
	}

	// A good token: the chat starts with the identity it proves, and the
	// contact says it was proved by a token.
	f.agent("agent") // someone answers
	c, _, err := h.dial("/ws/visitor?site="+f.site.Key, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	c.send(map[string]any{"type": "start", "id": "h", "v": 1, "visitor": "app-install-1",
		"visitor_token": mint(f.site.IdentitySecret, f.site.Key, "cust-1", now, 10*time.Minute)})
	start := c.until("started", typed("start_ok", "h"))
	conv := start["data"].(map[string]any)["conversation"].(map[string]any)["id"].(string)
	c.send(map[string]any{"type": "send", "id": "1", "text": "hello from the app"})
	c.until("ack", typed("ack", "1"))
	if err := h.srv.ops.Links.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ct, err := h.srv.ops.Contacts.OfVisitor(ctx, f.tn.ID, f.site.ID, "app-install-1")
	if err != nil || ct.ExternalID != "cust-1" || ct.VerifiedBy != "token" || ct.Email != "app-user@example.com" {
		t.Fatalf("the app user's contact: %+v %v", ct, err)
	}
	cs, err := h.srv.ops.Contacts.Conversations(ctx, f.tn.ID, ct, 10)
	if err != nil || len(cs) != 1 || cs[0].ID != conv {
		t.Fatalf("the contact's chats: %v %v", cs, err)
	}

	// A browser page claiming one identity with a token for another: the
	// token wins.
	b, _, err := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
	if err != nil {
		t.Fatal(err)
	}
	b.send(map[string]any{"type": "start", "id": "h", "v": 1, "visitor": "browser-2",
		"meta":          map[string]any{"identity": map[string]string{"id": "cust-9", "hash": analytics.IdentityHash(f.site.IdentitySecret, "cust-9")}},
		"visitor_token": mint(f.site.IdentitySecret, f.site.Key, "cust-2", now, 10*time.Minute)})
	b.until("started", typed("start_ok", "h"))
	if err := h.srv.ops.Links.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if ct, err := h.srv.ops.Contacts.OfVisitor(ctx, f.tn.ID, f.site.ID, "browser-2"); err != nil || ct.ExternalID != "cust-2" {
		t.Fatalf("the browser's contact: %+v %v", ct, err)
	}
	if _, err := h.srv.ops.Contacts.ByExternalID(ctx, f.tn.ID, "cust-9"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the page's claim made a contact beside the token's: %v", err)
	}
	// Nor can the page identify as someone else afterwards.
	b.send(map[string]any{"type": "identify", "id": "i", "identity": map[string]string{"id": "cust-9", "hash": analytics.IdentityHash(f.site.IdentitySecret, "cust-9")}})
	if e := b.until("refused", typed("error", "i")); e["code"] != "visitor_token" {
		t.Fatalf("identify after a token: %v", e)
	}
	h.srv.ops.Links.Flush(ctx)
	if _, err := h.srv.ops.Contacts.ByExternalID(ctx, f.tn.ID, "cust-9"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an identify after the token linked: %v", err)
	}
}
