package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/contacts"
	"github.com/nudgehq/nudge/store"
)

const (
	public   = "public"   // no credentials needed
	loggedIn = "loggedIn" // any authenticated user, whatever the role
)

// routeRoles says who may use each API route. A route the router has and this
// table lacks fails TestRoleMatrix: a new route must state its policy here.
var routeRoles = map[string][]string{
	"GET /api/openapi.json":                                       {public},
	"POST /api/auth/login":                                        {public},
	"GET /api/auth/session":                                       {public},
	"POST /api/auth/logout":                                       {loggedIn},
	"GET /api/me":                                                 {loggedIn},
	"PUT /api/me/password":                                        {loggedIn},
	"PUT /api/me/profile":                                         {loggedIn},
	"PUT /api/me/avatar":                                          {loggedIn},
	"DELETE /api/me/avatar":                                       {loggedIn},
	"GET /api/members":                                            {"owner", "admin"},
	"GET /api/contacts":                                           {"owner", "admin", "supervisor"},
	"GET /api/contacts/:contactID":                                {"owner", "admin", "supervisor"},
	"DELETE /api/contacts/:contactID":                             {"owner", "admin"},
	"GET /api/invitations":                                        {"owner", "admin"},
	"POST /api/invitations":                                       {"owner", "admin"},
	"DELETE /api/invitations/:invitationID":                       {"owner", "admin"},
	"POST /api/invitations/accept":                                {loggedIn},
	"POST /api/invitations/preview":                               {public},
	"POST /api/invitations/join":                                  {public},
	"GET /api/members/:userID":                                    {"owner", "admin"},
	"PATCH /api/members/:userID":                                  {"owner", "admin"},
	"DELETE /api/members/:userID":                                 {"owner", "admin"},
	"GET /api/sites":                                              {"owner", "admin", "marketer", "supervisor", "agent"},
	"POST /api/sites":                                             {"owner", "admin"},
	"GET /api/sites/:siteID":                                      {"owner", "admin", "marketer", "supervisor", "agent"},
	"PATCH /api/sites/:siteID":                                    {"owner", "admin"},
	"DELETE /api/sites/:siteID":                                   {"owner", "admin"},
	"GET /api/sites/:siteID/secret":                               {"owner", "admin"},
	"POST /api/sites/:siteID/secret":                              {"owner", "admin"},
	"GET /api/sites/:siteID/snippet":                              {"owner", "admin", "marketer", "supervisor", "agent"},
	"GET /api/sites/:siteID/reports/:report":                      {"owner", "admin", "marketer", "supervisor"},
	"DELETE /api/sites/:siteID/visitors/:visitorID":               {"owner", "admin"},
	"GET /api/tokens":                                             {"owner", "admin"},
	"POST /api/tokens":                                            {"owner", "admin"},
	"DELETE /api/tokens/:tokenID":                                 {"owner", "admin"},
	"GET /api/audit":                                              {"owner", "admin"},
	"GET /api/queues":                                             {"owner", "admin", "marketer", "supervisor", "agent", "bot"},
	"POST /api/queues":                                            {"owner", "admin"},
	"GET /api/queues/:queueID":                                    {"owner", "admin", "marketer", "supervisor", "agent", "bot"},
	"PATCH /api/queues/:queueID":                                  {"owner", "admin"},
	"DELETE /api/queues/:queueID":                                 {"owner", "admin"},
	"GET /api/agents":                                             {"owner", "admin", "supervisor"},
	"PUT /api/agents/:userID":                                     {"owner", "admin", "supervisor"},
	"GET /api/chat/settings":                                      {"owner", "admin"},
	"PUT /api/chat/settings":                                      {"owner", "admin"},
	"POST /api/chat/settings/mask-test":                           {"owner", "admin"},
	"GET /api/chat/live":                                          {"owner", "admin", "supervisor"},
	"GET /api/chat/agents":                                        {"owner", "admin", "supervisor", "agent", "bot"},
	"GET /api/chat/dispositions":                                  {"owner", "admin", "supervisor", "agent", "bot"},
	"GET /api/conversations/:conversationID/files/:fileID":        {"owner", "admin", "supervisor", "agent", "bot"},
	"GET /api/webhooks":                                           {"owner", "admin"},
	"POST /api/webhooks":                                          {"owner", "admin"},
	"GET /api/webhooks/:webhookID":                                {"owner", "admin"},
	"PATCH /api/webhooks/:webhookID":                              {"owner", "admin"},
	"DELETE /api/webhooks/:webhookID":                             {"owner", "admin"},
	"GET /api/webhooks/:webhookID/deliveries":                     {"owner", "admin"},
	"POST /api/webhooks/:webhookID/deliveries/:deliveryID/replay": {"owner", "admin"},
	"GET /api/sites/:siteID/visitors/now":                         {"owner", "admin", "supervisor", "agent", "bot"},
	"POST /api/sites/:siteID/visitors/:visitorID/invite":          {"owner", "admin", "supervisor", "agent", "bot"},
	"GET /api/conversations/:conversationID/earlier/:earlierID":   {"owner", "admin", "supervisor", "agent", "bot"},
	"GET /api/left-messages":                                      {"owner", "admin", "supervisor", "agent", "bot"},
	"POST /api/left-messages/:conversationID/reply":               {"owner", "admin", "supervisor", "agent", "bot"},
	"PATCH /api/left-messages/:conversationID":                    {"owner", "admin", "supervisor", "agent", "bot"},
	"GET /api/email/settings":                                     {"owner", "admin"},
	"PUT /api/email/settings":                                     {"owner", "admin"},
	"POST /api/email/test":                                        {"owner", "admin"},
	"GET /api/email/deliveries":                                   {"owner", "admin"},
	"POST /api/email/deliveries/:mailID/retry":                    {"owner", "admin"},
	"GET /api/canned":                                             {"owner", "admin", "supervisor", "agent", "bot"},
	"POST /api/canned":                                            {"owner", "admin", "supervisor"},
	"PATCH /api/canned/:cannedID":                                 {"owner", "admin", "supervisor"},
	"DELETE /api/canned/:cannedID":                                {"owner", "admin", "supervisor"},
	"GET /api/chat/reports/conversations":                         {"owner", "admin", "supervisor"},
	"GET /api/chat/reports/summary":                               {"owner", "admin", "supervisor"},
	"GET /api/chat/search":                                        {"owner", "admin", "supervisor", "agent", "bot"},
	"GET /api/conversations":                                      {"owner", "admin", "supervisor", "agent", "bot"},
	"GET /api/conversations/:conversationID":                      {"owner", "admin", "supervisor", "agent", "bot"},
	"GET /api/conversations/:conversationID/transcript":           {"owner", "admin", "supervisor", "agent", "bot"},
	"GET /api/sites/:siteID/rules":                                {"owner", "admin", "marketer"},
	"POST /api/sites/:siteID/visitors/:visitorID/offers":          {"owner", "admin", "marketer", "supervisor", "agent"},
	"POST /api/sites/:siteID/rules":                               {"owner", "admin", "marketer"},
	"POST /api/sites/:siteID/rules/preview":                       {"owner", "admin", "marketer"},
	"GET /api/sites/:siteID/visits":                               {"owner", "admin", "marketer"},
	"GET /api/rules/catalogue":                                    {"owner", "admin", "marketer"},
	"GET /api/sites/:siteID/rules/:ruleID":                        {"owner", "admin", "marketer"},
	"PUT /api/sites/:siteID/rules/:ruleID":                        {"owner", "admin", "marketer"},
	"DELETE /api/sites/:siteID/rules/:ruleID":                     {"owner", "admin", "marketer"},
	"POST /api/sites/:siteID/rules/:ruleID/publish":               {"owner", "admin", "marketer"},
	"POST /api/sites/:siteID/rules/:ruleID/unpublish":             {"owner", "admin", "marketer"},
	"GET /api/sites/:siteID/rules/:ruleID/versions":               {"owner", "admin", "marketer"},
	"POST /api/sites/:siteID/rules/:ruleID/rollback":              {"owner", "admin", "marketer"},
	"GET /api/sites/:siteID/templates":                            {"owner", "admin", "marketer"},
	"POST /api/sites/:siteID/templates":                           {"owner", "admin", "marketer"},
	"GET /api/sites/:siteID/templates/:templateID":                {"owner", "admin", "marketer"},
	"PUT /api/sites/:siteID/templates/:templateID":                {"owner", "admin", "marketer"},
	"DELETE /api/sites/:siteID/templates/:templateID":             {"owner", "admin", "marketer"},
}

// apiRoutes lists the router's /api routes as "METHOD /path" (HEAD twins left out).
func apiRoutes(h *harness) []string {
	var out []string
	for _, r := range h.srv.App().GetRoutes(true) {
		if strings.HasPrefix(r.Path, "/api/") && r.Method != http.MethodHead {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// tenantFixture is one tenant's ids, to fill path parameters.
type tenantFixture struct {
	tenant store.Tenant
	users  map[string]store.User
	params map[string]string
}

func newTenantFixture(h *harness, name string) tenantFixture {
	ctx := context.Background()
	tn, users := h.tenant(name)
	target, err := h.srv.auth.CreateUser(ctx, store.System, tn.ID, auth.NewUser{Email: "target@" + strings.ToLower(name) + ".test", Password: "password-target", Role: "agent"})
	if err != nil {
		h.t.Fatal(err)
	}
	site, err := h.st.CreateSite(ctx, store.System, store.Site{TenantID: tn.ID, Name: name + " shop", Theme: store.DefaultSiteTheme})
	if err != nil {
		h.t.Fatal(err)
	}
	_, tok, err := h.srv.auth.CreateToken(ctx, store.System, tn.ID, "fixture", "bot", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	q, err := h.st.CreateQueue(ctx, store.System, store.Queue{TenantID: tn.ID, Name: "Sales", Config: json.RawMessage(`{}`)})
	if err != nil {
		h.t.Fatal(err)
	}
	conv, err := h.st.CreateConversation(ctx, store.Conversation{TenantID: tn.ID, SiteID: site.ID, Visitor: "v1"}, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	file, err := h.srv.chat.StoreFile(ctx, tn.ID, conv.ID, chat.Sender{Kind: "visitor", ID: "v1"}, "note.txt", []byte("a note"))
	if err != nil {
		h.t.Fatal(err)
	}
	canned, err := h.st.SaveCanned(ctx, store.System, store.Canned{TenantID: tn.ID, Shortcut: "hello", Text: "Hello!"})
	if err != nil {
		h.t.Fatal(err)
	}
	hook, err := h.st.SaveWebhook(ctx, store.System, store.Webhook{TenantID: tn.ID, URL: "https://hooks.example.com/" + name, Secret: "whsec_AAAA",
		Events: []string{"conversation.closed"}, Active: false})
	if err != nil {
		h.t.Fatal(err)
	}
	delivery := store.Delivery{ID: "msg_" + store.NewID(), WebhookID: hook.ID, TenantID: tn.ID, Event: "conversation.closed", Payload: []byte(`{}`)}
	if err := h.st.AddDeliveries(ctx, []store.Delivery{delivery}); err != nil {
		h.t.Fatal(err)
	}
	// Delivered already: the dispatcher leaves it alone, so only requests change it.
	if err := h.st.RecordAttempt(ctx, delivery.ID, "succeeded", 204, "", nil); err != nil {
		h.t.Fatal(err)
	}
	tpl, err := h.st.SaveOfferTemplate(ctx, store.System, store.OfferTemplate{TenantID: tn.ID, SiteID: site.ID,
		Body: json.RawMessage(`{"name":"Offer","title":"Ten percent off"}`)})
	if err != nil {
		h.t.Fatal(err)
	}
	rule, err := h.st.SaveOfferRule(ctx, store.System, store.OfferRule{TenantID: tn.ID, SiteID: site.ID,
		Draft: json.RawMessage(`{"name":"Help","when":{"all":[]},"action":{"type":"chat_offer","queue":"Sales","text":"Hi"},"limits":{"per_visit":1}}`)})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.st.PublishOfferRule(ctx, store.System, tn.ID, site.ID, rule.ID, rule.Draft, "rule.publish"); err != nil {
		h.t.Fatal(err)
	}
	contact, err := h.srv.ops.Contacts.Link(ctx, contacts.Sighting{Tenant: tn.ID, Site: site.ID, Visitor: "v1", ExternalID: "user-1", VerifiedBy: "hash"})
	if err != nil {
		h.t.Fatal(err)
	}
	// A failed email: the mailer leaves it alone, so only requests change it.
	mail := store.Mail{ID: store.NewID(), TenantID: tn.ID, Kind: "test", Request: json.RawMessage(`{"to":"a@example.com"}`)}
	if err := h.st.AddMail(ctx, mail); err != nil {
		h.t.Fatal(err)
	}
	if err := h.st.MailOutcome(ctx, mail.ID, store.MailFailed, "could not connect", nil); err != nil {
		h.t.Fatal(err)
	}
	_, inv, err := h.srv.auth.Invite(ctx, store.System, "owner", tn.ID, "invited@"+strings.ToLower(name)+".test", "agent", auth.InvitationTTL)
	if err != nil {
		h.t.Fatal(err)
	}
	return tenantFixture{tenant: tn, users: users, params: map[string]string{"userID": target.ID, "invitationID": inv.ID, "siteID": site.ID, "tokenID": tok.ID,
		"report": "summary", "visitorID": "v1", "queueID": q.ID, "conversationID": conv.ID, "cannedID": canned.ID,
		"webhookID": hook.ID, "deliveryID": delivery.ID, "fileID": file.ID, "ruleID": rule.ID, "templateID": tpl.ID,
		"contactID": contact[0].ID, "mailID": mail.ID, "earlierID": conv.ID}}
}

func fillPath(t testing.TB, path string, params map[string]string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			v, ok := params[name]
			if !ok {
				t.Fatalf("%s: no fixture for :%s; add one to newTenantFixture", path, name)
			}
			parts[i] = v
		}
	}
	return strings.Join(parts, "/")
}

// TestRoleMatrix takes every API route from the router and checks it for every
// role: allowed roles pass authorization in their own tenant, other roles get
// 403, nobody gets in without credentials, and another tenant's ids answer 404
// (never 403, so ids do not leak) and change nothing there.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := newTenantFixture(h, "Acme")
	b := newTenantFixture(h, "Beta")
	beforeB := tenantRows(h, b.tenant.ID)

	clients := map[string]*client{}
	session := func(role string) *client {
		if clients[role] == nil {
			clients[role] = h.login(role+"@acme.test", "password-"+role)
		}
		return clients[role]
	}
	tokens := map[string]*client{}
	for _, role := range auth.Roles {
		secret, _, err := h.srv.auth.CreateToken(context.Background(), store.System, a.tenant.ID, "matrix-"+role, role, nil)
		if err != nil {
			t.Fatal(err)
		}
		tokens[role] = &client{h: h, bearer: secret}
	}

	routes := apiRoutes(h)
	for _, route := range routes {
		roles, ok := routeRoles[route]
		if !ok {
			t.Errorf("route %s has no entry in routeRoles: state who may use it", route)
			continue
		}
		method, path, _ := strings.Cut(route, " ")
		own := fillPath(t, path, a.params)
		var body any
		if method != "GET" && method != "DELETE" {
			body = map[string]any{}
		}
		if roles[0] == public {
			if res := h.anonymous().call(method, own, body); res.Status == 401 || res.Status == 403 {
				t.Errorf("%s is public but answered %d without credentials", route, res.Status)
			}
			continue
		}
		if res := h.anonymous().call(method, own, body); res.Status != 401 {
			t.Errorf("%s without credentials: %d; want 401", route, res.Status)
		}
		for _, role := range auth.Roles {
			allowed := roles[0] == loggedIn || slices.Contains(roles, role)
			principals := map[string]*client{"session": session(role)}
			if roles[0] != loggedIn {
				principals["token"] = tokens[role]
			}
			for kind, c := range principals {
				who := fmt.Sprintf("%s %s", role, kind)
				if strings.Contains(path, ":") {
					// Another tenant's ids first: nothing there may change.
					res := c.call(method, fillPath(t, path, b.params), body)
					if want := map[bool]int{true: 404, false: 403}[allowed]; res.Status != want {
						t.Errorf("%s as %s with tenant B's ids: %d %s; want %d", route, who, res.Status, res.Body, want)
					}
				}
				res := c.call(method, own, body)
				switch {
				case allowed && (res.Status == 401 || res.Status == 403):
					t.Errorf("%s as %s: %d %s; want allowed", route, who, res.Status, res.Body)
				case !allowed && res.Status != 403:
					t.Errorf("%s as %s: %d; want 403", route, who, res.Status)
				}
				if !allowed || res.Status >= 400 {
					res.errorCode(t)
				}
				if route == "POST /api/auth/logout" && kind == "session" {
					delete(clients, role)
				}
			}
		}
	}
	for route := range routeRoles {
		if !slices.Contains(routes, route) {
			t.Errorf("routeRoles names %s, which the router does not have", route)
		}
	}
	if after := tenantRows(h, b.tenant.ID); after != beforeB {
		t.Errorf("tenant B changed while tenant A's users worked:\nbefore %s\nafter  %s", beforeB, after)
	}
}

// tenantRows summarises everything a tenant owns.
func tenantRows(h *harness, tenantID string) string {
	var out strings.Builder
	for _, q := range []string{
		`SELECT user_id, role FROM memberships WHERE tenant_id = ? ORDER BY user_id`,
		`SELECT id, name, allowed_origins, identity_secret, theme, settings FROM sites WHERE tenant_id = ? ORDER BY id`,
		`SELECT id, name, role FROM api_tokens WHERE tenant_id = ? ORDER BY id`,
		`SELECT count(*) FROM audit_log WHERE tenant_id = ?`,
		`SELECT id, name, config FROM queues WHERE tenant_id = ? ORDER BY id`,
		`SELECT user_id, config FROM agents WHERE tenant_id = ? ORDER BY user_id`,
		`SELECT chat_settings FROM tenants WHERE id = ?`,
		`SELECT id, shortcut, text FROM canned_responses WHERE tenant_id = ? ORDER BY id`,
		`SELECT id, url, events, active FROM webhooks WHERE tenant_id = ? ORDER BY id`,
		`SELECT id, status, attempts FROM webhook_deliveries WHERE tenant_id = ? ORDER BY id`,
		`SELECT id, status, attempts, updated_at FROM mail_outbox WHERE tenant_id = ? ORDER BY id`,
		`SELECT config, updated_at FROM email_settings WHERE tenant_id = ?`,
		`SELECT id, status, last_seq, tags, agent_id FROM conversations WHERE tenant_id = ? ORDER BY id`,
		`SELECT id, draft, published, version FROM offer_rules WHERE tenant_id = ? ORDER BY id`,
		`SELECT id, body FROM offer_templates WHERE tenant_id = ? ORDER BY id`,
		`SELECT id, email, role, accepted_at, revoked_at FROM invitations WHERE tenant_id = ? ORDER BY id`,
		`SELECT u.password_hash FROM users u JOIN memberships m ON m.user_id = u.id WHERE m.tenant_id = ? ORDER BY u.id`,
	} {
		out.WriteString(h.digest(q, tenantID) + "|")
	}
	return out.String()
}

// TestBadInputOnEveryBodyRoute sends every route that takes a body the usual
// bad inputs as its most powerful user: each gets a clear error and nothing changes.
func TestBadInputOnEveryBodyRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := newTenantFixture(h, "Acme")
	owner := h.login("owner@acme.test", "password-owner")
	for _, route := range apiRoutes(h) {
		method, path, _ := strings.Cut(route, " ")
		if method == "GET" || method == "DELETE" || route == "POST /api/auth/logout" || route == "POST /api/sites/:siteID/secret" ||
			route == "POST /api/webhooks/:webhookID/deliveries/:deliveryID/replay" || route == "POST /api/email/deliveries/:mailID/retry" || strings.HasSuffix(route, "/publish") ||
			strings.HasSuffix(route, "/unpublish") || route == "PUT /api/me/avatar" { // routes without a JSON body (TestAvatars covers the picture's)
			continue
		}
		url := fillPath(t, path, a.params)
		before := h.snapshot()
		for _, tc := range []struct {
			name   string
			body   string
			ctype  string
			status int
			code   string
		}{
			{"malformed", `{"name":`, "application/json", 400, "invalid_json"},
			{"not an object", `[1,2]`, "application/json", 400, "invalid_json"},
			{"null", `null`, "application/json", 400, "invalid_json"},
			{"a string", `"name"`, "application/json", 400, "invalid_json"},
			{"empty", ``, "application/json", 400, "invalid_json"},
			{"a name given twice", `{"name":"a","name":"b"}`, "application/json", 400, "invalid_json"},
			{"a NUL character", `{"name":"a\u0000b"}`, "application/json", 400, "invalid_json"},
			{"a lone surrogate", `{"name":"\ud800"}`, "application/json", 400, "invalid_json"},
			{"unknown field", `{"is_admin":true}`, "application/json", 400, "unknown_field"},
			{"trailing data", `{} []`, "application/json", 400, "invalid_json"},
			{"invalid UTF-8", "{\"name\":\"\xc3\x28\"}", "application/json", 400, "invalid_utf8"},
			{"wrong content type", `{}`, "text/plain", 415, "unsupported_media_type"},
		} {
			req := owner.request(method, url, tc.body)
			req.Header.Set("Content-Type", tc.ctype)
			res := h.do(req)
			if res.Status != tc.status || res.errorCode(t) != tc.code {
				t.Errorf("%s, %s: %d %s; want %d %s", route, tc.name, res.Status, res.Body, tc.status, tc.code)
			}
		}
		big := owner.request(method, url, `{"name":"`+strings.Repeat("x", 1<<20)+`"}`)
		big.Header.Set("X-Test-Socket", "1")
		if res := h.do(big); res.Status != 413 || res.errorCode(t) != "too_large" {
			t.Errorf("%s, oversized: %d %s", route, res.Status, res.Body)
		}
		h.unchanged(before, route+" with bad input")
	}
}
