package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/store"
)

func TestLoginSessionLogout(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.tenant("Acme")
	anon := h.anonymous()
	if res := anon.call("GET", "/api/me", nil); res.Status != 401 || res.errorCode(t) != "unauthenticated" {
		t.Fatalf("me without a session: %d %s", res.Status, res.Body)
	}
	res := anon.call("POST", "/api/auth/login", map[string]string{"email": "Admin@Acme.test", "password": "password-admin"})
	if res.Status != 200 {
		t.Fatalf("login: %d %s", res.Status, res.Body)
	}
	cookie := res.Header.Get("Set-Cookie")
	for _, want := range []string{"nudge_session=", "HttpOnly", "SameSite=Lax", "path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "secure") {
		t.Errorf("cookie is Secure on plain HTTP: %s", cookie)
	}
	c := h.login("admin@acme.test", "password-admin")
	me := c.call("GET", "/api/me", nil).json(t)
	if me["role"] != "admin" || me["user"].(map[string]any)["email"] != "admin@acme.test" {
		t.Fatalf("me = %v", me)
	}
	if _, leaked := me["user"].(map[string]any)["password_hash"]; leaked {
		t.Fatal("me shows the password hash")
	}
	forged := *c
	forged.cookie = "nudge_session=" + strings.Repeat("A", 43)
	if res := forged.call("GET", "/api/me", nil); res.Status != 401 {
		t.Fatalf("forged session: %d", res.Status)
	}
	if res := c.call("POST", "/api/auth/logout", nil); res.Status != 204 {
		t.Fatalf("logout: %d %s", res.Status, res.Body)
	}
	if res := c.call("GET", "/api/me", nil); res.Status != 401 {
		t.Fatalf("me after logout: %d", res.Status)
	}
}

func TestExpiredSessionIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.tenant("Acme")
	c := h.login("agent@acme.test", "password-agent")
	if _, err := h.st.DeleteExpiredSessions(context.Background(), time.Now().Add(8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if res := c.call("GET", "/api/me", nil); res.Status != 401 || res.errorCode(t) != "unauthenticated" {
		t.Fatalf("expired session: %d %s", res.Status, res.Body)
	}
}

func TestLoginBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.tenant("Acme")
	anon := h.anonymous()
	before := h.snapshot()
	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"malformed JSON", anon.request("POST", "/api/auth/login", `{"email":`), 400, "invalid_json"},
		{"trailing data", anon.request("POST", "/api/auth/login", `{"email":"a@b.c","password":"x"} {}`), 400, "invalid_json"},
		{"unknown field", anon.request("POST", "/api/auth/login", `{"email":"a@b.c","password":"x","admin":true}`), 400, "unknown_field"},
		{"wrong type", anon.request("POST", "/api/auth/login", `{"email":1,"password":"x"}`), 400, "invalid_json"},
		{"invalid UTF-8", anon.request("POST", "/api/auth/login", "{\"email\":\"\xff\",\"password\":\"x\"}"), 400, "invalid_utf8"},
		{"empty", anon.request("POST", "/api/auth/login", `{}`), 400, "invalid"},
		// A second name must not pick the account (encoding/json kept the last one).
		{"email given twice", anon.request("POST", "/api/auth/login", `{"email":"nobody@acme.test","email":"owner@acme.test","password":"password-owner"}`), 400, "invalid_json"},
		{"email in other case", anon.request("POST", "/api/auth/login", `{"email":"nobody@acme.test","EMAIL":"owner@acme.test","password":"password-owner"}`), 400, "unknown_field"},
		{"null", anon.request("POST", "/api/auth/login", `null`), 400, "invalid_json"},
		{"wrong password", anon.request("POST", "/api/auth/login", `{"email":"owner@acme.test","password":"password-admin"}`), 401, "bad_credentials"},
		{"unknown email", anon.request("POST", "/api/auth/login", `{"email":"ghost@acme.test","password":"password-admin"}`), 401, "bad_credentials"},
	} {
		res := h.do(tc.req)
		if res.Status != tc.status || res.errorCode(t) != tc.code {
			t.Errorf("%s: %d %s; want %d %s", tc.name, res.Status, res.Body, tc.status, tc.code)
		}
	}
	big := anon.request("POST", "/api/auth/login", `{"email":"`+strings.Repeat("a", 2<<20)+`"}`)
	big.Header.Set("X-Test-Socket", "1")
	if res := h.do(big); res.Status != 413 || res.errorCode(t) != "too_large" {
		t.Errorf("oversized body: %d %s", res.Status, res.Body)
	}
	form := anon.request("POST", "/api/auth/login", "email=owner%40acme.test&password=password-owner")
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := h.do(form); res.Status != 415 || res.errorCode(t) != "unsupported_media_type" {
		t.Errorf("form-encoded login: %d %s", res.Status, res.Body)
	}
	h.unchanged(before, "refused logins")
}

// Failed logins slow the account from the failing address with growing
// delays; the owner logs in from another address at once; an address that
// fails across accounts is limited too.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.TrustedProxies = []string{"0.0.0.0"} })
	h.tenant("Acme")
	from := func(ip, email, password string) response {
		req := h.anonymous().request("POST", "/api/auth/login", map[string]string{"email": email, "password": password})
		req.Header.Set("X-Forwarded-For", ip)
		return h.do(req)
	}
	for range 3 {
		from("203.0.113.66", "owner@acme.test", "wrong-password")
	}
	res := from("203.0.113.66", "owner@acme.test", "wrong-password")
	if res.Status != 401 {
		t.Fatalf("fourth attempt: %d; the first failures past the free ones are answered, then delayed", res.Status)
	}
	res = from("203.0.113.66", "owner@acme.test", "password-owner")
	if res.Status != 429 || res.errorCode(t) != "rate_limited" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("from the failing address: %d %v %s; want 429 with Retry-After", res.Status, res.Header, res.Body)
	}
	// The owner, from an address that has not been failing: in at once.
	if res := from("198.51.100.7", "owner@acme.test", "password-owner"); res.Status != 200 {
		t.Fatalf("the owner from another address: %d %s", res.Status, res.Body)
	}
	// Another user from the failing address still logs in.
	if res := from("203.0.113.66", "agent@acme.test", "password-agent"); res.Status != 200 {
		t.Fatalf("another account from the same address: %d", res.Status)
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.tenant("Acme")
	c := h.login("owner@acme.test", "password-owner")
	before := h.snapshot()

	// A cross-origin HTML form: the browser sends the Lax cookie on a top-level
	// POST? No, but it would on some browsers' legacy paths; and it cannot set
	// the CSRF header. Either check must refuse it.
	form := c.request("POST", "/api/sites", "name=evil")
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	form.Header.Set("Origin", "https://evil.example")
	form.Header.Set("Sec-Fetch-Site", "cross-site")
	form.Header.Del("X-CSRF-Token")
	if res := h.do(form); res.Status != 403 || res.errorCode(t) != "cross_origin" {
		t.Errorf("cross-origin form POST: %d %s", res.Status, res.Body)
	}
	noToken := c.request("POST", "/api/sites", map[string]any{"name": "x"})
	noToken.Header.Del("X-CSRF-Token")
	if res := h.do(noToken); res.Status != 403 || res.errorCode(t) != "csrf" {
		t.Errorf("same-origin POST without the CSRF header: %d %s", res.Status, res.Body)
	}
	wrongToken := c.request("DELETE", "/api/members/x", nil)
	wrongToken.Header.Set("X-CSRF-Token", "guess")
	if res := h.do(wrongToken); res.Status != 403 {
		t.Errorf("wrong CSRF token: %d", res.Status)
	}
	logout := c.request("POST", "/api/auth/logout", nil)
	logout.Header.Set("Origin", "https://evil.example")
	if res := h.do(logout); res.Status != 403 {
		t.Errorf("cross-origin logout: %d", res.Status)
	}
	login := h.anonymous().request("POST", "/api/auth/login", map[string]string{"email": "owner@acme.test", "password": "password-owner"})
	login.Header.Set("Origin", "https://evil.example")
	if res := h.do(login); res.Status != 403 {
		t.Errorf("cross-origin login: %d", res.Status)
	}
	h.unchanged(before, "cross-site requests")
	if res := c.call("GET", "/api/me", nil); res.Status != 200 {
		t.Fatalf("session ended by a refused logout: %d", res.Status)
	}
	ok := c.request("POST", "/api/sites", map[string]any{"name": "Shop"})
	ok.Header.Set("Origin", "http://localhost:8080")
	if res := h.do(ok); res.Status != 201 {
		t.Fatalf("same-origin POST with the token: %d %s", res.Status, res.Body)
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.tenant("Acme")
	laptop := h.login("agent@acme.test", "password-agent")
	phone := h.login("agent@acme.test", "password-agent")
	if res := laptop.call("PUT", "/api/me/password", map[string]string{"current_password": "nope", "new_password": "a-new-password"}); res.Status != 422 {
		t.Fatalf("wrong current password: %d %s", res.Status, res.Body)
	}
	if res := laptop.call("PUT", "/api/me/password", map[string]string{"current_password": "password-agent", "new_password": "short"}); res.Status != 422 {
		t.Fatalf("too short: %d %s", res.Status, res.Body)
	}
	if res := phone.call("GET", "/api/me", nil); res.Status != 200 {
		t.Fatal("a refused change ended a session")
	}
	if res := laptop.call("PUT", "/api/me/password", map[string]string{"current_password": "password-agent", "new_password": "a-new-password"}); res.Status != 204 {
		t.Fatalf("change: %d %s", res.Status, res.Body)
	}
	if res := laptop.call("GET", "/api/me", nil); res.Status != 200 {
		t.Fatal("the session that changed the password ended")
	}
	if res := phone.call("GET", "/api/me", nil); res.Status != 401 {
		t.Fatalf("the other session lives on: %d", res.Status)
	}
	h.login("agent@acme.test", "a-new-password")
}

func TestMembers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	acme, a := h.tenant("Acme")
	h.tenant("Beta")
	owner := h.login("owner@acme.test", "password-owner")
	admin := h.login("admin@acme.test", "password-admin")

	before := h.snapshot()
	if res := admin.call("PATCH", "/api/members/"+a["owner"].ID, map[string]string{"role": "agent"}); res.Status != 403 {
		t.Errorf("admin demotes owner: %d", res.Status)
	}
	if res := admin.call("DELETE", "/api/members/"+a["owner"].ID, nil); res.Status != 403 {
		t.Errorf("admin removes owner: %d", res.Status)
	}
	if res := owner.call("PATCH", "/api/members/"+a["owner"].ID, map[string]string{"role": "admin"}); res.Status != 403 || !strings.Contains(string(res.Body), "owner") {
		t.Errorf("last owner demotes itself: %d %s", res.Status, res.Body)
	}
	h.unchanged(before, "refused member changes")

	if res := owner.call("PATCH", "/api/members/"+a["agent"].ID, map[string]string{"role": "supervisor"}); res.Status != 200 || res.json(t)["role"] != "supervisor" {
		t.Fatalf("owner promotes agent: %d %s", res.Status, res.Body)
	}
	agent := h.login("agent@acme.test", "password-agent")
	if res := agent.call("PATCH", "/api/members/"+a["agent"].ID, map[string]string{"role": "supervisor"}); res.Status != 403 {
		t.Fatalf("a supervisor changes roles: %d", res.Status)
	}
	if err := h.srv.auth.SetMembership(context.Background(), store.System, "owner", acme.ID, a["agent"].ID, "admin"); err != nil {
		t.Fatal(err)
	}
	if res := agent.call("GET", "/api/members", nil); res.Status != 200 {
		t.Fatalf("promotion not in force: %d", res.Status)
	}
	if res := owner.call("DELETE", "/api/members/"+a["agent"].ID, nil); res.Status != 204 {
		t.Fatalf("remove: %d", res.Status)
	}
	if res := agent.call("GET", "/api/members", nil); res.Status != 403 && res.Status != 404 {
		t.Fatalf("removed member still reads members: %d", res.Status)
	}
	list := owner.call("GET", "/api/members?limit=3", nil).json(t)
	if len(list["items"].([]any)) != 3 || list["next_cursor"] == "" {
		t.Fatalf("first page of members: %v", list)
	}
	if res := owner.call("GET", "/api/members?limit=0", nil); res.Status != 400 {
		t.Fatalf("limit=0: %d", res.Status)
	}
}

func TestSites(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.tenant("Acme")
	admin := h.login("admin@acme.test", "password-admin")
	marketer := h.login("marketer@acme.test", "password-marketer")
	res := admin.call("POST", "/api/sites", map[string]any{"name": "Shop", "key": "shop", "allowed_origins": []string{"https://Shop.Example.com"}, "time_zone": "Europe/Paris"})
	if res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	site := res.json(t)
	id := site["id"].(string)
	if site["key"] != "shop" || site["allowed_origins"].([]any)[0] != "https://shop.example.com" || site["identity_secret"] != nil {
		t.Fatalf("created site: %v", site)
	}
	before := h.snapshot()
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		field        string
	}{
		{"POST", "/api/sites", map[string]any{"name": ""}, 422, "name"},
		{"POST", "/api/sites", map[string]any{"name": "x", "key": "shop"}, 422, "key"},
		{"POST", "/api/sites", map[string]any{"name": "x", "key": ""}, 422, "key"},
		{"POST", "/api/sites", map[string]any{"name": "x", "allowed_origins": []string{"javascript:alert(1)"}}, 422, "allowed_origins"},
		{"POST", "/api/sites", map[string]any{"name": "x", "time_zone": "Nowhere/City"}, 422, "time_zone"},
		{"POST", "/api/sites", map[string]any{"name": "x", "theme": map[string]string{"color": "red", "position": "right"}}, 422, "theme.color"},
		{"POST", "/api/sites", map[string]any{"name": "x", "settings": map[string]any{"track_ips": true}}, 400, "settings.track_ips"},
		{"PATCH", "/api/sites/" + id, map[string]any{"key": "other"}, 422, "key"},
		{"PATCH", "/api/sites/" + id, map[string]any{"allowed_origins": []string{"https://a.test/path"}}, 422, "allowed_origins"},
		{"PATCH", "/api/sites/nope", map[string]any{"name": "x"}, 404, ""},
	} {
		res := admin.call(tc.method, tc.path, tc.body)
		if res.Status != tc.status {
			t.Errorf("%s %s %v: %d %s; want %d", tc.method, tc.path, tc.body, res.Status, res.Body, tc.status)
			continue
		}
		res.errorCode(t)
		if tc.field != "" && res.json(t)["error"].(map[string]any)["field"] != tc.field {
			t.Errorf("%v: field %v; want %s", tc.body, res.json(t)["error"], tc.field)
		}
	}
	if res := marketer.call("PATCH", "/api/sites/"+id, map[string]any{"name": "Mine"}); res.Status != 403 {
		t.Errorf("marketer edits a site: %d", res.Status)
	}
	if res := marketer.call("GET", "/api/sites/"+id+"/secret", nil); res.Status != 403 {
		t.Errorf("marketer reads the identity secret: %d", res.Status)
	}
	h.unchanged(before, "refused site changes")

	res = admin.call("PATCH", "/api/sites/"+id, map[string]any{"name": "Shop EU", "settings": map[string]bool{"respect_dnt": true, "cookieless": true, "consent_required": false}})
	if res.Status != 200 || res.json(t)["name"] != "Shop EU" || res.json(t)["time_zone"] != "Europe/Paris" {
		t.Fatalf("update keeps what it does not name: %d %s", res.Status, res.Body)
	}
	if res := marketer.call("GET", "/api/sites/"+id, nil); res.Status != 200 || res.json(t)["name"] != "Shop EU" {
		t.Fatalf("marketer reads the site: %d", res.Status)
	}
	secret := admin.call("GET", "/api/sites/"+id+"/secret", nil).json(t)["identity_secret"].(string)
	rotated := admin.call("POST", "/api/sites/"+id+"/secret", nil).json(t)["identity_secret"].(string)
	if len(secret) != 64 || rotated == secret {
		t.Fatalf("secret %q rotated to %q", secret, rotated)
	}
	if res := admin.call("DELETE", "/api/sites/"+id, nil); res.Status != 204 {
		t.Fatalf("delete: %d", res.Status)
	}
	if res := admin.call("GET", "/api/sites/"+id, nil); res.Status != 404 {
		t.Fatalf("deleted site: %d", res.Status)
	}
	audit := admin.call("GET", "/api/audit", nil).json(t)["items"].([]any)
	if first := audit[0].(map[string]any); first["action"] != "site.delete" || !strings.HasPrefix(first["actor"].(string), "user:") {
		t.Fatalf("audit log does not start with the deletion: %v", first)
	}
	// Filters: by the start of the action, and by actor.
	actor := audit[0].(map[string]any)["actor"].(string)
	for q, want := range map[string]func(map[string]any) bool{
		"action=site.":       func(e map[string]any) bool { return strings.HasPrefix(e["action"].(string), "site.") },
		"action=site.delete": func(e map[string]any) bool { return e["action"] == "site.delete" },
		"actor=" + actor:     func(e map[string]any) bool { return e["actor"] == actor },
	} {
		items := admin.call("GET", "/api/audit?"+q, nil).json(t)["items"].([]any)
		if len(items) == 0 {
			t.Errorf("%s: nothing", q)
		}
		for _, e := range items {
			if !want(e.(map[string]any)) {
				t.Errorf("%s: %v", q, e)
			}
		}
	}
	if n := len(admin.call("GET", "/api/audit?actor=user:nobody", nil).json(t)["items"].([]any)); n != 0 {
		t.Errorf("another actor's entries: %d", n)
	}
	if res := admin.call("GET", "/api/audit?action="+strings.Repeat("x", 65), nil); res.Status != 400 {
		t.Errorf("a long filter: %d", res.Status)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, a := h.tenant("Acme")
	b, _ := h.tenant("Beta")
	admin := h.login("admin@acme.test", "password-admin")
	res := admin.call("POST", "/api/tokens", map[string]any{"name": "crm", "role": "supervisor"})
	if res.Status != 201 {
		t.Fatalf("create token: %d %s", res.Status, res.Body)
	}
	secret := res.json(t)["secret"].(string)
	tokenID := res.json(t)["token"].(map[string]any)["id"].(string)
	if strings.Contains(string(admin.call("GET", "/api/tokens", nil).Body), secret) {
		t.Fatal("the token list shows the secret")
	}
	bot := &client{h: h, bearer: secret}
	if res := bot.call("GET", "/api/sites", nil); res.Status != 200 {
		t.Fatalf("supervisor token reads sites: %d %s", res.Status, res.Body)
	}
	if res := bot.call("GET", "/api/members/"+a["agent"].ID, nil); res.Status != 403 {
		t.Fatalf("supervisor token reads members: %d %s", res.Status, res.Body)
	}
	if res := bot.call("POST", "/api/sites", map[string]any{"name": "x"}); res.Status != 403 {
		t.Fatalf("supervisor token creates a site: %d", res.Status)
	}
	other := &client{h: h, bearer: secret, tenant: b.ID}
	if res := other.call("GET", "/api/sites", nil); res.Status != 404 {
		t.Fatalf("token asks for another tenant: %d", res.Status)
	}
	if res := bot.call("POST", "/api/auth/logout", nil); res.Status != 400 {
		t.Fatalf("token logout: %d", res.Status)
	}
	if res := bot.call("PUT", "/api/me/password", map[string]string{"current_password": "x", "new_password": "yyyyyyyyy"}); res.Status != 403 {
		t.Fatalf("token changes a password: %d", res.Status)
	}
	for _, tc := range []struct {
		body   any
		status int
	}{
		{map[string]any{"name": "x", "role": "owner"}, 403},
		{map[string]any{"name": "", "role": "bot"}, 422},
		{map[string]any{"name": "x", "role": "root"}, 422},
		{map[string]any{"name": "x", "role": "bot", "expires_at": "2001-01-01T00:00:00Z"}, 422},
		{map[string]any{"name": "x", "role": "bot", "expires_at": "tomorrow"}, 400},
	} {
		if res := admin.call("POST", "/api/tokens", tc.body); res.Status != tc.status {
			t.Errorf("create token %v: %d %s; want %d", tc.body, res.Status, res.Body, tc.status)
		}
	}
	if res := (&client{h: h, bearer: "nudge_forged"}).call("GET", "/api/me", nil); res.Status != 401 {
		t.Fatalf("forged token: %d", res.Status)
	}
	if res := (&client{h: h, bearer: ""}).call("GET", "/api/me", nil); res.Status != 401 {
		t.Fatalf("empty bearer: %d", res.Status)
	}
	if res := admin.call("DELETE", "/api/tokens/"+tokenID, nil); res.Status != 204 {
		t.Fatalf("revoke: %d", res.Status)
	}
	if res := bot.call("GET", "/api/me", nil); res.Status != 401 {
		t.Fatalf("revoked token: %d", res.Status)
	}
}

func TestUserInSeveralTenantsPicksOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, ua := h.tenant("Acme")
	b, _ := h.tenant("Beta")
	c3, _ := h.tenant("Gamma")
	if err := h.srv.auth.SetMembership(context.Background(), store.System, "owner", b.ID, ua["agent"].ID, "admin"); err != nil {
		t.Fatal(err)
	}
	c := h.login("agent@acme.test", "password-agent")
	if me := c.call("GET", "/api/me", nil).json(t); me["tenant_id"] != a.ID || me["role"] != "agent" || len(me["memberships"].([]any)) != 2 {
		t.Fatalf("default tenant: %v", me)
	}
	if res := c.call("GET", "/api/members", nil); res.Status != 403 {
		t.Fatalf("agent in its first tenant reads members: %d", res.Status)
	}
	c.tenant = b.ID
	if res := c.call("GET", "/api/members", nil); res.Status != 200 {
		t.Fatalf("admin in the second tenant: %d %s", res.Status, res.Body)
	}
	c.tenant = c3.ID
	if res := c.call("GET", "/api/me", nil); res.Status != 404 {
		t.Fatalf("a tenant the user is not in: %d", res.Status)
	}
}

func TestOperations(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Demo = true })
	if err := h.srv.Bootstrap(context.Background(), &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	anon := h.anonymous()
	if res := anon.call("GET", "/healthz", nil); res.Status != 200 {
		t.Fatalf("healthz: %d", res.Status)
	}
	if res := anon.call("GET", "/readyz", nil); res.Status != 200 || res.json(t)["status"] != "ok" {
		t.Fatalf("readyz: %d %s", res.Status, res.Body)
	}
	if res := anon.call("GET", "/metrics", nil); res.Status != 404 {
		t.Fatalf("metrics on the public listener without --metrics-token: %d", res.Status)
	}
	req := anon.request("GET", "/api/me", nil)
	req.Header.Set("X-Request-ID", "trace-42")
	if res := h.do(req); res.Header.Get("X-Request-ID") != "trace-42" {
		t.Fatalf("request id not echoed: %v", res.Header)
	}
	req.Header.Set("X-Request-ID", "bad id\nforged-log-line")
	if id := h.do(req).Header.Get("X-Request-ID"); len(id) != 26 {
		t.Fatalf("unsafe request id accepted: %q", id)
	}
	for path, want := range map[string]bool{"/": true, "/api/me": true, "/sites/x": true, "/demo": false, "/demo/pricing": false, "/healthz": false} {
		res := anon.call("GET", path, nil)
		if got := res.Header.Get("X-Frame-Options") == "DENY" && res.Header.Get("Content-Security-Policy") != ""; got != want {
			t.Errorf("%s: security headers %v; want %v", path, got, want)
		}
	}
	for _, page := range []string{"/demo", "/demo/pricing", "/demo/billing", "/demo/checkout"} {
		if res := anon.call("GET", page, nil); res.Status != 200 || !strings.Contains(string(res.Body), "Acme Energy") {
			t.Errorf("%s: %d", page, res.Status)
		}
	}
	if res := anon.call("GET", "/demo/admin", nil); res.Status != 404 {
		t.Errorf("unknown demo page: %d", res.Status)
	}
	if res := anon.call("GET", "/api/nothing-here", nil); res.Status != 401 && res.Status != 404 {
		t.Errorf("unknown API path: %d", res.Status)
	}
}

func TestDemoOnlyWithFlag(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if err := h.srv.Bootstrap(context.Background(), &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if n := h.snapshot()["tenants"]; n != 0 {
		t.Fatalf("without --demo, %d tenants exist", n)
	}
	if res := h.anonymous().call("GET", "/demo", nil); strings.Contains(string(res.Body), "Acme Energy") {
		t.Fatal("without --demo, /demo serves the shop")
	}
}

func TestBootstrapIsIdempotent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Demo = true })
	var out strings.Builder
	if err := h.srv.Bootstrap(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	var password string
	for _, line := range strings.Split(out.String(), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "password:"); ok {
			password = strings.TrimSpace(p)
		}
	}
	if password == "" {
		t.Fatalf("no password printed: %q", out.String())
	}
	before := h.snapshot()
	out.Reset()
	if err := h.srv.Bootstrap(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	h.unchanged(before, "a second start")
	if strings.Contains(out.String(), password) {
		t.Fatal("the password is printed again")
	}
	c := h.login("admin@localhost", password)
	sites := c.call("GET", "/api/sites", nil).json(t)["items"].([]any)
	if len(sites) != 1 || sites[0].(map[string]any)["key"] != "demo" || fmt.Sprint(sites[0].(map[string]any)["allowed_origins"]) != "[http://localhost:8080 http://127.0.0.1:8080]" {
		t.Fatalf("demo sites: %v", sites)
	}
	// The demo shows a newcomer the chat's settings at work: a welcome, a
	// pre-chat form and question with two topics, business hours, CSAT.
	set := c.call("GET", "/api/chat/settings", nil).json(t)
	if set["csat"] != true || len(set["prechat"].(map[string]any)["options"].([]any)) != 2 || set["form"] == nil || set["welcome"].(map[string]any)["title"] != "Acme Energy" {
		t.Fatalf("demo chat settings: %v", set)
	}
	queues := c.call("GET", "/api/queues", nil).json(t)["items"].([]any)
	if len(queues) != 2 || queues[1].(map[string]any)["config"].(map[string]any)["hours"] == nil && queues[0].(map[string]any)["config"].(map[string]any)["hours"] == nil {
		t.Fatalf("demo queues: %v", queues)
	}
}

func TestSecureCookieBehindHTTPS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.PublicURL = "https://chat.example.com" })
	h.tenant("Acme")
	res := h.anonymous().call("POST", "/api/auth/login", map[string]string{"email": "agent@acme.test", "password": "password-agent"})
	if ck := res.Header.Get("Set-Cookie"); !strings.HasPrefix(ck, "__Host-nudge_session=") || !strings.Contains(ck, "secure") {
		t.Fatalf("cookie over HTTPS: %q", ck)
	}
}

func TestReadyzFailsWhenTheStoreIsGone(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.st.Close()
	res := h.anonymous().call("GET", "/readyz", nil)
	if res.Status != 503 || res.json(t)["status"] != "unavailable" {
		t.Fatalf("readyz with a closed store: %d %s", res.Status, res.Body)
	}
	// The answer is public: no file path, no driver's words.
	if body := string(res.Body); strings.Contains(body, h.srv.cfg.DataDir) || strings.Contains(body, ".db") || strings.Contains(body, "sql") {
		t.Fatalf("readyz shows the cause: %s", body)
	}
	if res := h.anonymous().call("GET", "/healthz", nil); res.Status != 200 {
		t.Fatalf("healthz: %d", res.Status)
	}
}

// /metrics is on the main listener only with a token; with --metrics-addr
// it is not there at all (nudge serve serves MetricsHandler on that address).
func TestMetricsAreNotPublic(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.MetricsToken = "0123456789abcdef-metrics" })
	h.anonymous().call("GET", "/readyz", nil)
	for _, auth := range []string{"", "Bearer wrong-token-000000000", "Basic MDEyMzQ1Njc4OWFiY2RlZi1tZXRyaWNz"} {
		req := h.anonymous().request("GET", "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if res := h.do(req); res.Status != 401 || res.errorCode(t) != "unauthenticated" {
			t.Errorf("%q: %d", auth, res.Status)
		}
	}
	req := h.anonymous().request("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer 0123456789abcdef-metrics")
	res := h.do(req)
	if res.Status != 200 || !strings.Contains(string(res.Body), `nudge_http_requests_total{method="GET",route="/readyz",status="200"} 1`) {
		t.Fatalf("metrics with the token: %d %.300s", res.Status, res.Body)
	}
	h2 := newHarness(t, func(c *Config) { c.MetricsAddr = "127.0.0.1:0"; c.MetricsToken = "0123456789abcdef-metrics" })
	req = h2.anonymous().request("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer 0123456789abcdef-metrics")
	if res := h2.do(req); res.Status != 404 {
		t.Errorf("with --metrics-addr the main listener still serves metrics: %d", res.Status)
	}
	rec := httptest.NewRecorder()
	h2.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "nudge_analytics_events_queued") || !strings.Contains(rec.Body.String(), "nudge_contacts_sightings_dropped_total") {
		t.Errorf("the metrics handler: %d", rec.Code)
	}
	bad := DefaultConfig()
	bad.MetricsToken = "short"
	if err := bad.Validate(); err == nil {
		t.Error("a short metrics token accepted")
	}
	bad = DefaultConfig()
	bad.ConsoleDir = t.TempDir()
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "console-dir") {
		t.Errorf("a console folder without index.html: %v", err)
	}
}

// /api/me lists what the role may do: the console builds its sections from
// it rather than from a copy of the policy.
func TestMeListsPermissions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.tenant("Acme")
	for role, want := range map[string][2][]string{
		"agent":    {{"chat:work", "sites:read"}, {"sites:write", "members:read", "rules:write"}},
		"marketer": {{"rules:write", "reports:read"}, {"chat:work", "members:write"}},
		"owner":    {{"members:write", "chat:supervise", "rules:write", "sites:write"}, {}},
	} {
		me := h.login(role+"@acme.test", "password-"+role).call("GET", "/api/me", nil).json(t)
		var perms []string
		for _, p := range me["permissions"].([]any) {
			perms = append(perms, p.(string))
		}
		for _, p := range want[0] {
			if !slices.Contains(perms, p) {
				t.Errorf("%s lacks %s: %v", role, p, perms)
			}
		}
		for _, p := range want[1] {
			if slices.Contains(perms, p) {
				t.Errorf("%s has %s: %v", role, p, perms)
			}
		}
	}
}

// The console asks whether it holds a session without a failed request.
func TestSessionProbe(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.tenant("Acme")
	if res := h.anonymous().call("GET", "/api/auth/session", nil); res.Status != 200 || res.json(t)["authenticated"] != false {
		t.Fatalf("without a cookie: %d %s", res.Status, res.Body)
	}
	gone := &client{h: h, cookie: "nudge_session=not-a-session"}
	if res := gone.call("GET", "/api/auth/session", nil); res.Status != 200 || res.json(t)["authenticated"] != false {
		t.Fatalf("with a dead cookie: %d %s", res.Status, res.Body)
	}
	c := h.login("agent@acme.test", "password-agent")
	me := c.call("GET", "/api/auth/session", nil).json(t)
	if me["authenticated"] != true || me["role"] != "agent" || me["csrf_token"] == "" {
		t.Fatalf("with a session: %v", me)
	}
}

// A user sets the display name visitors see; it reaches the chat.
func TestDisplayName(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	c := h.login(f.users["agent"].Email, "password-agent")
	before := h.snapshot()
	for _, name := range []string{"", "   ", strings.Repeat("x", 81), "a\x07b"} {
		if res := c.call("PUT", "/api/me/profile", map[string]string{"name": name}); res.Status != 422 {
			t.Errorf("name %q: %d", name, res.Status)
		}
	}
	h.unchanged(before, "refused names")
	if res := c.call("PUT", "/api/me/profile", map[string]string{"name": " Ada Lovelace "}); res.Status != 200 || res.json(t)["name"] != "Ada Lovelace" {
		t.Fatalf("rename: %d %s", res.Status, res.Body)
	}
	agent, v, conv := f.acceptedChat()
	agent.send(map[string]any{"type": "send", "id": "s", "conversation": conv, "text": "Hello"})
	m := v.until("the agent's message", func(m map[string]any) bool { return messageText(m) == "Hello" })
	if name := m["data"].(map[string]any)["sender"].(map[string]any)["name"]; name != "Ada Lovelace" {
		t.Fatalf("the visitor sees the agent as %v", name)
	}
}
