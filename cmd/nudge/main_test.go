package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nudgehq/nudge/internal/pgtest"
	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/server"
	"github.com/nudgehq/nudge/store"
)

func TestFlagsEnvironmentAndFiles(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(secret, []byte("from-a-file\n"), 0o600)
	env := map[string]string{
		"NUDGE_ADDR":                "0.0.0.0:9000",
		"NUDGE_PUBLIC_URL":          "https://from-env.test",
		"NUDGE_ADMIN_PASSWORD_FILE": secret,
		"NUDGE_TRUSTED_PROXIES":     "10.0.0.1, 192.168.0.0/16",
		"NUDGE_SESSION_TTL":         "2h",
		"NUDGE_DEMO":                "true",
	}
	cfg := server.DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	serveFlags(fs, &cfg)
	if err := parse(fs, []string{"--public-url", "https://from-flag.test"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.PublicURL != "https://from-flag.test" {
		t.Errorf("a flag must beat the environment: %s", cfg.PublicURL)
	}
	if cfg.Addr != "0.0.0.0:9000" || cfg.AdminPassword != "from-a-file" || !cfg.Demo || cfg.SessionTTL != 2*time.Hour ||
		len(cfg.TrustedProxies) != 2 || cfg.TrustedProxies[1] != "192.168.0.0/16" {
		t.Errorf("environment not applied: %+v", cfg)
	}
	if cfg.DataDir != "data" {
		t.Errorf("a default changed: data = %s", cfg.DataDir)
	}
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	serveFlags(fs, &cfg)
	if err := parse(fs, nil, func(k string) string { return map[string]string{"NUDGE_BODY_LIMIT": "lots"}[k] }); err == nil || !strings.Contains(err.Error(), "NUDGE_BODY_LIMIT") {
		t.Errorf("a bad variable must be named in the error: %v", err)
	}
}

func TestServeHelpNamesEveryVariable(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"serve", "--help"}, &out, &errOut); code != 0 {
		t.Fatalf("serve --help exit %d", code)
	}
	for _, v := range []string{"NUDGE_ADDR", "NUDGE_DATA", "NUDGE_PUBLIC_URL", "NUDGE_TLS_CERT", "NUDGE_TLS_KEY", "NUDGE_MASTER_KEY_FILE", "NUDGE_LOG_LEVEL", "NUDGE_DEMO", "NUDGE_ADMIN_EMAIL", "NUDGE_ADMIN_PASSWORD"} {
		if !strings.Contains(errOut.String(), v) {
			t.Errorf("serve --help does not mention %s", v)
		}
	}
}

func TestCommandLineErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"serve", "--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"serve", "--public-url", "ftp://x"}, 1, "public-url"},
		{[]string{"serve", "--log-level", "loud"}, 1, "log-level"},
		{[]string{"serve", "--sync", "sometimes"}, 1, "sync"},
		{[]string{"serve", "--tls-cert", "c.pem"}, 1, "tls-key"},
		{[]string{"user"}, 2, "usage"},
		{[]string{"user", "create", "--email", "a@b.co"}, 2, "password"},
		{[]string{"serve", "--search-url", "es.internal:9200"}, 1, "search-url"},
		{[]string{"serve", "--database-url", "mysql://db/nudge"}, 1, "a postgres:// URL"},
		{[]string{"serve", "--database-url", "postgres://db.internal"}, 1, "server and database"},
		{[]string{"serve", "--database-url", "postgres://nudge:hunter2@db/nudge"}, 1, "not in the URL"},
		{[]string{"serve", "--database-password", "hunter2"}, 1, "without --database-url"},
		{[]string{"serve", "--nats-url", "nats://127.0.0.1:4222"}, 1, "set --database-url"},
		{[]string{"serve", "--nats-url", "nats://127.0.0.1:4222", "--database-url", "postgres://db/nudge"}, 1, "the embedded search index is one node's own"},
		{[]string{"serve", "--nats-url", "http://127.0.0.1:4222", "--database-url", "postgres://db/nudge", "--search-url", "http://es:9200"}, 1, "a nats:// (or tls://) URL"},
		{[]string{"user", "list", "--database-url", "postgres://nudge:hunter2@db/nudge"}, 1, "NUDGE_DATABASE_PASSWORD_FILE"},
		{[]string{"keys", "rotate", "--database-url", "postgres://x"}, 1, "database-url"},
		{[]string{"reindex", "--database-url", "postgres://127.0.0.1:1/nudge"}, 1, "connect to postgres://127.0.0.1:1/nudge"},
		{[]string{"reindex", "--since", "yesterday"}, 1, "YYYY-MM-DD"},
		{[]string{"reindex", "--data", "/no/such/folder"}, 1, "no database"},
		{[]string{"reindex", "--search-url", "https://u:pw@es:9200"}, 1, "not in the URL"},
		{[]string{"reindex", "extra"}, 2, "unexpected argument"},
		{[]string{"loadgen", "search", "--messages", "5"}, 1, "--messages"},
		{[]string{"loadgen", "search", "--search-url", "es:9200"}, 1, "es:9200"},
		{[]string{"loadgen", "collect", "--events-per-day", "5"}, 1, "1,000 to 100,000,000"},
		{[]string{"loadgen", "chat", "--password", "x", "--nodes", "http://127.0.0.1:1,127.0.0.1:2"}, 1, `--nodes: "127.0.0.1:2" is not a URL`},
		{[]string{"loadgen", "collect", "--events-per-day", "5000", "--token", "", "--password", ""}, 1, "--token, or --email"},
		{[]string{"loadgen", "collect", "--identify", "--token", "", "--password", ""}, 1, "--token, or --email"},
	} {
		var out, errOut bytes.Buffer
		code := run(tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("nudge %v: exit %d, %q; want %d mentioning %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
	var out bytes.Buffer
	if run([]string{"version"}, &out, &out) != 0 || !strings.HasPrefix(out.String(), "nudge ") {
		t.Errorf("version: %q", out.String())
	}
}

// The search benchmark runs (small here) and reports every kind of query.
func TestLoadgenSearch(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"loadgen", "search", "--messages", "2000", "--queries", "3", "--dir", t.TempDir()}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"embedded: 2000 messages in", "common word", "prefix", "word + 3 filters", "word by relevance"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in %s", want, out.String())
		}
	}
}

// The user commands work on either database (NUDGE_DATABASE_URL names
// PostgreSQL's).
func TestUserCommands(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			if db == "postgres" {
				t.Setenv("NUDGE_DATABASE_URL", pgtest.Database(t))
			}
			data := filepath.Join(t.TempDir(), "data") // before the first serve: no data folder yet
			t.Setenv("NUDGE_PASSWORD", "first-password")
			var out, errOut bytes.Buffer
			if code := run([]string{"user", "create", "--data", data, "--email", "Boss@Acme.test", "--tenant", "Acme"}, &out, &errOut); code != 0 {
				t.Fatalf("create: %d %s", code, errOut.String())
			}
			if !strings.Contains(out.String(), `created tenant "Acme"`) || !strings.Contains(out.String(), "created user boss@acme.test") {
				t.Fatalf("create said %q", out.String())
			}
			out.Reset()
			if code := run([]string{"user", "create", "--data", data, "--email", "agent@acme.test", "--tenant", "acme", "--role", "agent"}, &out, &errOut); code != 0 || strings.Contains(out.String(), "created tenant") {
				t.Fatalf("second user made a second tenant: %d %q", code, out.String())
			}
			errOut.Reset()
			if code := run([]string{"user", "create", "--data", data, "--email", "boss@acme.test"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "exists") {
				t.Fatalf("duplicate: %d %q", code, errOut.String())
			}
			errOut.Reset()
			if code := run([]string{"user", "create", "--data", data, "--email", "x@acme.test", "--tenant", "Acme", "--role", "king"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "role") {
				t.Fatalf("bad role: %d %q", code, errOut.String())
			}
			t.Setenv("NUDGE_PASSWORD", "second-password")
			out.Reset()
			if code := run([]string{"user", "set-password", "--data", data, "--email", "boss@acme.test"}, &out, &errOut); code != 0 {
				t.Fatalf("set-password: %d %s", code, errOut.String())
			}
			out.Reset()
			if code := run([]string{"user", "list", "--data", data}, &out, &errOut); code != 0 ||
				!strings.Contains(out.String(), "owner@Acme") || !strings.Contains(out.String(), "agent@Acme") {
				t.Fatalf("list: %d %q", code, out.String())
			}
		})
	}
}

// TestServeRunsAndStopsGracefully starts the real server on a port, uses it,
// and stops it as SIGTERM would: Serve returns and the store is closed.
func TestServeRunsAndStopsGracefully(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	mln, _ := net.Listen("tcp", "127.0.0.1:0")
	metrics := mln.Addr().String()
	mln.Close()
	cfg := server.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.PublicURL, cfg.Demo, cfg.AdminPassword = addr, t.TempDir(), "http://"+addr, true, "demo-password"
	cfg.MetricsAddr = metrics
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, cfg, &out, &logs) }()
	var res *http.Response
	var err error
	for range 1200 { // up to a minute: a -race build on a busy machine starts slowly
		if res, err = drained(http.Get("http://" + addr + "/readyz")); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: %v %v\n%s", res, err, logs.String())
	}
	login, err := drained(http.Post("http://"+addr+"/api/auth/login", "application/json", strings.NewReader(`{"email":"admin@localhost","password":"demo-password"}`)))
	if err != nil || login.StatusCode != 200 {
		t.Fatalf("demo owner login: %v %v", login, err)
	}
	// Metrics on their own address, not on the public one.
	if res, err := drained(http.Get("http://" + metrics + "/metrics")); err != nil || res.StatusCode != 200 {
		t.Fatalf("metrics on --metrics-addr: %v %v", res, err)
	}
	if res, err := drained(http.Get("http://" + addr + "/metrics")); err != nil || res.StatusCode != 404 {
		t.Fatalf("metrics on --addr: %v %v", res, err)
	}
	// A user the command line adds while the server runs can work within seconds.
	var cliOut, cliErr bytes.Buffer
	if code := run([]string{"user", "create", "--data", cfg.DataDir, "--email", "late@demo.test", "--tenant", "Demo", "--role", "agent",
		"--password", "late-password-1"}, &cliOut, &cliErr); code != 0 {
		t.Fatalf("user create beside the server: %d %s", code, cliErr.String())
	}
	lateLogin, err := drained(http.Post("http://"+addr+"/api/auth/login", "application/json", strings.NewReader(`{"email":"late@demo.test","password":"late-password-1"}`)))
	if err != nil || lateLogin.StatusCode != 200 {
		t.Fatalf("the new user's login: %v %v", lateLogin, err)
	}
	cookie := strings.Split(lateLogin.Header.Get("Set-Cookie"), ";")[0]
	for deadline := time.Now().Add(time.Minute); ; {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/sites", nil)
		req.Header.Set("Cookie", cookie)
		res, err := drained(http.DefaultClient.Do(req))
		if err == nil && res.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the running server never learned the new member's role: %v %v", res, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if fi, err := os.Stat(filepath.Join(cfg.DataDir, "master.key")); err != nil || fi.Size() != 32 {
		t.Fatalf("master key not generated: %v", err)
	}
	// The chat load generator gets its visitors through the demo's pre-chat
	// form and question to bots that answer, and loses nothing.
	t.Setenv("NUDGE_LOADGEN_PASSWORD", "demo-password")
	cliOut.Reset()
	if code := run([]string{"loadgen", "chat", "--url", "http://" + addr, "--metrics-url", "http://" + metrics + "/metrics",
		"--conversations", "4", "--per-agent", "2", "--interval", "100ms", "--duration", "2s"}, &cliOut, &cliErr); code != 0 ||
		!strings.Contains(cliOut.String(), " 0 lost") || strings.Contains(cliOut.String(), " 0 delivered") {
		t.Fatalf("loadgen chat: %d\n%s\n%s", code, cliOut.String(), cliErr.String())
	}
	// The analytics load generator lifts the site's daily budget first when
	// asked (a wrong login changes nothing), then stores what it sends.
	cliOut.Reset()
	if code := run([]string{"loadgen", "collect", "--url", "http://" + addr, "--metrics-url", "http://" + metrics + "/metrics",
		"--events-per-day", "5000000", "--password", "wrong-password", "--duration", "1s"}, &cliOut, &cliErr); code != 1 ||
		!strings.Contains(cliErr.String(), "log in as admin@localhost") {
		t.Fatalf("loadgen collect with a wrong password: %d\n%s\n%s", code, cliOut.String(), cliErr.String())
	}
	if code := run([]string{"loadgen", "collect", "--url", "http://" + addr, "--metrics-url", "http://" + metrics + "/metrics",
		"--events-per-day", "5000000", "--identify", "--duration", "1s", "--concurrency", "2", "--visitors", "10"}, &cliOut, &cliErr); code != 0 ||
		!strings.Contains(cliOut.String(), "persisted") {
		t.Fatalf("loadgen collect: %d\n%s\n%s", code, cliOut.String(), cliErr.String())
	}
	adminLogin, err := drained(http.Post("http://"+addr+"/api/auth/login", "application/json", strings.NewReader(`{"email":"admin@localhost","password":"demo-password"}`)))
	if err != nil || adminLogin.StatusCode != 200 {
		t.Fatalf("the admin's login: %v %v", adminLogin, err)
	}
	asAdmin := func(path string) string {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Cookie", strings.Split(adminLogin.Header.Get("Set-Cookie"), ";")[0])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return string(body)
	}
	if body := asAdmin("/api/sites"); !strings.Contains(body, `"events_per_day":5000000`) {
		t.Fatalf("the demo site's budget after loadgen collect --events-per-day: %s", body)
	}
	// Its signed identify events made contacts (recorded in the background).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		body := asAdmin("/api/contacts")
		if strings.Contains(body, `"external_id":"user-`) && strings.Contains(body, `"verified_by":"hash"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no contact from loadgen collect --identify: %s", body)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(logs.String(), "admin_password=[redacted]") || strings.Contains(logs.String(), "demo-password") {
		t.Fatalf("secrets not redacted in the start log:\n%s", logs.String())
	}
	if _, err := drained(http.Get("http://" + addr + "/healthz")); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

// syncBuffer is a buffer the server's goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeHTTPS serves over TLS when given a certificate, with Secure cookies
// and HSTS on the console.
func TestServeHTTPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cfg := server.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.PublicURL = addr, dir, "https://"+addr
	cfg.TLSCert, cfg.TLSKey, cfg.Demo, cfg.AdminPassword = certFile, keyFile, true, "demo-password"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, cfg, io.Discard, &logs) }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	var res *http.Response
	var err error
	for range 1200 {
		if res, err = drained(client.Get("https://" + addr + "/healthz")); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || res.StatusCode != 200 || res.TLS == nil {
		t.Fatalf("https healthz: %v %v\n%s", res, err, logs.String())
	}
	req, _ := http.NewRequest("POST", "https://"+addr+"/api/auth/login", strings.NewReader(`{"email":"admin@localhost","password":"demo-password"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err = drained(client.Do(req))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login over https: %v %v", res, err)
	}
	if ck := res.Header.Get("Set-Cookie"); !strings.HasPrefix(ck, "__Host-nudge_session=") || !strings.Contains(ck, "secure") {
		t.Errorf("cookie over https: %q", ck)
	}
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS on the console over https")
	}
	if _, err := drained(http.Get("http://" + addr + "/healthz")); err == nil {
		t.Error("plain HTTP answered on the TLS port")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

func TestKeysRotate(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(data, "nudge.db"))
	if err != nil {
		t.Fatal(err)
	}
	tn, _ := st.CreateTenant(ctx, store.System, "A")
	ring, err := keys.OpenRing(ctx, filepath.Join(data, "master.key"), st)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := ring.Seal(ctx, tn.ID, []byte("secret"), nil)
	st.Close()
	old, _ := os.ReadFile(filepath.Join(data, "master.key"))

	var out, errOut bytes.Buffer
	if code := run([]string{"keys", "rotate", "--data", data}, &out, &errOut); code != 0 {
		t.Fatalf("keys rotate: %d %s", code, errOut.String())
	}
	next, _ := os.ReadFile(filepath.Join(data, "master.key"))
	if bytes.Equal(old, next) || !strings.Contains(out.String(), "1 data keys rewrapped") {
		t.Fatalf("rotate: key changed %v, said %q", !bytes.Equal(old, next), out.String())
	}
	st, _ = store.Open(ctx, filepath.Join(data, "nudge.db"))
	defer st.Close()
	ring, err = keys.OpenRing(ctx, filepath.Join(data, "master.key"), st)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ring.Open(ctx, tn.ID, sealed, nil); err != nil || string(got) != "secret" {
		t.Fatalf("after rotation: %q %v", got, err)
	}
	// A wrong key file refuses to start rather than sealing with a new key.
	os.WriteFile(filepath.Join(data, "master.key"), old, 0o600)
	if _, err := keys.OpenRing(ctx, filepath.Join(data, "master.key"), st); err == nil {
		t.Fatal("the old master key was accepted")
	}
	// An interrupted rotation (database rewrapped, key not yet installed) completes at start.
	os.WriteFile(filepath.Join(data, "master.key.new"), next, 0o600)
	if _, err := keys.OpenRing(ctx, filepath.Join(data, "master.key"), st); err != nil {
		t.Fatalf("interrupted rotation not recovered: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(data, "master.key")); !bytes.Equal(got, next) {
		t.Fatal("the new key was not installed")
	}
	// Not while a server holds the data folder.
	unlock, err := lockData(data)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	errOut.Reset()
	if code := run([]string{"keys", "rotate", "--data", data}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "in use") {
		t.Fatalf("rotate beside a server: %d %q", code, errOut.String())
	}
}

// TestServeDerivesItsPublicURL starts the demo as `make run ARGS="--addr
// 127.0.0.1:PORT"` does, with no --public-url: the URL it prints, the demo's
// snippet and the demo site's allowed origins all name that port.
func TestServeDerivesItsPublicURL(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	public := "http://localhost:" + port
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg := server.DefaultConfig()
	serveFlags(fs, &cfg)
	if err := parse(fs, []string{"--addr", addr, "--data", t.TempDir(), "--demo", "--admin-password", "demo-password"}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.PublicURL != public {
		t.Fatalf("public URL %q; want %q", cfg.PublicURL, public)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, cfg, &stdout, &logs) }()
	var res *http.Response
	var err error
	for range 1200 {
		if res, err = drained(http.Get(public + "/readyz")); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: %v %v\n%s", res, err, logs.String())
	}
	if !strings.Contains(stdout.String(), "open "+public) {
		t.Errorf("the URL printed: %q", stdout.String())
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a warning with a derived URL: %s", logs.String())
	}
	demo, err := drained(http.Get(public + "/demo/"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(demo.Body)
	if !strings.Contains(string(page), `"`+public+`"`) {
		t.Errorf("the demo's snippet does not load from %s", public)
	}
	req, _ := http.NewRequest("GET", public+"/config/demo", nil)
	req.Header.Set("Origin", public)
	if res, err := drained(http.DefaultClient.Do(req)); err != nil || res.StatusCode != 200 {
		t.Errorf("the demo's pages are refused: %v %v", res, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
