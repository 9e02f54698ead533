package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nudgehq/nudge/store"
)

const billingRule = `{"name": "Billing help", "priority": 10,
 "when": {"all": [{"fact": "page.path", "op": "starts_with", "value": "/billing"},
                  {"fact": "page.seconds", "op": "gte", "value": 30},
                  {"not": {"fact": "visitor.identified", "op": "eq", "value": true}}]},
 "action": {"type": "chat_offer", "queue": "support", "text": "Questions about your bill?",
            "metadata": {"topic": "billing"}, "max_wait_seconds": 120},
 "limits": {"per_visit": 1, "per_visitor_days": 7, "cooldown_days_after_decline": 14},
 "schedule": {"days": ["mon","tue","wed","thu","fri"], "from": "08:00", "to": "18:00"},
 "split": {"control_percent": 10}}`

func offerFixture(t testing.TB, edit ...func(*Config)) (*harness, store.Site, *client) {
	h, site, marketer := pageFixture(t, edit...)
	if _, err := h.st.CreateQueue(context.Background(), store.System, store.Queue{TenantID: site.TenantID, Name: "Support", Config: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	return h, site, marketer
}

// config fetches the site's page configuration as a page would.
func config(t *testing.T, h *harness, etag string) (response, map[string]any) {
	t.Helper()
	req := pageRequest("GET", "/config/shop", shopOrigin, "")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	res := h.do(req)
	if res.Status != 200 {
		return res, nil
	}
	return res, res.json(t)
}

// A marketer's rule goes from draft to the site's pages only when published;
// each change of what pages see changes the ETag at once.
func TestRulePublishReachesTheConfig(t *testing.T) {
	t.Parallel()
	h, _, marketer := offerFixture(t)
	res, cfg := config(t, h, "")
	etag0 := res.Header.Get("ETag")
	if len(cfg["rules"].([]any)) != 0 || strings.Contains(string(res.Body), "guide") || etag0 == "" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("config before any rule: %s %v", res.Body, res.Header)
	}
	if res, _ := config(t, h, etag0); res.Status != 304 {
		t.Fatalf("unchanged config: %d", res.Status)
	}
	created := marketer.call("POST", "/api/sites/shop/rules", billingRule)
	if created.Status != 201 {
		t.Fatalf("create: %d %s", created.Status, created.Body)
	}
	rule := created.json(t)
	id := rule["id"].(string)
	if rule["status"] != "draft" || rule["draft"].(map[string]any)["name"] != "Billing help" {
		t.Fatalf("created: %s", created.Body)
	}
	if res, _ := config(t, h, etag0); res.Status != 304 {
		t.Fatalf("a draft changed the config: %d", res.Status)
	}
	pub := marketer.call("POST", "/api/sites/shop/rules/"+id+"/publish", nil)
	if pub.Status != 200 || pub.json(t)["status"] != "live" || pub.json(t)["published_version"].(float64) != 1 {
		t.Fatalf("publish: %d %s", pub.Status, pub.Body)
	}
	res, cfg = config(t, h, etag0)
	if res.Status != 200 {
		t.Fatalf("the publish did not change the config: %d", res.Status)
	}
	rules := cfg["rules"].([]any)
	if len(rules) != 1 || !strings.Contains(string(res.Body), `"modules":["analytics","guide","chat"]`) || cfg["zone"] != "Europe/Paris" {
		t.Fatalf("config after publish: %s", res.Body)
	}
	r := rules[0].(map[string]any)
	if r["id"] != id || r["v"].(float64) != 1 || r["name"] != nil || r["action"].(map[string]any)["queue"] != "support" {
		t.Fatalf("page rule: %v", r)
	}
	etag1 := res.Header.Get("ETag")

	// A new draft leaves the live version on the pages.
	edited := strings.Replace(billingRule, "Questions about your bill?", "Need help with your invoice?", 1)
	if res := marketer.call("PUT", "/api/sites/shop/rules/"+id, edited); res.Status != 200 || res.json(t)["status"] != "changed" {
		t.Fatalf("edit: %d %s", res.Status, res.Body)
	}
	if res, _ := config(t, h, etag1); res.Status != 304 {
		t.Fatal("an unpublished edit reached the pages")
	}
	marketer.call("POST", "/api/sites/shop/rules/"+id+"/publish", nil)
	res, _ = config(t, h, etag1)
	if !strings.Contains(string(res.Body), "Need help with your invoice?") {
		t.Fatalf("second version not live: %s", res.Body)
	}
	// Roll back to version 1: published again as version 3.
	rb := marketer.call("POST", "/api/sites/shop/rules/"+id+"/rollback", map[string]int{"version": 1})
	if rb.Status != 200 || rb.json(t)["published_version"].(float64) != 3 || !strings.Contains(string(rb.Body), "Questions about your bill?") {
		t.Fatalf("rollback: %d %s", rb.Status, rb.Body)
	}
	vs := marketer.call("GET", "/api/sites/shop/rules/"+id+"/versions", nil)
	if items := vs.json(t)["items"].([]any); len(items) != 3 {
		t.Fatalf("versions: %s", vs.Body)
	}
	if res := marketer.call("POST", "/api/sites/shop/rules/"+id+"/rollback", map[string]int{"version": 9}); res.Status != 404 {
		t.Fatalf("rollback to a version that never was: %d", res.Status)
	}
	// Unpublish: gone from the pages, the guide is no longer loaded.
	if res := marketer.call("POST", "/api/sites/shop/rules/"+id+"/unpublish", nil); res.json(t)["status"] != "paused" {
		t.Fatalf("unpublish: %s", res.Body)
	}
	res, cfg = config(t, h, "")
	if len(cfg["rules"].([]any)) != 0 || strings.Contains(string(res.Body), "guide") {
		t.Fatalf("config after unpublish: %s", res.Body)
	}
}

// Bad rules are refused with the JSON path of the bad node, and nothing is saved.
func TestRuleBadInput(t *testing.T) {
	t.Parallel()
	h, _, marketer := offerFixture(t)
	before := h.snapshot()
	for name, c := range map[string]struct {
		body   string
		status int
		code   string
		field  string
	}{
		"unknown operator": {strings.Replace(billingRule, `"op": "gte"`, `"op": "resembles"`, 1), 422, "invalid_rule", "when.all[1].op"},
		"unknown fact":     {strings.Replace(billingRule, `"page.seconds"`, `"page.colour"`, 1), 422, "invalid_rule", "when.all[1].fact"},
		"type mismatch":    {strings.Replace(billingRule, `"value": 30`, `"value": "30"`, 1), 422, "invalid_rule", "when.all[1].value"},
		"unknown queue":    {strings.Replace(billingRule, `"queue": "support"`, `"queue": "sales"`, 1), 422, "invalid_rule", "action.queue"},
		"too deep": {`{"name": "x", "when": {"not": {"not": {"not": {"not": {"not": {"not": {"all": []}}}}}}}, "action": {"type": "chat_offer", "queue": "support", "text": "t"}}`,
			422, "invalid_rule", "when.not.not.not.not.not.not"},
		"oversized":      {`{"name": "` + strings.Repeat("x", 20000) + `"}`, 413, "too_large", ""},
		"unknown field":  {`{"name": "x", "when": {"all": []}, "action": {"type": "chat_offer", "queue": "support", "text": "t"}, "script": "x"}`, 400, "unknown_field", "script"},
		"malformed":      {`{"name": `, 400, "invalid_json", ""},
		"a list":         {`[]`, 400, "invalid_json", ""},
		"template gone":  {`{"name": "x", "when": {"all": []}, "action": {"type": "content_offer", "template": "01NOPE"}}`, 422, "invalid_rule", "action.template"},
		"control at 100": {strings.Replace(billingRule, `"control_percent": 10`, `"control_percent": 100`, 1), 422, "invalid_rule", "split.control_percent"},
	} {
		res := marketer.call("POST", "/api/sites/shop/rules", c.body)
		var body struct {
			Error struct {
				Code, Field string
				Details     []map[string]string
			}
		}
		json.Unmarshal(res.Body, &body)
		if res.Status != c.status || body.Error.Code != c.code || body.Error.Field != c.field {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
		if c.status == 422 && len(body.Error.Details) == 0 {
			t.Errorf("%s: no details", name)
		}
	}
	h.unchanged(before, "bad rules")
	if res := marketer.call("GET", "/api/sites/nope/rules", nil); res.Status != 404 {
		t.Errorf("unknown site: %d", res.Status)
	}
}

// Templates keep markup as text; links and images are http(s) only; a
// template a live rule shows cannot be deleted.
func TestTemplates(t *testing.T) {
	t.Parallel()
	h, _, marketer := offerFixture(t)
	res := marketer.call("POST", "/api/sites/shop/templates", `{"name": "Exit", "title": "<img src=x onerror=alert(1)>", "body": "10 % off",
		"buttons": [{"label": "Shop", "action": "link", "url": "https://shop.example.com/sale"}]}`)
	if res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	tid := res.json(t)["id"].(string)
	for _, bad := range []string{
		`{"name": "x", "title": "t", "image_url": "javascript:alert(1)"}`,
		`{"name": "x", "title": "t", "buttons": [{"label": "a", "action": "link", "url": "data:text/html,x"}]}`,
		`{"name": "x", "title": "t", "buttons": [{"label": "a", "action": "chat", "queue": "nope"}]}`,
	} {
		if res := marketer.call("POST", "/api/sites/shop/templates", bad); res.Status != 422 {
			t.Errorf("%s: %d %s", bad, res.Status, res.Body)
		}
	}
	rule := marketer.call("POST", "/api/sites/shop/rules", `{"name": "Exit offer", "when": {"fact": "page.exit_intent", "op": "eq", "value": true},
		"action": {"type": "content_offer", "template": "`+tid+`"}}`)
	if rule.Status != 201 {
		t.Fatalf("rule: %d %s", rule.Status, rule.Body)
	}
	rid := rule.json(t)["id"].(string)
	marketer.call("POST", "/api/sites/shop/rules/"+rid+"/publish", nil)
	_, cfg := config(t, h, "")
	tp := cfg["templates"].(map[string]any)[tid].(map[string]any)
	if tp["title"] != "<img src=x onerror=alert(1)>" || tp["name"] != nil {
		t.Fatalf("page template: %v", tp)
	}
	if res := marketer.call("DELETE", "/api/sites/shop/templates/"+tid, nil); res.Status != 409 || res.errorCode(t) != "in_use" {
		t.Fatalf("delete in use: %d %s", res.Status, res.Body)
	}
	// An edit is live at once.
	if res := marketer.call("PUT", "/api/sites/shop/templates/"+tid, `{"name": "Exit", "title": "Wait!"}`); res.Status != 200 {
		t.Fatalf("edit: %d %s", res.Status, res.Body)
	}
	if _, cfg := config(t, h, ""); cfg["templates"].(map[string]any)[tid].(map[string]any)["title"] != "Wait!" {
		t.Fatal("template edit not live")
	}
	marketer.call("DELETE", "/api/sites/shop/rules/"+rid, nil)
	if res := marketer.call("DELETE", "/api/sites/shop/templates/"+tid, nil); res.Status != 204 {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
}

// Preview says which rules qualify and why, condition by condition, with
// the queue facts taken from the chat engine.
func TestRulePreview(t *testing.T) {
	t.Parallel()
	_, _, marketer := offerFixture(t)
	id := marketer.call("POST", "/api/sites/shop/rules", billingRule).json(t)["id"].(string)
	marketer.call("POST", "/api/sites/shop/rules", `{"name": "Anywhere", "priority": 1, "when": {"fact": "queue.support.agents_available", "op": "gte", "value": 1},
		"action": {"type": "chat_offer", "queue": "support", "text": "Chat?"}}`)
	res := marketer.call("POST", "/api/sites/shop/rules/preview", map[string]any{
		"facts": map[string]any{"page.path": "/billing/2026", "page.seconds": 12, "visitor.identified": false},
		"now":   "2026-11-30T10:00:00Z", "visitor": "v-control"})
	if res.Status != 200 {
		t.Fatalf("preview: %d %s", res.Status, res.Body)
	}
	var p struct {
		Winner string
		Items  []struct {
			ID, Name, Variant    string
			Qualifies, Condition bool
			InSchedule           bool `json:"in_schedule"`
			Steps                []struct{ Path, Result string }
		}
	}
	json.Unmarshal(res.Body, &p)
	if len(p.Items) != 2 || p.Items[0].ID != id || p.Items[0].Qualifies || !p.Items[0].InSchedule || p.Winner != "" {
		t.Fatalf("preview: %s", res.Body)
	}
	steps := map[string]string{}
	for _, s := range p.Items[0].Steps {
		steps[s.Path] = s.Result
	}
	if steps["when.all[0]"] != "passed" || steps["when.all[1]"] != "failed" || steps["when.all[2]"] != "passed" {
		t.Fatalf("steps: %v", steps)
	}
	if p.Items[1].Qualifies {
		t.Fatalf("nobody is online, yet %q qualifies: %s", p.Items[1].Name, res.Body)
	}
	// With the seconds met, the billing rule wins by priority.
	res = marketer.call("POST", "/api/sites/shop/rules/preview", map[string]any{
		"facts": map[string]any{"page.path": "/billing/2026", "page.seconds": 31, "visitor.identified": false}, "now": "2026-11-30T10:00:00Z"})
	if err := json.Unmarshal(res.Body, &p); err != nil || p.Winner != id {
		t.Fatalf("winner: %s", res.Body)
	}
	// An unsaved rule, and bad facts.
	res = marketer.call("POST", "/api/sites/shop/rules/preview", map[string]any{"rule": json.RawMessage(`{"name": "Try", "when": {"fact": "page.path", "op": "glob", "value": "/b*"}, "action": {"type": "chat_offer", "queue": "support", "text": "Hi"}}`),
		"facts": map[string]any{"page.path": "/billing"}})
	if json.Unmarshal(res.Body, &p); res.Status != 200 || len(p.Items) != 1 || !p.Items[0].Condition {
		t.Fatalf("unsaved rule: %d %s", res.Status, res.Body)
	}
	for _, bad := range []map[string]any{
		{"facts": map[string]any{"page.seconds": "thirty"}},
		{"facts": map[string]any{"page.colour": "red"}},
		{"now": "yesterday"},
		{"rule": json.RawMessage(`{"name": "x", "when": {"fact": "page.path", "op": "like", "value": "x"}, "action": {"type": "chat_offer", "queue": "support", "text": "t"}}`)},
	} {
		if res := marketer.call("POST", "/api/sites/shop/rules/preview", bad); res.Status != 400 && res.Status != 422 {
			t.Errorf("%v: %d %s", bad, res.Status, res.Body)
		}
	}
}

// The visitor's country reaches the page in a header beside the cached
// configuration, only from a trusted proxy, only as a country code.
func TestCountryHeaderForPages(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		trusted, sent, want string
	}{
		{"0.0.0.0", "CH", "CH"},
		{"0.0.0.0", "XX", ""},         // unknown
		{"0.0.0.0", "T1", ""},         // Tor
		{"0.0.0.0", "ch<script>", ""}, // not a code
		{"10.9.9.9", "CH", ""},        // the request did not come through the proxy
	} {
		h, _, _ := offerFixture(t, func(cfg *Config) { cfg.TrustedProxies = []string{c.trusted}; cfg.CountryHeader = "CF-IPCountry" })
		req := pageRequest("GET", "/config/shop", shopOrigin, "")
		req.Header.Set("CF-IPCountry", c.sent)
		res := h.do(req)
		if res.Status != 200 || res.Header.Get("X-Nudge-Country") != c.want || !strings.Contains(strings.ToLower(res.Header.Get("Vary")), "cf-ipcountry") ||
			res.Header.Get("Access-Control-Expose-Headers") != "X-Nudge-Country" {
			t.Errorf("%+v: %d %v", c, res.Status, res.Header)
		}
	}
	cfg := DefaultConfig()
	cfg.CountryHeader = "CF-IPCountry"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "trusted-proxies") {
		t.Errorf("a country header without trusted proxies: %v", err)
	}
}

// The rule editor previews against recent visits (their facts from the
// analytics file) and shows offers through the guide module's own code.
func TestRecentVisitsAndOfferPreviewPage(t *testing.T) {
	t.Parallel()
	h, _, marketer := pageFixture(t)
	h.do(pageRequest("POST", "/collect", shopOrigin, batch("shop", "v1", "s1", pageview("/pricing"),
		`{"type":"event","name":"quote","url":"https://shop.example.com/pricing"}`)))
	h.analyticsRows(t)
	res := marketer.call("GET", "/api/sites/shop/visits?limit=5", nil)
	items := res.json(t)["items"].([]any)
	if res.Status != 200 || len(items) != 1 {
		t.Fatalf("visits: %d %s", res.Status, res.Body)
	}
	facts := items[0].(map[string]any)["facts"].(map[string]any)
	if facts["page.path"] != "/pricing" || facts["events.quote"] != 1.0 || facts["visitor.device"] != "desktop" || facts["visit.pageviews"] != 1.0 {
		t.Fatalf("facts: %v", facts)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x"} {
		if res := marketer.call("GET", "/api/sites/shop/visits?"+q, nil); res.Status != 400 {
			t.Errorf("%s: %d", q, res.Status)
		}
	}
	cat := marketer.call("GET", "/api/rules/catalogue", nil).json(t)
	if len(cat["facts"].([]any)) < 20 || cat["operators"].(map[string]any)["starts_with"].([]any)[0] != "string" {
		t.Fatalf("catalogue: %v", cat)
	}
	page := h.do(pageRequest("GET", "/offer-preview", "", ""))
	csp := page.Header.Get("Content-Security-Policy")
	if page.Status != 200 || !strings.Contains(string(page.Body), `src="/w/guide.`) || !strings.Contains(csp, "frame-ancestors 'self'") || strings.Contains(csp, "unsafe-eval") {
		t.Fatalf("preview page: %d %s\n%s", page.Status, csp, page.Body)
	}
}
