package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nudgehq/nudge/analytics"
)

// A visitor who proves who they are in a chat becomes a contact that the
// tenant's supervisors and admins can open (with their devices and chats),
// and that an admin can erase; agents and marketers cannot read contacts,
// and another tenant's are not found.
func TestContactsAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	other := newChatFixture(h, "Globex")
	ctx := context.Background()

	// A chat of a visitor whose page signed their identity.
	v, _, err := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
	if err != nil {
		t.Fatal(err)
	}
	v.send(map[string]any{"type": "start", "id": "h", "v": 1, "visitor": "laptop-1", "meta": map[string]any{
		"identity": map[string]string{"id": "cust-42", "email": "jane@example.com", "name": "Jane Roe",
			"hash": analytics.IdentityHash(f.site.IdentitySecret, "cust-42")},
	}})
	start := v.until("started", typed("start_ok", "h"))
	conv := start["data"].(map[string]any)["conversation"].(map[string]any)["id"].(string)
	// And one whose hash is forged: no contact.
	w, _, err := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
	if err != nil {
		t.Fatal(err)
	}
	w.send(map[string]any{"type": "start", "id": "h", "v": 1, "visitor": "phone-9", "meta": map[string]any{
		"identity": map[string]string{"id": "cust-43", "hash": analytics.IdentityHash("forged", "cust-43")},
	}})
	w.until("started", typed("start_ok", "h"))
	if err := h.srv.ops.Links.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	login := func(fx *chatFixture, role string) *client {
		return h.login(fx.users[role].Email, "password-"+role)
	}
	admin, supervisor := login(f, "admin"), login(f, "supervisor")
	res := supervisor.call("GET", "/api/contacts", nil)
	var page struct {
		Items []struct {
			ID         string `json:"id"`
			ExternalID string `json:"external_id"`
			Email      string `json:"email"`
			VerifiedBy string `json:"verified_by"`
		} `json:"items"`
	}
	if res.Status != 200 || json.Unmarshal(res.Body, &page) != nil || len(page.Items) != 1 {
		t.Fatalf("contacts: %d %s", res.Status, res.Body)
	}
	one := page.Items[0]
	if one.ExternalID != "cust-42" || one.Email != "jane@example.com" || one.VerifiedBy != "hash" {
		t.Fatalf("the contact: %s", res.Body)
	}
	res = supervisor.call("GET", "/api/contacts/"+one.ID, nil)
	var view struct {
		Visitors []struct {
			Visitor string `json:"visitor"`
		} `json:"visitors"`
		Conversations []struct {
			ID string `json:"id"`
		} `json:"conversations"`
	}
	if res.Status != 200 || json.Unmarshal(res.Body, &view) != nil || len(view.Visitors) != 1 || view.Visitors[0].Visitor != "laptop-1" ||
		len(view.Conversations) != 1 || view.Conversations[0].ID != conv {
		t.Fatalf("the contact's page: %d %s", res.Status, res.Body)
	}
	for _, role := range []string{"agent", "marketer"} {
		if res := login(f, role).call("GET", "/api/contacts/"+one.ID, nil); res.Status != 403 {
			t.Fatalf("%s reads a contact: %d", role, res.Status)
		}
	}
	if res := supervisor.call("DELETE", "/api/contacts/"+one.ID, nil); res.Status != 403 {
		t.Fatalf("a supervisor erases a contact: %d", res.Status)
	}
	// Another tenant's admin: not found, nothing erased.
	outsider := login(other, "admin")
	for _, m := range []string{"GET", "DELETE"} {
		if res := outsider.call(m, "/api/contacts/"+one.ID, nil); res.Status != 404 {
			t.Fatalf("%s another tenant's contact: %d %s", m, res.Status, res.Body)
		}
	}
	if res := admin.call("GET", "/api/contacts/"+strings.Repeat("x", 300), nil); res.Status != 404 {
		t.Fatalf("an oversized id: %d", res.Status)
	}
	if res := admin.call("GET", "/api/contacts?limit=0", nil); res.Status != 400 {
		t.Fatalf("a bad limit: %d", res.Status)
	}
	// The admin erases: the contact, its chat.
	res = admin.call("DELETE", "/api/contacts/"+one.ID, nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), `"deleted_conversations":1`) {
		t.Fatalf("erase: %d %s", res.Status, res.Body)
	}
	if res := admin.call("GET", "/api/contacts/"+one.ID, nil); res.Status != 404 {
		t.Fatalf("after the erasure: %d", res.Status)
	}
	if _, err := h.st.Conversation(ctx, f.tn.ID, conv); err == nil {
		t.Fatal("the contact's chat survived its erasure")
	}
}
