package server

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/search/searchtest"
)

// The search server stops in the middle of a burst of messages: chat goes
// on (every message is acknowledged), searches say 503 and /readyz says
// the index is unhealthy; once it is back, every message is indexed, once.
func TestSearchServerDownDuringABurst(t *testing.T) {
	t.Parallel()
	bin, err := searchtest.Build()
	if err != nil {
		t.Fatal(err)
	}
	zinc, err := searchtest.StartZinc(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer zinc.Stop()
	h := newHarness(t, func(c *Config) {
		c.SearchURL, c.SearchUsername, c.SearchPassword = zinc.URL, zinc.Username, zinc.Password
	})
	f := newChatFixture(h, "Acme")
	// The agent writes the burst: a visitor may send 10 frames a second.
	agent, _, conv := f.acceptedChat()
	owner := h.login(f.users["owner"].Email, "password-owner")
	const n = 60
	send := func(from, to int) {
		for i := from; i < to; i++ {
			id := fmt.Sprint(i)
			agent.send(map[string]any{"type": "send", "id": id, "conversation": conv, "text": "burst message number " + id})
			agent.until("ack "+id, typed("ack", id))
		}
	}
	send(0, n/2)
	zinc.Stop()
	send(n/2, n) // acknowledged with the index gone
	deadline := time.Now().Add(30 * time.Second)
	for h.srv.feed.Stats().Failing == false {
		if time.Now().After(deadline) {
			t.Fatalf("the feeder never noticed: %+v", h.srv.feed.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	res := owner.call("GET", "/api/chat/search?q=burst", nil)
	if res.Status != 503 || res.errorCode(t) != "search_unavailable" {
		t.Fatalf("search while down: %d %s", res.Status, res.Body)
	}
	ready := h.anonymous().call("GET", "/readyz", nil)
	sr, _ := ready.json(t)["search"].(map[string]any)
	if ready.Status != 200 || sr["healthy"] != false || sr["backend"] != "elasticsearch" || strings.Contains(string(ready.Body), "127.0.0.1") {
		t.Fatalf("readyz while down: %d %s", ready.Status, ready.Body)
	}

	if err := zinc.Start(); err != nil {
		t.Fatal(err)
	}
	if got := searchUntil(t, owner, "q=burst&limit=100", n); len(got) != n {
		t.Fatalf("%d messages found after the outage; want %d", len(got), n)
	}
	tenant := f.tn.ID
	if c, err := h.srv.search.Count(t.Context(), tenant); err != nil || c != n {
		t.Fatalf("count %d, %v; want %d", c, err, n)
	}
	if got := hitTexts(t, owner.call("GET", "/api/chat/search?q=%22number+42%22", nil)); len(got) != 1 {
		t.Fatalf("message 42: %q", got)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		sr, _ = h.anonymous().call("GET", "/readyz", nil).json(t)["search"].(map[string]any)
		if sr["healthy"] == true && sr["lag_seconds"] == float64(0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz after the outage: %v", sr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A search URL nobody answers at, or credentials it refuses: nudge starts,
// says so naming the URL, serves chat, and searches answer 503.
func TestSearchServerUnusableAtStart(t *testing.T) {
	t.Parallel()
	shared := searchtest.Shared(t)
	for name, edit := range map[string]func(*Config){
		"unreachable": func(c *Config) { c.SearchURL = "http://127.0.0.1:1/es" },
		"refused credentials": func(c *Config) {
			c.SearchURL, c.SearchUsername, c.SearchPassword = shared.URL, "admin", "not-the-password"
			if shared.APIKey != "" {
				c.SearchUsername, c.SearchPassword, c.SearchAPIKey = "", "", "bm90OnRoZWtleQ=="
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DataDir = t.TempDir()
			edit(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			var logged bytes.Buffer
			ring, err := keys.OpenRing(t.Context(), cfg.MasterKeyFile, newHarness(t).st)
			if err != nil {
				t.Fatal(err)
			}
			ix, err := ops.OpenSearch(t.Context(), cfg.Config, ring, slog.New(slog.NewTextHandler(&logged, nil)))
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			ix.Close()
			u, _ := url.Parse(cfg.SearchURL)
			if !strings.Contains(logged.String(), u.Host) || !strings.Contains(logged.String(), "level=ERROR") {
				t.Fatalf("the log does not name %s: %s", u.Host, logged.String())
			}

			h := newHarness(t, edit)
			f := newChatFixture(h, "Acme")
			_, v, _ := f.acceptedChat()
			v.send(map[string]any{"type": "send", "id": "1", "text": "hello while search is away"})
			v.until("ack", typed("ack", "1"))
			owner := h.login(f.users["owner"].Email, "password-owner")
			res := owner.call("GET", "/api/chat/search?q=hello", nil)
			if res.Status != 503 || res.errorCode(t) != "search_unavailable" || strings.Contains(string(res.Body), "password") {
				t.Fatalf("search: %d %s", res.Status, res.Body)
			}
			if res := h.anonymous().call("GET", "/readyz", nil); res.Status != 200 || res.json(t)["search"].(map[string]any)["healthy"] != false {
				t.Fatalf("readyz: %d %s", res.Status, res.Body)
			}
		})
	}
}

func TestSearchSettingsAreChecked(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"not a URL":               {func(c *Config) { c.SearchURL = "es.internal:9200" }, "search-url"},
		"ftp":                     {func(c *Config) { c.SearchURL = "ftp://es.internal" }, "search-url"},
		"credentials in the URL":  {func(c *Config) { c.SearchURL = "https://elastic:hunter2@es.internal:9200" }, "not in the URL"},
		"password without a user": {func(c *Config) { c.SearchURL, c.SearchPassword = "https://es.internal:9200", "pw" }, "search-username"},
		"key and user":            {func(c *Config) { c.SearchURL, c.SearchUsername, c.SearchAPIKey = "https://es.internal:9200", "u", "k" }, "not both"},
		"missing CA file":         {func(c *Config) { c.SearchURL, c.SearchCAFile = "https://es.internal:9200", "/no/such/ca.pem" }, "search-ca-file"},
		"bad prefix":              {func(c *Config) { c.SearchURL, c.SearchPrefix = "https://es.internal:9200", "Nudge*" }, "search-prefix"},
		"credentials without URL": {func(c *Config) { c.SearchUsername = "u" }, "without --search-url"},
	} {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", name, err)
		}
	}
	cfg := DefaultConfig()
	cfg.SearchURL, cfg.SearchUsername, cfg.SearchPassword = "https://es.internal:9200", "nudge", "hunter2"
	if v := cfg.LogValue().String(); strings.Contains(v, "hunter2") || !strings.Contains(v, "es.internal") {
		t.Errorf("logged configuration: %s", v)
	}
}

// /readyz is public: probes in a burst ask the cluster once, not each time.
func TestReadyzAsksTheClusterAtMostEveryFewSeconds(t *testing.T) {
	t.Parallel()
	var infos atomic.Int64
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		if r.Method == "GET" && r.URL.Path == "/" {
			infos.Add(1)
			io.WriteString(w, `{"version":{"number":"8.15.0","build_flavor":"default"},"tagline":"You Know, for Search"}`)
			return
		}
		io.WriteString(w, `{"acknowledged":true}`)
	}))
	defer es.Close()
	h := newHarness(t, func(c *Config) { c.SearchURL = es.URL })
	before := infos.Load()
	for range 20 {
		if res := h.anonymous().call("GET", "/readyz", nil); res.Status != 200 {
			t.Fatalf("readyz: %d %s", res.Status, res.Body)
		}
	}
	if n := infos.Load() - before; n != 1 {
		t.Fatalf("20 probes asked the cluster %d times; want 1", n)
	}
}

// A cluster behind TLS signed by a private CA is trusted with
// --search-ca-file, and refused without it.
func TestSearchCAFile(t *testing.T) {
	t.Parallel()
	zinc := searchtest.Shared(t)
	target, _ := url.Parse(zinc.URL)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	es := httptest.NewTLSServer(proxy)
	defer es.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: es.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	ring, err := keys.OpenRing(t.Context(), h.srv.cfg.MasterKeyFile, h.st)
	if err != nil {
		t.Fatal(err)
	}
	for _, trusted := range []bool{true, false} {
		cfg := h.srv.cfg
		cfg.SearchURL, cfg.SearchUsername, cfg.SearchPassword, cfg.SearchAPIKey = es.URL+target.Path, zinc.Username, zinc.Password, zinc.APIKey
		if trusted {
			cfg.SearchCAFile = ca
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		var logged bytes.Buffer
		ix, err := ops.OpenSearch(t.Context(), cfg.Config, ring, slog.New(slog.NewTextHandler(&logged, nil)))
		if err != nil {
			t.Fatal(err)
		}
		health := ix.Health(t.Context())
		ix.Close()
		if trusted && (health != nil || logged.Len() > 0) {
			t.Fatalf("with the CA: %v %s", health, logged.String())
		}
		if !trusted && (health == nil || !strings.Contains(logged.String(), "certificate")) {
			t.Fatalf("without the CA: %v %s", health, logged.String())
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	cfg := h.srv.cfg
	cfg.SearchURL, cfg.SearchCAFile = es.URL, bad
	if _, err := ops.OpenSearch(t.Context(), cfg.Config, ring, h.srv.log); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a CA file that is not PEM: %v", err)
	}
}
