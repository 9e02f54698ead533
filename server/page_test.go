package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/store"
)

const shopOrigin = "https://shop.example.com"
const desktopUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"

// pageFixture is a tenant with a site whose pages live on shopOrigin.
func pageFixture(t testing.TB, edit ...func(*Config)) (*harness, store.Site, *client) {
	h := newHarness(t, edit...)
	tn, _ := h.tenant("Acme")
	site, err := h.st.CreateSite(context.Background(), store.System, store.Site{TenantID: tn.ID, Key: "shop", Name: "Shop",
		AllowedOrigins: []string{shopOrigin}, TimeZone: "Europe/Paris", Theme: store.DefaultSiteTheme, Settings: store.DefaultSiteSettings})
	if err != nil {
		t.Fatal(err)
	}
	return h, site, h.login("marketer@acme.test", "password-marketer")
}

func pageRequest(method, path, origin, body string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, "http://localhost:8080"+path, r)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	req.Header.Set("User-Agent", desktopUA)
	return req
}

func TestLoaderAndModules(t *testing.T) {
	t.Parallel()
	h, _, _ := pageFixture(t)
	req := pageRequest("GET", "/l/shop.js", "", "")
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	res := h.do(req)
	if res.Status != 200 || res.Header.Get("Content-Encoding") != "br" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") ||
		res.Header.Get("Cache-Control") != "public, max-age=300" || res.Header.Get("X-Frame-Options") != "" {
		t.Fatalf("loader: %d %v", res.Status, res.Header)
	}
	body, _ := io.ReadAll(brotli.NewReader(bytes.NewReader(res.Body)))
	for _, f := range h.srv.bundle.Files {
		if m, hash, ok := strings.Cut(strings.TrimSuffix(f.Name, ".js"), "."); ok && !strings.Contains(hash, ".") && !bytes.Contains(body, []byte(m+`:"`+hash+`"`)) {
			t.Fatalf("the loader does not name %s: %.300s", f.Name, body)
		}
	}
	// Source maps are for development (--dev-widget): a served build names none.
	if res.Header.Get("SourceMap") != "" {
		t.Fatalf("loader source map header: %q", res.Header.Get("SourceMap"))
	}
	for name := range h.srv.bundle.Files {
		if strings.HasSuffix(name, ".map") {
			t.Fatalf("the served page side carries a source map: %s", name)
		}
	}
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	if res := h.do(req); res.Status != 304 {
		t.Fatalf("If-None-Match: %d", res.Status)
	}
	for _, f := range h.srv.bundle.Files {
		req := pageRequest("GET", "/w/"+f.Name, "", "")
		req.Header.Set("Accept-Encoding", "gzip")
		res := h.do(req)
		zr, err := gzip.NewReader(bytes.NewReader(res.Body))
		if res.Status != 200 || err != nil || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") || res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s: %d %v %v", f.Name, res.Status, err, res.Header)
		}
		plain, _ := io.ReadAll(zr)
		if !bytes.Equal(plain, f.Body) {
			t.Fatalf("%s: gzip body differs", f.Name)
		}
	}
	if res := h.do(pageRequest("GET", "/l/nope.js", "", "")); res.Status != 404 {
		t.Fatalf("unknown key: %d", res.Status)
	}
	if res := h.do(pageRequest("GET", "/l/shop", "", "")); res.Status != 404 {
		t.Fatalf("loader without .js: %d", res.Status)
	}
	if res := h.do(pageRequest("GET", "/w/analytics.0000000000.js", "", "")); res.Status != 404 {
		t.Fatalf("unknown module: %d", res.Status)
	}
}

func TestSiteConfigChecksOrigin(t *testing.T) {
	t.Parallel()
	h, site, _ := pageFixture(t)
	res := h.do(pageRequest("GET", "/config/shop", shopOrigin, ""))
	if res.Status != 200 || res.Header.Get("Access-Control-Allow-Origin") != shopOrigin || !strings.Contains(res.Header.Get("Vary"), "Origin") {
		t.Fatalf("allowed origin: %d %v", res.Status, res.Header)
	}
	if cfg := res.json(t); cfg["key"] != "shop" || cfg["dnt"] != true || cfg["cookieless"] != false || fmt.Sprint(cfg["modules"]) != "[analytics chat]" ||
		fmt.Sprint(cfg["theme"]) != "map[color:#2563eb position:right]" {
		t.Fatalf("config %v", cfg)
	}
	if strings.Contains(string(res.Body), site.IdentitySecret) || strings.Contains(string(res.Body), site.ID) {
		t.Fatal("the public config leaks the secret or the id")
	}
	for origin, want := range map[string]int{"https://evil.example": 403, "": 403, "http://shop.example.com": 403, "null": 403} {
		res := h.do(pageRequest("GET", "/config/shop", origin, ""))
		if res.Status != want || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("origin %q: %d %v", origin, res.Status, res.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	// A same-origin page (no Origin header) counts as the server's own origin.
	sameOrigin := pageRequest("GET", "/config/shop", "", "")
	sameOrigin.Header.Set("Sec-Fetch-Site", "same-origin")
	if res := h.do(sameOrigin); res.Status != 403 {
		t.Fatalf("same-origin request for a site that does not allow this server: %d", res.Status)
	}
	if res := h.do(pageRequest("GET", "/config/nope", shopOrigin, "")); res.Status != 404 || res.errorCode(t) != "unknown_site" {
		t.Fatalf("unknown key: %d", res.Status)
	}
	if res := h.do(pageRequest("OPTIONS", "/config/shop", shopOrigin, "")); res.Status != 204 || res.Header.Get("Access-Control-Allow-Origin") != shopOrigin {
		t.Fatalf("preflight: %d %v", res.Status, res.Header)
	}
	// A change of allowed origins through the API applies at once.
	admin := h.login("admin@acme.test", "password-admin")
	if res := admin.call("PATCH", "/api/sites/"+site.ID, map[string]any{"allowed_origins": []string{"https://other.example"}}); res.Status != 200 {
		t.Fatalf("change the origins: %d %s", res.Status, res.Body)
	}
	if res := h.do(pageRequest("GET", "/config/shop", shopOrigin, "")); res.Status != 403 {
		t.Fatalf("a removed origin still passes: %d", res.Status)
	}
}

func batch(site, visitor, visit string, events ...string) string {
	return fmt.Sprintf(`{"site":%q,"visitor":%q,"visit":%q,"visit_n":1,"lang":"en-GB","screen":"1440x900","events":[%s]}`, site, visitor, visit, strings.Join(events, ","))
}

func pageview(path string) string {
	return fmt.Sprintf(`{"type":"pageview","url":"https://shop.example.com%s","ref":"https://www.google.com/","title":"T"}`, path)
}

func (h *harness) analyticsRows(t *testing.T) int {
	t.Helper()
	if err := h.srv.ingest.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := h.srv.analytics.R.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCollect(t *testing.T) {
	t.Parallel()
	h, _, _ := pageFixture(t)
	res := h.do(pageRequest("POST", "/collect", shopOrigin, batch("shop", "v1", "s1", pageview("/"), pageview("/pricing"))))
	if res.Status != 202 || res.json(t)["accepted"] != float64(2) || res.Header.Get("Access-Control-Allow-Origin") != shopOrigin {
		t.Fatalf("collect: %d %s %v", res.Status, res.Body, res.Header)
	}
	if n := h.analyticsRows(t); n != 2 {
		t.Fatalf("%d events stored; want 2", n)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = pageview("/")
	}
	for _, tc := range []struct {
		name, origin, body string
		status             int
		code               string
	}{
		{"foreign origin", "https://evil.example", batch("shop", "v1", "s1", pageview("/")), 403, "origin_not_allowed"},
		{"no origin", "", batch("shop", "v1", "s1", pageview("/")), 403, "origin_not_allowed"},
		{"unknown site", shopOrigin, batch("nope", "v1", "s1", pageview("/")), 404, "unknown_site"},
		{"malformed", shopOrigin, `{"site":"shop",`, 400, "invalid_json"},
		{"unknown field", shopOrigin, `{"site":"shop","visit":"s","evil":1,"events":[]}`, 400, "invalid_json"},
		{"invalid UTF-8", shopOrigin, "{\"site\":\"shop\xff\"}", 400, "invalid_utf8"},
		{"bad event", shopOrigin, batch("shop", "v1", "s1", `{"type":"pageview","url":"javascript:alert(1)"}`), 400, "invalid"},
		{"too many events", shopOrigin, batch("shop", "v1", "s1", many...), 413, "too_many_events"},
		{"oversized", shopOrigin, batch("shop", "v1", "s1", `{"type":"pageview","url":"https://shop.example.com/","title":"`+strings.Repeat("x", 70<<10)+`"}`), 413, "too_large"},
	} {
		res := h.do(pageRequest("POST", "/collect", tc.origin, tc.body))
		if res.Status != tc.status || res.errorCode(t) != tc.code {
			t.Errorf("%s: %d %.200s; want %d %s", tc.name, res.Status, res.Body, tc.status, tc.code)
		}
		if tc.status == 403 && res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS granted", tc.name)
		}
	}
	bot := pageRequest("POST", "/collect", shopOrigin, batch("shop", "b1", "b1", pageview("/")))
	bot.Header.Set("User-Agent", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)")
	if res := h.do(bot); res.Status != 202 {
		t.Fatalf("bot: %d", res.Status)
	}
	if n := h.analyticsRows(t); n != 2 {
		t.Fatalf("%d events stored after bad input and a bot; want still 2", n)
	}
	// The summary says how many events bots sent, so that an empty
	// dashboard explains itself.
	marketer := h.login("marketer@acme.test", "password-marketer")
	if sum := marketer.call("GET", "/api/sites/shop/reports/summary?period=today", nil).json(t); sum["bots"] != 1.0 {
		t.Fatalf("summary: %v", sum)
	}
}

func TestCollectRateLimits(t *testing.T) {
	t.Parallel()
	h, _, _ := pageFixture(t, func(c *Config) { c.CollectIPRate = 1 })
	var limited *response
	for i := range 20 {
		res := h.do(pageRequest("POST", "/collect", shopOrigin, batch("shop", "v", fmt.Sprint("s", i), pageview("/"))))
		if res.Status == 429 {
			limited = &res
			break
		}
	}
	if limited == nil || limited.Header.Get("Retry-After") == "" || limited.errorCode(t) != "rate_limited" {
		t.Fatalf("no 429 with Retry-After after 20 requests at 1/s: %+v", limited)
	}
}

func TestReportsAPI(t *testing.T) {
	t.Parallel()
	h, site, marketer := pageFixture(t)
	h.tenant("Beta")
	for i := range 3 {
		h.do(pageRequest("POST", "/collect", shopOrigin, batch("shop", fmt.Sprint("v", i), fmt.Sprint("s", i), pageview("/"), pageview("/billing"),
			`{"type":"event","name":"signup","url":"https://shop.example.com/billing","props":{"plan":"green"}}`)))
	}
	h.analyticsRows(t)
	today := time.Now().In(mustZone("Europe/Paris")).Format(time.DateOnly)
	res := marketer.call("GET", "/api/sites/shop/reports/summary?from="+today+"&to="+today, nil)
	sum := res.json(t)
	if res.Status != 200 || sum["visitors"] != float64(3) || sum["pageviews"] != float64(6) || sum["bounce_rate"] != float64(0) || sum["visit_duration"] == nil {
		t.Fatalf("summary by key: %d %s", res.Status, res.Body)
	}
	if res := marketer.call("GET", "/api/sites/shop/reports/summary?period=today", nil); res.json(t)["visits"] != float64(3) || res.json(t)["from"] != today {
		t.Fatalf("period=today: %s", res.Body)
	}
	if res := marketer.call("GET", "/api/sites/"+site.ID+"/reports/summary", nil); res.json(t)["visits"] != float64(3) {
		t.Fatalf("summary by id, default range: %s", res.Body)
	}
	for report, want := range map[string]string{"pages": "/billing", "sources": "Google", "referrers": "google.com", "devices": "desktop",
		"browsers": "Chrome", "os": "Windows", "languages": "en-GB", "entry_pages": "/", "exit_pages": "/billing", "events": "signup",
		"events?name=signup": "plan=green", "screens": "1440x900"} {
		path, query, _ := strings.Cut(report, "?")
		res := marketer.call("GET", "/api/sites/shop/reports/"+path+"?"+query, nil)
		items, _ := res.json(t)["items"].([]any)
		if res.Status != 200 || len(items) == 0 || !strings.Contains(string(res.Body), `"value":"`+want+`"`) {
			t.Errorf("%s: %d %s", report, res.Status, res.Body)
		}
	}
	// Any dimension filters the reports; a long value is refused.
	if sum := marketer.call("GET", "/api/sites/shop/reports/summary?browser=Chrome&language=en-GB", nil).json(t); sum["visits"] != float64(3) {
		t.Errorf("filtered by browser and language: %v", sum)
	}
	if sum := marketer.call("GET", "/api/sites/shop/reports/summary?browser=Firefox", nil).json(t); sum["visits"] != float64(0) {
		t.Errorf("filtered by another browser: %v", sum)
	}
	if res := marketer.call("GET", "/api/sites/shop/reports/pages?os="+strings.Repeat("x", 600), nil); res.Status != 400 {
		t.Errorf("a long filter: %d", res.Status)
	}
	if ts := marketer.call("GET", "/api/sites/shop/reports/timeseries?interval=hour&from="+today+"&to="+today, nil).json(t); len(ts["items"].([]any)) != 24 {
		t.Errorf("hourly series: %v", ts)
	}
	if rt := marketer.call("GET", "/api/sites/shop/reports/realtime", nil).json(t); rt["visitors"] != float64(3) {
		t.Errorf("realtime: %v", rt)
	}
	admin := h.login("admin@acme.test", "password-admin")
	admin.call("PATCH", "/api/sites/"+site.ID, map[string]any{"settings": map[string]any{"respect_dnt": true, "goals": []map[string]string{{"event": "signup"}, {"page": "/nowhere"}}}})
	goals := marketer.call("GET", "/api/sites/shop/reports/goals", nil)
	if !strings.Contains(string(goals.Body), `"event":"signup","visitors":3,"conversion_rate":100`) {
		t.Errorf("goals: %s", goals.Body)
	}
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"summary?from=yesterday", 400},
		{"summary?from=2026-12-01&to=2026-11-01", 400},
		{"summary?from=2000-01-01&to=2026-01-01", 400},
		{"timeseries?interval=minute", 400},
		{"timeseries?interval=hour&from=2026-01-01&to=2026-03-01", 400},
		{"summary?device=fridge", 400},
		{"summary?period=forever", 400},
		{"summary?period=7d&from=2026-01-01", 400},
		{"summary?page=nowhere", 400},
		{"pages?limit=0", 400},
		{"passwords", 404},
	} {
		if res := marketer.call("GET", "/api/sites/shop/reports/"+tc.query, nil); res.Status != tc.status {
			t.Errorf("%s: %d %s; want %d", tc.query, res.Status, res.Body, tc.status)
		}
	}
	beta := h.login("owner@beta.test", "password-owner")
	if res := beta.call("GET", "/api/sites/shop/reports/summary", nil); res.Status != 404 {
		t.Fatalf("another tenant reads the report by key: %d", res.Status)
	}
	agent := h.login("agent@acme.test", "password-agent")
	if res := agent.call("GET", "/api/sites/shop/reports/summary", nil); res.Status != 403 {
		t.Fatalf("agent reads reports: %d", res.Status)
	}
	snip := marketer.call("GET", "/api/sites/shop/snippet", nil).json(t)
	if !strings.Contains(snip["snippet"].(string), `"shop","http://localhost:8080"`) || !strings.Contains(snip["csp"].(string), "connect-src http://localhost:8080") || !strings.Contains(snip["csp"].(string), "img-src http://localhost:8080") {
		t.Fatalf("snippet: %v", snip)
	}
}

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func TestEraseVisitorAPI(t *testing.T) {
	t.Parallel()
	h, site, marketer := pageFixture(t)
	hash := analytics.IdentityHash(site.IdentitySecret, "user-7")
	identify := fmt.Sprintf(`{"type":"identify","url":"https://shop.example.com/","user":{"id":"user-7","email":"x@y.z"},"hash":%q}`, hash)
	h.do(pageRequest("POST", "/collect", shopOrigin, batch("shop", "phone", "p1", pageview("/"), identify)))
	h.do(pageRequest("POST", "/collect", shopOrigin, batch("shop", "other", "o1", pageview("/"))))
	if res := marketer.call("DELETE", "/api/sites/shop/visitors/user-7", nil); res.Status != 403 {
		t.Fatalf("marketer erases: %d", res.Status)
	}
	admin := h.login("admin@acme.test", "password-admin")
	res := admin.call("DELETE", "/api/sites/shop/visitors/user-7", nil)
	if res.Status != 200 || res.json(t)["deleted_events"] != float64(2) {
		t.Fatalf("erase: %d %s", res.Status, res.Body)
	}
	if n := h.analyticsRows(t); n != 1 {
		t.Fatalf("%d events left; want the other visitor's 1", n)
	}
	if audit := admin.call("GET", "/api/audit?limit=1", nil); !strings.Contains(string(audit.Body), "visitor.erase") {
		t.Fatalf("erasure not audited: %s", audit.Body)
	}
}

func TestRetentionHousekeeping(t *testing.T) {
	t.Parallel()
	h, site, _ := pageFixture(t)
	h.do(pageRequest("POST", "/collect", shopOrigin, batch("shop", "v", "s", pageview("/"))))
	h.analyticsRows(t)
	old := time.Now().AddDate(0, 0, -40)
	if err := h.srv.analytics.PrepareDays(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	h.srv.analytics.W.Exec(`UPDATE event_log SET ts = ?`, old.UnixMilli())
	h.srv.ops.Housekeep(context.Background(), time.Now())
	if n := h.analyticsRows(t); n != 1 {
		t.Fatal("events dropped without a retention setting")
	}
	admin := h.login("admin@acme.test", "password-admin")
	admin.call("PATCH", "/api/sites/"+site.ID, map[string]any{"settings": map[string]any{"respect_dnt": true, "retention_days": 30}})
	h.srv.ops.Housekeep(context.Background(), time.Now())
	if n := h.analyticsRows(t); n != 0 {
		t.Fatalf("%d events older than the retention period left", n)
	}
}

func TestDevWidgetRebuildsOnChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	names, _ := filepath.Glob(filepath.Join("..", "widget", "src", "*.ts"))
	for _, p := range names {
		name := filepath.Base(p)
		b, _ := os.ReadFile(p)
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	h, _, _ := pageFixture(t, func(c *Config) { c.DevWidget = dir })
	first := h.do(pageRequest("GET", "/l/shop.js", "", ""))
	if first.Status != 200 || first.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("dev loader: %d %v", first.Status, first.Header)
	}
	src := filepath.Join(dir, "analytics.ts")
	b, _ := os.ReadFile(src)
	os.WriteFile(src, append(b, []byte("\nconsole.debug('edited');\n")...), 0o644)
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(src, future, future)
	h.srv.bundles.dev.checked = time.Time{}
	second := h.do(pageRequest("GET", "/l/shop.js", "", ""))
	if bytes.Equal(first.Body, second.Body) {
		t.Fatal("the loader did not change after a module's source did")
	}
	os.WriteFile(src, []byte("const = ;"), 0o644)
	later := future.Add(2 * time.Second)
	os.Chtimes(src, later, later)
	h.srv.bundles.dev.checked = time.Time{}
	if third := h.do(pageRequest("GET", "/l/shop.js", "", "")); third.Status != 200 || !bytes.Equal(third.Body, second.Body) {
		t.Fatal("a broken source replaced the last good bundle")
	}
}

// collectUntilLimited posts batches, each with its own X-Forwarded-For, and
// reports whether one was refused with 429.
func collectUntilLimited(h *harness, n int) bool {
	for i := range n {
		req := pageRequest("POST", "/collect", shopOrigin, batch("shop", "v", fmt.Sprint("s", i), pageview("/")))
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
		if h.do(req).Status == 429 {
			return true
		}
	}
	return false
}

// A client cannot escape the per-IP limit by sending X-Forwarded-For: the
// header counts only from a configured proxy.
func TestCollectIgnoresForwardedForFromUntrustedPeers(t *testing.T) {
	t.Parallel()
	h, _, _ := pageFixture(t, func(c *Config) { c.CollectIPRate = 1 })
	if !collectUntilLimited(h, 20) {
		t.Fatal("varying X-Forwarded-For from an untrusted peer escaped the per-IP limit")
	}
}

// Behind a configured proxy, each forwarded client has its own bucket.
func TestCollectTrustsForwardedForFromConfiguredProxies(t *testing.T) {
	t.Parallel()
	h, _, _ := pageFixture(t, func(c *Config) { c.CollectIPRate = 1; c.TrustedProxies = []string{"0.0.0.0"} })
	if collectUntilLimited(h, 20) {
		t.Fatal("distinct clients behind a trusted proxy shared one bucket")
	}
}

func TestCollectSiteRateLimit(t *testing.T) {
	t.Parallel()
	h, _, _ := pageFixture(t, func(c *Config) { c.CollectIPRate = 0; c.CollectSiteRate = 1; c.TrustedProxies = []string{"0.0.0.0"} })
	if !collectUntilLimited(h, 20) {
		t.Fatal("twenty clients at once on a site limited to 1/s were all accepted")
	}
}

// A busy collector tells only allowed pages of known sites: a foreign origin
// or an unknown site learns nothing of its load.
func TestCollectChecksTheOriginBeforeSayingBusy(t *testing.T) {
	t.Parallel()
	h, _, _ := pageFixture(t, func(c *Config) {
		c.CollectIPRate = 0
		c.Ingest = analytics.Options{MaxQueued: 1, MaxWait: -1}
	})
	// The site is known to the analytics file first (that takes the writer).
	h.do(pageRequest("POST", "/collect", shopOrigin, batch("shop", "v", "s0", pageview("/"))))
	if err := h.srv.ingest.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	tx, err := h.srv.analytics.W.Begin() // hold the writer: the queue fills
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for i := range 3 {
		h.do(pageRequest("POST", "/collect", shopOrigin, batch("shop", "v", fmt.Sprint("s", i), pageview("/"))))
	}
	if res := h.do(pageRequest("POST", "/collect", shopOrigin, batch("shop", "v", "s9", pageview("/")))); res.Status != 503 {
		t.Fatalf("the allowed page: %d", res.Status)
	}
	if res := h.do(pageRequest("POST", "/collect", "https://evil.example", batch("shop", "v", "s9", pageview("/")))); res.Status != 403 {
		t.Errorf("a foreign origin: %d, want 403", res.Status)
	}
	if res := h.do(pageRequest("POST", "/collect", shopOrigin, batch("nope", "v", "s9", pageview("/")))); res.Status != 404 {
		t.Errorf("an unknown site: %d, want 404", res.Status)
	}
}

// Behind two proxies, the client is the rightmost address that is not a
// proxy: the entries a client writes itself to the left prove nothing.
func TestForwardedForTakesTheRightmostUntrustedAddress(t *testing.T) {
	t.Parallel()
	h, _, _ := pageFixture(t, func(c *Config) { c.CollectIPRate = 1; c.TrustedProxies = []string{"0.0.0.0", "10.0.0.0/8"} })
	send := func(i int, xff ...string) int {
		req := pageRequest("POST", "/collect", shopOrigin, batch("shop", "v", fmt.Sprint("s", i), pageview("/")))
		for _, x := range xff {
			req.Header.Add("X-Forwarded-For", x)
		}
		return h.do(req).Status
	}
	limited := false
	for i := range 20 {
		// A forged first entry that changes every time: the client (203.0.113.7) is the same.
		if send(i, fmt.Sprintf("198.51.100.%d, 203.0.113.7, 10.0.0.2", i+1)) == 429 {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("a forged leftmost X-Forwarded-For entry escaped the per-IP limit")
	}
	// Distinct clients behind the same two proxies, one header per hop, have their own buckets.
	for i := range 20 {
		if st := send(100+i, fmt.Sprintf("192.0.2.%d", i+1), "10.0.0.2"); st == 429 {
			t.Fatalf("client %d limited with the others: %d", i, st)
		}
	}
	// A malformed entry ends the walk: the address right of it counts.
	if st := send(200, "not-an-ip, 10.1.1.1"); st != 202 {
		t.Fatalf("malformed chain: %d", st)
	}
}

// TestReportsOfAnEmptySite asks every report, plain and filtered, of a site
// nothing was measured on: each answers its documented shape (the harness
// checks it against openapi.json), with empty lists, never null.
func TestReportsOfAnEmptySite(t *testing.T) {
	t.Parallel()
	_, _, marketer := pageFixture(t)
	names := []string{"summary", "timeseries", "timeseries?interval=hour", "pages", "events", "events?name=signup", "goals", "offers", "realtime"}
	for d := range analytics.Dimensions {
		names = append(names, d)
	}
	for _, name := range names {
		for _, filter := range []string{"", "page=/x", "browser=Firefox"} {
			path := "/api/sites/shop/reports/" + name
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			if filter != "" && name != "realtime" {
				path += sep + filter
			}
			res := marketer.call("GET", path, nil)
			if res.Status != 200 {
				t.Errorf("%s: %d %s", path, res.Status, res.Body)
				continue
			}
			if strings.Contains(string(res.Body), "null") && name != "offers" {
				t.Errorf("%s: null in %s", path, res.Body)
			}
		}
	}
}

// TestReportsGroupPathsWithIDs: ids in paths become :id, a site's patterns
// group its pages, and a filter or goal may name a page with its id. Bad
// patterns are refused with nothing changed.
func TestReportsGroupPathsWithIDs(t *testing.T) {
	t.Parallel()
	h, site, marketer := pageFixture(t)
	admin := h.login("admin@acme.test", "password-admin")
	for _, bad := range []any{[]string{"orders/:id"}, []string{"/docs/*/x"}, []string{"/a/:b-c"}, "/x", []any{1}, make([]string, 51)} {
		res := admin.call("PATCH", "/api/sites/"+site.ID, map[string]any{"settings": map[string]any{"page_patterns": bad}})
		if (res.Status != 400 && res.Status != 422) || !strings.Contains(string(res.Body), "page_patterns") {
			t.Errorf("patterns %v: %d %s", bad, res.Status, res.Body)
		}
	}
	if res := marketer.call("PATCH", "/api/sites/"+site.ID, map[string]any{"settings": map[string]any{"page_patterns": []string{"/p/:slug"}}}); res.Status != 403 {
		t.Errorf("a marketer changed the patterns: %d", res.Status)
	}
	if got := admin.call("GET", "/api/sites/"+site.ID, nil).json(t)["settings"].(map[string]any); fmt.Sprint(got["page_patterns"]) != "[]" || got["keep_path_ids"] != false {
		t.Fatalf("settings after refused changes: %v", got)
	}
	res := admin.call("PATCH", "/api/sites/"+site.ID, map[string]any{"settings": map[string]any{"respect_dnt": true, "chat": true,
		"page_patterns": []string{"/products/:slug"}, "goals": []map[string]string{{"page": "/thanks/1"}}}})
	if res.Status != 200 {
		t.Fatalf("patterns: %d %s", res.Status, res.Body)
	}
	for i := range 3 {
		h.do(pageRequest("POST", "/collect", shopOrigin, batch("shop", fmt.Sprint("v", i), fmt.Sprint("s", i),
			pageview(fmt.Sprintf("/orders/%d", 8000+i)), pageview(fmt.Sprintf("/products/shoe-%d", i)), pageview(fmt.Sprintf("/thanks/%d", i)))))
	}
	h.analyticsRows(t)
	pages := marketer.call("GET", "/api/sites/shop/reports/pages", nil)
	for _, want := range []string{`"value":"/orders/:id","visitors":3`, `"value":"/products/:slug","visitors":3`, `"value":"/thanks/:id","visitors":3`} {
		if !strings.Contains(string(pages.Body), want) {
			t.Errorf("pages lack %s: %s", want, pages.Body)
		}
	}
	if strings.Contains(string(pages.Body), "800") {
		t.Errorf("an id reached the report: %s", pages.Body)
	}
	if sum := marketer.call("GET", "/api/sites/shop/reports/summary?page=/orders/8001", nil).json(t); sum["visits"] != float64(3) {
		t.Errorf("filtered by an order's page: %v", sum)
	}
	if sum := marketer.call("GET", "/api/sites/shop/reports/summary?entry_page=/orders/1", nil).json(t); sum["visits"] != float64(3) {
		t.Errorf("filtered by entry page: %v", sum)
	}
	if goals := marketer.call("GET", "/api/sites/shop/reports/goals", nil); !strings.Contains(string(goals.Body), `"page":"/thanks/1","visitors":3`) {
		t.Errorf("a goal naming a page with its id: %s", goals.Body)
	}
}

// A site whose pages only measure gets the measuring loader: its key, this
// server's URL and its privacy settings built in, the analytics in it; with
// chat, live rules or pushed offers, the loader that loads modules. ?guide
// gives it the site's settings and the guide.
func TestMeasuringLoader(t *testing.T) {
	t.Parallel()
	h, site, _ := pageFixture(t)
	admin := h.login("admin@acme.test", "password-admin")
	get := func(path string) (string, response) {
		t.Helper()
		req := pageRequest("GET", path, "", "")
		req.Header.Set("Accept-Encoding", "gzip")
		res := h.do(req)
		zr, err := gzip.NewReader(bytes.NewReader(res.Body))
		if res.Status != 200 || err != nil {
			t.Fatalf("%s: %d %v", path, res.Status, err)
		}
		body, _ := io.ReadAll(zr)
		return string(body), res
	}
	if body, _ := get("/l/shop.js"); !strings.Contains(body, "/config/") {
		t.Fatal("a site with chat got the measuring loader")
	}
	if res := admin.call("PATCH", "/api/sites/"+site.ID, map[string]any{"settings": map[string]any{"chat": false, "respect_dnt": true}}); res.Status != 200 {
		t.Fatalf("chat off: %d %s", res.Status, res.Body)
	}
	body, res := get("/l/shop.js")
	if strings.Contains(body, "/config/") || !strings.Contains(body, `"shop"`) || !strings.Contains(body, h.srv.cfg.PublicURL) ||
		!strings.Contains(body, "/collect") || !strings.Contains(body, "doNotTrack") || strings.Contains(body, "nudge_consent") {
		t.Fatalf("the measuring loader: %.400s", body)
	}
	if res.Header.Get("Cache-Control") != "public, max-age=300" || res.Header.Get("SourceMap") != "" || len(res.Body) > 1400 {
		t.Fatalf("measuring loader headers %v, %d bytes gzipped", res.Header, len(res.Body))
	}
	req := pageRequest("GET", "/l/shop.js", "", "")
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	if again := h.do(req); again.Status != 304 {
		t.Fatalf("If-None-Match: %d", again.Status)
	}
	// Its privacy settings are built in: the consent variant.
	admin.call("PATCH", "/api/sites/"+site.ID, map[string]any{"settings": map[string]any{"chat": false, "respect_dnt": false, "consent_required": true}})
	if body, _ := get("/l/shop.js"); !strings.Contains(body, "nudge_consent") || strings.Contains(body, "doNotTrack") {
		t.Fatalf("the consent variant: %.400s", body)
	}
	guide, _ := get("/l/shop.js?guide")
	if !strings.HasPrefix(guide, `window.nudge?.c&&Object.assign(nudge.c,{"key":"shop",`) || !strings.Contains(guide, `"theme":`) ||
		!strings.HasSuffix(guide, string(h.srv.bundle.Files[h.srv.bundle.Module("guide")].Body)) {
		t.Fatalf("?guide: %.300s", guide)
	}
	// Pushed offers need the guide on every page: the loader that loads it.
	admin.call("PATCH", "/api/sites/"+site.ID, map[string]any{"settings": map[string]any{"chat": false, "push_offers": true}})
	if body, _ := get("/l/shop.js"); !strings.Contains(body, "/config/") {
		t.Fatal("a site that pushes offers got the measuring loader")
	}
}
