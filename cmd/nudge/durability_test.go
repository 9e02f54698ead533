package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/internal/pgtest"
	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/search/searchtest"
	"github.com/nudgehq/nudge/store"
)

// TestMain lets the test binary be the nudge command, so that a test can run
// a real server in another process and kill it.
func TestMain(m *testing.M) {
	if os.Getenv("NUDGE_TEST_AS_NUDGE") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(searchtest.Run(m, pgtest.Stop))
}

// serverProcess runs `nudge serve --demo` in a child process.
type serverProcess struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
}

func startProcess(t *testing.T, data, addr string, shell string, extra ...string) *serverProcess {
	t.Helper()
	args := append([]string{"serve", "--data", data, "--addr", addr, "--public-url", "http://" + addr, "--demo"}, extra...)
	var cmd *exec.Cmd
	if shell != "" {
		// e.g. "ulimit -n 64": the limit is set in a shell that then becomes the server.
		cmd = exec.Command("/bin/sh", append([]string{"-c", shell + ` && exec "$0" "$@"`, os.Args[0]}, args...)...)
	} else {
		cmd = exec.Command(os.Args[0], args...)
	}
	logs := &syncBuffer{}
	cmd.Env = append(os.Environ(), "NUDGE_TEST_AS_NUDGE=1", "NUDGE_ADMIN_PASSWORD=demo-password")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{t: t, cmd: cmd, url: "http://" + addr, logs: logs}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 1200 { // up to a minute under -race
		if res, err := drained(http.Get(p.url + "/readyz")); err == nil && res.StatusCode == 200 {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the server did not become ready:\n%s", logs.String())
	return nil
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// agentOnline signs the demo owner in on the agent socket, so that chats
// wait in the queue instead of going to the offline form.
func agentOnline(t *testing.T, url string) *fws.Conn {
	t.Helper()
	res, err := drained(http.Post(url+"/api/auth/login", "application/json", strings.NewReader(`{"email":"admin@localhost","password":"demo-password"}`)))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login: %v %v", res, err)
	}
	hdr := http.Header{"Origin": {url}, "Cookie": {strings.Split(res.Header.Get("Set-Cookie"), ";")[0]}}
	c, _, err := fws.DefaultDialer.Dial(strings.Replace(url, "http", "ws", 1)+"/ws/agent", hdr)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteJSON(map[string]any{"type": "hello", "status": "available"})
	// Signed in before the caller goes on (a test that then exhausts the
	// server's file descriptors must not race the sign-in's store reads).
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var m map[string]any
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("agent hello: %v", err)
		}
		if m["type"] == "hello_ok" {
			break
		}
		if m["type"] == "error" {
			t.Fatalf("agent hello: %v", m)
		}
	}
	c.SetReadDeadline(time.Time{})
	go func() { // drain its events
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return c
}

type acked struct {
	seq      int64
	clientID string
	text     string
}

// TestSIGKILLLosesNoAcknowledgedMessage kills the server with SIGKILL in the
// middle of a burst across many conversations, restarts it, and checks that
// every acknowledged message is there with the seq it was acknowledged with,
// and that every conversation's sequence runs 1..n without a gap.
func TestSIGKILLLosesNoAcknowledgedMessage(t *testing.T) {
	data, addr := t.TempDir(), freeAddr(t)
	p := startProcess(t, data, addr, "")
	agent := agentOnline(t, p.url)
	defer agent.Close()

	const conversations = 40
	var mu sync.Mutex
	acks := map[string][]acked{} // conversation → acknowledged messages
	tokens := map[string]string{}
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range conversations {
		c, conv, token := startVisitor(t, p.url, fmt.Sprint("v", i))
		defer c.Close()
		tokens[conv] = token
		wg.Add(2)
		sent := map[string]string{}
		var sentMu sync.Mutex
		go func() { // writer: a burst, without waiting for acks
			defer wg.Done()
			<-ready
			for j := 0; ; j++ {
				id := fmt.Sprintf("c%d-%d", i, j)
				text := fmt.Sprintf("message %d of conversation %d", j, i)
				sentMu.Lock()
				sent[id] = text
				sentMu.Unlock()
				if err := c.WriteJSON(map[string]any{"type": "send", "id": id, "client_id": id, "text": text}); err != nil {
					return
				}
				time.Sleep(time.Duration(105+i%7) * time.Millisecond) // under the visitor rate limit
			}
		}()
		go func() { // reader: record acks until the server dies
			defer wg.Done()
			for {
				var f struct {
					Type string
					ID   string
					Data struct{ Seq int64 }
				}
				if err := c.ReadJSON(&f); err != nil {
					return
				}
				if f.Type == "ack" {
					sentMu.Lock()
					text := sent[f.ID]
					sentMu.Unlock()
					mu.Lock()
					acks[conv] = append(acks[conv], acked{f.Data.Seq, f.ID, text})
					mu.Unlock()
				}
			}
		}()
	}
	close(ready)
	// Kill once a good number of messages have been acknowledged.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, a := range acks {
			n += len(a)
		}
		mu.Unlock()
		if n >= 1500 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	wg.Wait()
	total := 0
	for _, a := range acks {
		total += len(a)
	}
	if total < 500 {
		t.Fatalf("only %d messages acknowledged before the kill", total)
	}
	t.Logf("%d messages acknowledged in %d conversations before SIGKILL", total, len(acks))

	// The restarted server has them all, in order, and serves them.
	p = startProcess(t, data, addr, "")
	checkAcked(t, p.url, tokens, acks)
	stopProcess(t, p)

	// Every sequence is contiguous, and no client id is stored twice.
	ctx := context.Background()
	st, ring := openData(t, data)
	st.SetSealer(ring) // conversations' metadata is sealed
	log := chat.NewLog(st, ring, nil)
	defer log.Close()
	for conv := range tokens {
		c, err := st.Conversation(ctx, tenantOf(t, st, conv), conv)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := log.Since(ctx, c.TenantID, conv, 0, 1000, false)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for i, m := range ms {
			if m.Seq != int64(i+1) {
				t.Fatalf("conversation %s: seq %d at position %d", conv, m.Seq, i+1)
			}
			if m.ClientID != "" && seen[m.ClientID] {
				t.Fatalf("conversation %s: client id %s stored twice", conv, m.ClientID)
			}
			seen[m.ClientID] = true
		}
		if int64(len(ms)) != c.LastSeq {
			t.Fatalf("conversation %s: %d messages, last seq %d", conv, len(ms), c.LastSeq)
		}
	}
}

func tenantOf(t *testing.T, st *store.Store, conv string) string {
	tenant, _, err := st.ConversationToken(context.Background(), conv)
	if err != nil {
		t.Fatal(err)
	}
	return tenant
}

func stopProcess(t *testing.T, p *serverProcess) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the server did not stop:\n%s", p.logs.String())
	}
}

// TestOutOfFileDescriptorsKeepsServing runs the server with few file
// descriptors, opens connections until it has none left, and checks that it
// refuses the extra ones, keeps serving the open ones, logs why, and accepts
// again once descriptors free up.
func TestOutOfFileDescriptorsKeepsServing(t *testing.T) {
	data, addr := t.TempDir(), freeAddr(t)
	p := startProcess(t, data, addr, "ulimit -n 64")
	agent := agentOnline(t, p.url)
	defer agent.Close()

	var conns []net.Conn
	for range 150 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	// The server accepted what it could; the rest were closed on them.
	time.Sleep(500 * time.Millisecond)
	refused := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !os.IsTimeout(err) {
			refused++
		}
	}
	if refused == 0 {
		t.Fatalf("no connection was refused: the limit was not reached (%d open)", len(conns))
	}
	// The agent's socket, opened before, still works.
	agent.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := agent.WriteJSON(map[string]any{"type": "presence", "id": "p", "status": "away"}); err != nil {
		t.Fatalf("an open connection stopped working: %v", err)
	}
	for _, c := range conns {
		c.Close()
	}
	// Descriptors are free again: new requests are served.
	var ok bool
	for range 600 {
		if res, err := drained(http.Get(p.url + "/healthz")); err == nil && res.StatusCode == 200 {
			res.Body.Close()
			ok = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !ok {
		t.Fatalf("the server does not accept again:\n%s", p.logs.String())
	}
	if !strings.Contains(p.logs.String(), "out of file descriptors") {
		t.Fatalf("the refusal is not logged:\n%s", p.logs.String())
	}
	if p.cmd.ProcessState != nil {
		t.Fatal("the server exited")
	}
}

// checkAcked resumes each conversation on the server at url and checks that
// every acknowledged message is there, with the seq, client id and text it
// was acknowledged with; it returns how many it checked.
func checkAcked(t *testing.T, url string, tokens map[string]string, acks map[string][]acked) int {
	t.Helper()
	n := 0
	for conv, token := range tokens {
		c, _, err := fws.DefaultDialer.Dial(strings.Replace(url, "http", "ws", 1)+"/ws/visitor?site=demo", http.Header{"Origin": {url}})
		if err != nil {
			t.Fatal(err)
		}
		c.WriteJSON(map[string]any{"type": "resume", "token": token})
		var hello struct {
			Type string
			Data struct{ Messages []chat.Message }
		}
		if err := c.ReadJSON(&hello); err != nil || hello.Type != "resume_ok" {
			t.Fatalf("resume: %v %+v", err, hello.Type)
		}
		c.Close()
		stored := map[int64]chat.Message{}
		for _, m := range hello.Data.Messages {
			stored[m.Seq] = m
		}
		for _, a := range acks[conv] {
			n++
			if m, ok := stored[a.seq]; !ok || m.ClientID != a.clientID || m.Text != a.text {
				t.Errorf("conversation %s: acknowledged seq %d (%s) is missing or different after the restart: %+v", conv, a.seq, a.clientID, m)
			}
		}
	}
	return n
}

// demoSession logs the demo owner in on the server at url and returns the
// session cookie and its CSRF token.
func demoSession(t *testing.T, url string) (cookie, csrf string) {
	t.Helper()
	res, err := drained(http.Post(url+"/api/auth/login", "application/json", strings.NewReader(`{"email":"admin@localhost","password":"demo-password"}`)))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login: %v %v", res, err)
	}
	defer res.Body.Close()
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	json.NewDecoder(res.Body).Decode(&me)
	return strings.Split(res.Header.Get("Set-Cookie"), ";")[0], me.CSRF
}

// addWebhook registers a webhook of the demo tenant, as its owner would.
func addWebhook(t *testing.T, url, cookie, csrf, target string, events ...string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"url": target, "events": events})
	req, _ := http.NewRequest("POST", url+"/api/webhooks", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", url)
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Cookie", cookie)
	res, err := drained(http.DefaultClient.Do(req))
	if err != nil {
		t.Fatalf("webhook: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != 201 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("webhook: %d %s", res.StatusCode, b)
	}
}

// drained answers as the HTTP call it wraps, with the body read and closed
// (and kept to read again): a connection whose body nobody closes keeps two
// goroutines waiting, which the leak check at the end counts.
func drained(res *http.Response, err error) (*http.Response, error) {
	if err != nil {
		return res, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(b))
	return res, err
}

// openData opens a stopped server's store and key ring in its data folder;
// the store closes with the test.
func openData(t *testing.T, data string) (*store.Store, *keys.Ring) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(data, "nudge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, err := keys.OpenRing(ctx, filepath.Join(data, "master.key"), st)
	if err != nil {
		t.Fatal(err)
	}
	return st, ring
}

// startVisitor opens a visitor's socket on the demo site and starts a
// chat; it returns the socket, the conversation and its resume token.
func startVisitor(t *testing.T, url, visitor string) (c *fws.Conn, conv, token string) {
	t.Helper()
	return startVisitorFrom(t, url, url, visitor)
}

// startVisitorFrom is startVisitor from a page of origin (the public URL of
// a cluster whose node is at url).
func startVisitorFrom(t *testing.T, url, origin, visitor string) (c *fws.Conn, conv, token string) {
	t.Helper()
	c, _, err := fws.DefaultDialer.Dial(strings.Replace(url, "http", "ws", 1)+"/ws/visitor?site=demo", http.Header{"Origin": {origin}})
	if err != nil {
		t.Fatal(err)
	}
	c.WriteJSON(map[string]any{"type": "start", "visitor": visitor})
	var hello struct {
		Type string
		Data struct {
			Token        string
			Conversation struct{ ID string }
		}
	}
	if err := c.ReadJSON(&hello); err != nil || hello.Type != "start_ok" {
		c.Close()
		t.Fatalf("start: %v %+v", err, hello)
	}
	return c, hello.Data.Conversation.ID, hello.Data.Token
}
