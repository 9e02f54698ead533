package server

import (
	"context"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/store"
)

// sessionFrom keeps the session a join answer opened.
func (h *harness) sessionFrom(res response) *client {
	h.t.Helper()
	c := &client{h: h}
	for _, ck := range (&http.Response{Header: res.Header}).Cookies() {
		if strings.HasSuffix(ck.Name, "nudge_session") {
			c.cookie = ck.Name + "=" + ck.Value
		}
	}
	if c.cookie == "" {
		h.t.Fatalf("no session cookie in %d %s", res.Status, res.Body)
	}
	c.csrf = res.json(h.t)["csrf_token"].(string)
	return c
}

// inviteToken creates an invitation as c and returns its token.
func inviteToken(t *testing.T, c *client, email, role string) (token, id string) {
	t.Helper()
	res := c.call("POST", "/api/invitations", map[string]any{"email": email, "role": role})
	if res.Status != 201 {
		t.Fatalf("invite %s: %d %s", email, res.Status, res.Body)
	}
	url := res.json(t)["url"].(string)
	_, token, ok := strings.Cut(url, "/invite#")
	if !ok || !strings.HasPrefix(token, "nudge_inv_") {
		t.Fatalf("invitation link %q", url)
	}
	return token, res.json(t)["invitation"].(map[string]any)["id"].(string)
}

func auditActions(t *testing.T, c *client) []string {
	t.Helper()
	var out []string
	for _, e := range c.call("GET", "/api/audit?limit=200", nil).json(t)["items"].([]any) {
		e := e.(map[string]any)
		out = append(out, e["action"].(string)+" by "+e["actor"].(string))
	}
	return out
}

func TestInvitations(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	acme, a := h.tenant("Acme")
	_, b := h.tenant("Beta")
	owner := h.login("owner@acme.test", "password-owner")
	admin := h.login("admin@acme.test", "password-admin")

	// The same answer whether the address has an account (in another
	// tenant) or none: nothing about other tenants' users.
	shape := func(res response) []string {
		var keys []string
		for k := range res.json(t) {
			keys = append(keys, k)
		}
		for k := range res.json(t)["invitation"].(map[string]any) {
			keys = append(keys, "invitation."+k)
		}
		slices.Sort(keys)
		return keys
	}
	known := admin.call("POST", "/api/invitations", map[string]any{"email": "agent@beta.test", "role": "supervisor"})
	unknown := admin.call("POST", "/api/invitations", map[string]any{"email": "New@Acme.test", "role": "agent"})
	if known.Status != 201 || unknown.Status != 201 || !slices.Equal(shape(known), shape(unknown)) {
		t.Fatalf("invitations answer differently:\n%d %s\n%d %s", known.Status, known.Body, unknown.Status, unknown.Body)
	}
	if strings.Contains(string(known.Body), b["agent"].ID) || unknown.json(t)["invitation"].(map[string]any)["email"] != "new@acme.test" {
		t.Fatalf("the answer: %s / %s", known.Body, unknown.Body)
	}
	_, newToken, _ := strings.Cut(unknown.json(t)["url"].(string), "/invite#")
	_, betaToken, _ := strings.Cut(known.json(t)["url"].(string), "/invite#")

	betaOwner := h.login("owner@beta.test", "password-owner")
	before := h.snapshot()
	for _, tc := range []struct {
		name   string
		c      *client
		body   any
		status int
		field  string
	}{
		{"invalid email", admin, map[string]any{"email": "not-an-email", "role": "agent"}, 422, "email"},
		{"unknown role", admin, map[string]any{"email": "x@acme.test", "role": "god"}, 422, "role"},
		{"admin invites an owner", admin, map[string]any{"email": "x@acme.test", "role": "owner"}, 403, ""},
		{"no expiry", admin, map[string]any{"email": "x@acme.test", "role": "agent", "expires_in_days": 0}, 422, "expires_in_days"},
		{"too long", admin, map[string]any{"email": "x@acme.test", "role": "agent", "expires_in_days": 31}, 422, "expires_in_days"},
		{"a password", admin, map[string]any{"email": "x@acme.test", "role": "agent", "password": "password-x"}, 400, "password"},
		{"oversized", admin, map[string]any{"email": strings.Repeat("x", 300) + "@acme.test", "role": "agent"}, 422, "email"},
	} {
		res := tc.c.call("POST", "/api/invitations", tc.body)
		if res.Status != tc.status {
			t.Errorf("%s: %d %s; want %d", tc.name, res.Status, res.Body, tc.status)
			continue
		}
		res.errorCode(t)
		if tc.field != "" && res.json(t)["error"].(map[string]any)["field"] != tc.field {
			t.Errorf("%s: error names %v; want %s", tc.name, res.json(t)["error"], tc.field)
		}
	}
	anon := h.anonymous()
	for name, body := range map[string]any{
		"unknown token": map[string]any{"token": "nudge_inv_nope"},
		"not a token":   map[string]any{"token": strings.Repeat("x", 5000)},
		"no token":      map[string]any{},
	} {
		if res := anon.call("POST", "/api/invitations/preview", body); res.Status != 404 || res.errorCode(t) != "invitation_invalid" {
			t.Errorf("preview, %s: %d %s", name, res.Status, res.Body)
		}
		if res := anon.call("POST", "/api/invitations/join", map[string]any{"token": newToken + "x", "password": "password-new"}); res.Status != 404 {
			t.Errorf("join, %s: %d %s", name, res.Status, res.Body)
		}
	}
	for _, path := range []string{"/api/invitations/join", "/api/invitations/preview"} {
		req := anon.request("POST", path, map[string]any{"token": newToken, "password": "password-new"})
		req.Header.Set("Origin", "https://evil.example")
		if res := h.do(req); res.Status != 403 {
			t.Errorf("%s from another origin: %d %s", path, res.Status, res.Body)
		}
	}
	if res := anon.call("POST", "/api/invitations/join", map[string]any{"token": newToken, "password": "short"}); res.Status != 422 {
		t.Errorf("a short password for the new account: %d %s", res.Status, res.Body)
	}
	// The wrong account: Beta's owner cannot take the invitation of Beta's agent.
	if res := betaOwner.call("POST", "/api/invitations/accept", map[string]any{"token": betaToken}); res.Status != 403 || res.errorCode(t) != "wrong_account" {
		t.Errorf("another account accepts: %d %s", res.Status, res.Body)
	}
	if res := anon.call("POST", "/api/invitations/join", map[string]any{"token": betaToken, "password": "password-wrong"}); res.Status != 401 {
		t.Errorf("join with the wrong password of the existing account: %d %s", res.Status, res.Body)
	}
	h.unchanged(before, "refused invitations")

	// The invited person sees what they join.
	res := anon.call("POST", "/api/invitations/preview", map[string]any{"token": newToken})
	if p := res.json(t); res.Status != 200 || p["tenant_name"] != "Acme" || p["email"] != "new@acme.test" || p["role"] != "agent" {
		t.Fatalf("preview: %d %s", res.Status, res.Body)
	}
	// A new account: created, a member, logged in.
	res = anon.call("POST", "/api/invitations/join", map[string]any{"token": newToken, "name": "Nina", "password": "password-new"})
	if res.Status != 200 || res.json(t)["tenant_id"] != acme.ID || res.json(t)["role"] != "agent" {
		t.Fatalf("join: %d %s", res.Status, res.Body)
	}
	nina := h.sessionFrom(res)
	if me := nina.call("GET", "/api/me", nil).json(t); me["user"].(map[string]any)["name"] != "Nina" || me["role"] != "agent" {
		t.Fatalf("the new member: %v", me)
	}
	if res := anon.call("POST", "/api/invitations/join", map[string]any{"token": newToken, "password": "password-new"}); res.Status != 404 {
		t.Fatalf("an invitation used twice: %d %s", res.Status, res.Body)
	}
	// An existing account, logged in: a member with the invited role, its
	// password and its other tenant untouched.
	betaAgent := h.login("agent@beta.test", "password-agent")
	res = betaAgent.call("POST", "/api/invitations/accept", map[string]any{"token": betaToken})
	if res.Status != 200 || res.json(t)["tenant_id"] != acme.ID || res.json(t)["role"] != "supervisor" || len(res.json(t)["memberships"].([]any)) != 2 {
		t.Fatalf("accept: %d %s", res.Status, res.Body)
	}
	betaAgent.tenant = acme.ID
	if res := betaAgent.call("GET", "/api/chat/live", nil); res.Status != 200 {
		t.Fatalf("the new supervisor's role is not in force: %d", res.Status)
	}
	// Accepting when already a member.
	again, _ := inviteToken(t, owner, "agent@acme.test", "admin")
	agent := h.login("agent@acme.test", "password-agent")
	if res := agent.call("POST", "/api/invitations/accept", map[string]any{"token": again}); res.Status != 409 {
		t.Fatalf("a member accepts: %d %s", res.Status, res.Body)
	}
	// An existing account that is not logged in joins with its password.
	ownerToken, _ := inviteToken(t, owner, "owner@beta.test", "marketer")
	res = anon.call("POST", "/api/invitations/join", map[string]any{"token": ownerToken, "password": "password-owner"})
	if res.Status != 200 || res.json(t)["role"] != "marketer" {
		t.Fatalf("join with an existing account: %d %s", res.Status, res.Body)
	}

	// Revoked, replaced and expired links do not work.
	revoked, revokedID := inviteToken(t, admin, "r@acme.test", "agent")
	if res := admin.call("DELETE", "/api/invitations/"+revokedID, nil); res.Status != 204 {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	if res := admin.call("DELETE", "/api/invitations/"+revokedID, nil); res.Status != 409 {
		t.Fatalf("revoke twice: %d %s", res.Status, res.Body)
	}
	replaced, _ := inviteToken(t, admin, "twice@acme.test", "agent")
	inviteToken(t, admin, "twice@acme.test", "marketer")
	token, late, err := h.srv.auth.Invite(context.Background(), store.System, "owner", acme.ID, "late@acme.test", "agent", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for !time.Now().After(late.ExpiresAt) {
		runtime.Gosched()
	}
	for name, tok := range map[string]string{"revoked": revoked, "replaced": replaced, "expired": token} {
		if res := anon.call("POST", "/api/invitations/join", map[string]any{"token": tok, "password": "password-late"}); res.Status != 404 {
			t.Errorf("%s invitation: %d %s", name, res.Status, res.Body)
		}
	}

	// The console lists them with their status; the audit log has both sides.
	statuses := map[string]string{}
	for _, it := range admin.call("GET", "/api/invitations?limit=200", nil).json(t)["items"].([]any) {
		it := it.(map[string]any)
		statuses[it["email"].(string)+" "+it["role"].(string)] = it["status"].(string)
	}
	for k, want := range map[string]string{"new@acme.test agent": "accepted", "agent@beta.test supervisor": "accepted", "r@acme.test agent": "revoked",
		"twice@acme.test agent": "revoked", "twice@acme.test marketer": "pending", "late@acme.test agent": "expired", "agent@acme.test admin": "pending"} {
		if statuses[k] != want {
			t.Errorf("%s: %q, want %s (all: %v)", k, statuses[k], want, statuses)
		}
	}
	actions := strings.Join(auditActions(t, owner), "\n")
	for _, want := range []string{"invitation.create by user:" + a["admin"].ID, "invitation.accept by user:" + b["agent"].ID,
		"member.set by user:" + b["agent"].ID, "invitation.revoke by user:" + a["admin"].ID, "user.create by user:"} {
		if !strings.Contains(actions, want) {
			t.Errorf("the audit log lacks %q:\n%s", want, actions)
		}
	}
	if res := h.login("agent@beta.test", "password-agent").call("GET", "/api/me", nil); len(res.json(t)["memberships"].([]any)) != 2 {
		t.Fatalf("memberships: %s", res.Body)
	}
}
