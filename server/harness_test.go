package server

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/store/storetest"
)

// harness is a server on a fresh database file, driven through app.Test.
type harness struct {
	t    testing.TB
	srv  *Server
	st   *store.Store
	db   *sql.DB // a separate handle, to check what was (not) written
	addr string  // set by listen
}

func newHarness(t testing.TB, edit ...func(*Config)) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	for _, e := range edit {
		e(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if storetest.Postgres() && cfg.DatabaseURL == "" {
		cfg.DatabaseURL = storetest.Path(t, cfg.DataDir)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg.DatabasePath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := New(ctx, cfg, st, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &harness{t: t, srv: srv, st: st, db: storetest.DB(t, st)}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// tenant creates a tenant with one user per role; password is "password-" + role.
func (h *harness) tenant(name string) (store.Tenant, map[string]store.User) {
	h.t.Helper()
	ctx := context.Background()
	tn, err := h.st.CreateTenant(ctx, store.System, name)
	if err != nil {
		h.t.Fatal(err)
	}
	users := map[string]store.User{}
	for _, role := range auth.Roles {
		u, err := h.srv.auth.CreateUser(ctx, store.System, tn.ID, auth.NewUser{
			Email: role + "@" + strings.ToLower(name) + ".test", Password: "password-" + role, Role: role})
		if err != nil {
			h.t.Fatal(err)
		}
		users[role] = u
	}
	return tn, users
}

// response is an answer with its body decoded.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// errorCode checks the one error body and returns its code.
func (r response) errorCode(t testing.TB) string {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
		t.Fatalf("status %d: not the error body: %s", r.Status, r.Body)
	}
	return body.Error.Code
}

// do sends req through app.Test. A request marked with the header
// X-Test-Socket goes to a real listener instead, as headers only: fasthttp
// refuses an oversized Content-Length there before any handler runs (app.Test
// does not show that answer), and not sending the body keeps the refusal from
// racing a reset connection.
func (h *harness) do(req *http.Request) response {
	h.t.Helper()
	var res *http.Response
	var err error
	if req.Header.Get("X-Test-Socket") != "" {
		res, err = h.headersOnly(req)
	} else {
		res, err = h.srv.App().Test(req, -1)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Header: res.Header, Body: b}
	if problem := checkResponseAgainstSpec(req, out); problem != "" {
		h.t.Error(problem)
	}
	return out
}

// listen serves the app on a loopback port, once, and returns host:port.
func (h *harness) listen() string {
	if h.addr != "" {
		return h.addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	go h.srv.App().Listener(ln)
	h.t.Cleanup(func() { h.srv.App().Shutdown() })
	h.addr = ln.Addr().String()
	return h.addr
}

func (h *harness) headersOnly(req *http.Request) (*http.Response, error) {
	conn, err := net.Dial("tcp", h.listen())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n", req.Method, req.URL.RequestURI(), req.ContentLength)
	req.Header.Write(conn)
	io.WriteString(conn, "\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body = io.NopCloser(bytes.NewReader(b))
	return res, err
}

// client is a console user (cookie + CSRF token) or an integration (bearer).
type client struct {
	h      *harness
	cookie string
	csrf   string
	bearer string
	tenant string
}

func (h *harness) anonymous() *client { return &client{h: h} }

func (h *harness) login(email, password string) *client {
	h.t.Helper()
	c := &client{h: h}
	res := c.call("POST", "/api/auth/login", map[string]string{"email": email, "password": password})
	if res.Status != 200 {
		h.t.Fatalf("login %s: %d %s", email, res.Status, res.Body)
	}
	for _, ck := range (&http.Response{Header: res.Header}).Cookies() {
		if strings.HasSuffix(ck.Name, "nudge_session") {
			c.cookie = ck.Name + "=" + ck.Value
		}
	}
	c.csrf = res.json(h.t)["csrf_token"].(string)
	return c
}

// request builds a request; body may be a string (sent raw) or a value (JSON).
func (c *client) request(method, path string, body any) *http.Request {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.cookie != "" {
		req.Header.Set("Cookie", c.cookie)
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.tenant != "" {
		req.Header.Set("X-Nudge-Tenant", c.tenant)
	}
	return req
}

func (c *client) call(method, path string, body any) response {
	c.h.t.Helper()
	return c.h.do(c.request(method, path, body))
}

// snapshot counts the rows of every table: a refused request must leave it equal.
func (h *harness) snapshot() map[string]int {
	h.t.Helper()
	out := map[string]int{}
	for _, table := range []string{"tenants", "users", "memberships", "sessions", "api_tokens", "audit_log", "sites", "offer_rules", "offer_rule_versions", "offer_templates", "mail_outbox"} {
		var n int
		if err := h.db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
			h.t.Fatal(err)
		}
		out[table] = n
	}
	out["invitations:"+h.digest(`SELECT id, role, accepted_at, revoked_at FROM invitations ORDER BY id`)] = 1
	out["email settings:"+h.digest(`SELECT tenant_id, config FROM email_settings ORDER BY tenant_id`)] = 1
	out["offers:"+h.digest(`SELECT draft, published FROM offer_rules ORDER BY id`)+h.digest(`SELECT body FROM offer_templates ORDER BY id`)] = 1
	out["sites:"+h.digest(`SELECT name, allowed_origins, identity_secret, theme, settings, time_zone FROM sites ORDER BY id`)] = 1
	out["roles:"+h.digest(`SELECT user_id, role FROM memberships ORDER BY tenant_id, user_id`)] = 1
	out["passwords:"+h.digest(`SELECT password_hash FROM users ORDER BY id`)] = 1
	return out
}

// digest is every value of a query's rows, in order, as text (NULL as
// nothing): what to compare before and after a request on either database.
func (h *harness) digest(q string, args ...any) string {
	h.t.Helper()
	rows, err := h.db.Query(q, args...)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var b strings.Builder
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			h.t.Fatal(err)
		}
		for _, v := range vals {
			switch v := v.(type) {
			case nil:
			case []byte:
				b.Write(v)
			default:
				fmt.Fprint(&b, v)
			}
			b.WriteByte(0x1f)
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return b.String()
}

func (h *harness) unchanged(before map[string]int, what string) {
	h.t.Helper()
	after := h.snapshot()
	if len(after) != len(before) {
		h.t.Errorf("%s changed the database", what)
		return
	}
	for k, v := range before {
		if after[k] != v {
			h.t.Errorf("%s changed the database (%s)", what, strings.SplitN(k, ":", 2)[0])
			return
		}
	}
}
