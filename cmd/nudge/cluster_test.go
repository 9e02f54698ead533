package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/nudgehq/nudge/cluster"
	"github.com/nudgehq/nudge/internal/natstest"
	"github.com/nudgehq/nudge/internal/pgtest"
	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/search/searchtest"
	"github.com/nudgehq/nudge/store"
)

// takeoverBound is how long the test allows between the SIGKILL of the node
// that runs a tenant and another node running it: the lease's 5 s, a round
// of the leases (1 s), the rebuild from the store, and room for a machine
// busy with three servers, PostgreSQL, NATS and the race detector.
const takeoverBound = 15 * time.Second

// rig is PostgreSQL, NATS, an Elasticsearch-API server and nudge
// processes on loopback ports: a cluster as an operator runs one.
type rig struct {
	t      *testing.T
	pg     *pgtest.Server
	nats   *natstest.Server
	db     string
	args   []string // every node's flags but its data folder and address
	public string
	nodes  []*serverProcess
	addrs  []string
	st     *store.Store // the test's own look at the database
}

func startCluster(t *testing.T, n int) *rig {
	t.Helper()
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	nats, err := natstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Stop)
	c := &rig{t: t, pg: pg, nats: nats, db: pg.Database(t)}
	o := searchtest.Options(t)
	key := filepath.Join(t.TempDir(), "master.key")
	for range n {
		c.addrs = append(c.addrs, freeAddr(t))
	}
	// One public URL for all, as behind a load balancer: the demo site's
	// origin and the console's.
	c.public = "http://" + c.addrs[0]
	c.args = []string{"--database-url", c.db, "--nats-url", nats.URL, "--master-key-file", key,
		"--search-url", o.URL, "--search-username", o.Username, "--search-password", o.Password, "--search-prefix", o.Prefix,
		"--public-url", c.public, "--metrics-token", "cluster-metrics-token"}
	// The first node makes the demo tenant and the master key; the others
	// join it.
	c.nodes = make([]*serverProcess, n)
	c.start(0)
	for _, u := range []struct{ email, role string }{{"agent@acme.test", "agent"}, {"supervisor@acme.test", "supervisor"}} {
		var out, errOut strings.Builder
		if code := run([]string{"user", "create", "--data", t.TempDir(), "--database-url", c.db, "--email", u.email, "--name", u.role,
			"--password", "password-" + u.role, "--tenant", "Demo", "--role", u.role}, &out, &errOut); code != 0 {
			t.Fatalf("user create: %s", errOut.String())
		}
	}
	for i := 1; i < n; i++ {
		c.start(i)
	}
	if c.st, err = store.Open(context.Background(), c.db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.st.Close() })
	ring, err := keys.OpenRing(context.Background(), key, c.st)
	if err != nil {
		t.Fatal(err)
	}
	c.st.SetSealer(ring) // a site's secrets are sealed
	return c
}

// start starts node i (again, after a kill) on its address.
func (c *rig) start(i int) {
	c.t.Helper()
	c.nodes[i] = startProcess(c.t, c.t.TempDir(), c.addrs[i], "", c.args...)
}

func (c *rig) url(i int) string { return "http://" + c.addrs[i] }

// readyz is node i's /readyz: its status code and cluster block.
func (c *rig) readyz(i int) (int, map[string]any) {
	res, err := drained(http.Get(c.url(i) + "/readyz"))
	if err != nil {
		return 0, nil
	}
	var body struct{ Cluster map[string]any }
	json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body.Cluster
}

// settled waits until every node sees the others and the tenant runs on
// the node they choose for it, and returns that node.
func (c *rig) settled(tenant string) int {
	c.t.Helper()
	var owner int
	waitFor(c.t, "the tenant runs on its node", time.Minute, func() bool {
		var live []store.ClusterNode
		for i := range c.nodes {
			code, cl := c.readyz(i)
			if code != 200 || cl["nodes"] != float64(len(c.nodes)) {
				return false
			}
			live = append(live, store.ClusterNode{ID: cl["node"].(string)})
		}
		owner = c.runner(tenant)
		return owner >= 0 && live[owner].ID == cluster.Owner(tenant, live)
	})
	return owner
}

// runner is the node (index) that holds the tenant's lease now, or -1.
func (c *rig) runner(tenant string) int {
	ls, err := c.st.Leases(context.Background())
	if err != nil {
		return -1
	}
	for _, l := range ls {
		if l.TenantID != tenant || !l.ExpiresAt.After(time.Now()) {
			continue
		}
		for i, p := range c.nodes {
			if p == nil || p.cmd.ProcessState != nil {
				continue
			}
			if _, cl := c.readyz(i); cl != nil && cl["node"] == l.Node {
				return i
			}
		}
	}
	return -1
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// chatter is one side of a chat as a client that keeps the protocol's
// delivery rules: every send has a client id; a send that is not
// acknowledged is sent again (marked resend) once the socket is back, or
// after a moment when it was refused; a socket that closes is opened again,
// on the same node or, when that one does not answer, the next.
type chatter struct {
	t    *testing.T
	name string
	path string   // /ws/visitor?site=demo or /ws/agent
	urls []string // the nodes, in the order it tries them
	hdr  func(url string) http.Header
	// open says hello (or resumes) on a new socket and reads until the
	// answer; send makes a send command.
	open func(c *fws.Conn, lastSeq int64) error
	send func(id, text string, resend bool) map[string]any

	mu       sync.Mutex
	msgs     []*outgoing
	byID     map[string]*outgoing
	sending  bool
	opened   int // sockets opened
	events   int // message events from the others
	lastSeq  int64
	pending  int
	on       string // the node of the socket now
	conn     *fws.Conn
	at       int      // index in urls of the node to try next
	failures []string // answers no client should get
	stop     chan struct{}
	done     chan struct{}
}

type outgoing struct {
	id, text string
	seq      int64
	acked    bool
	refused  bool      // refused at least once (busy, rate limited)
	retryAt  time.Time // refused: when to send it again
	inFlight bool      // sent on the current socket, unanswered
}

func newChatter(t *testing.T, name, path string, urls []string, hdr func(string) http.Header) *chatter {
	return &chatter{t: t, name: name, path: path, urls: urls, hdr: hdr, byID: map[string]*outgoing{},
		stop: make(chan struct{}), done: make(chan struct{})}
}

// run keeps the chatter connected and sending until halt.
func (ch *chatter) run() {
	defer close(ch.done)
	lastErr := ""
	for {
		select {
		case <-ch.stop:
			return
		default:
		}
		ch.mu.Lock()
		u := ch.urls[ch.at%len(ch.urls)]
		ch.mu.Unlock()
		c, res, err := fws.DefaultDialer.Dial(strings.Replace(u, "http", "ws", 1)+ch.path, ch.hdr(u))
		if res != nil && res.StatusCode != 101 {
			b, _ := io.ReadAll(res.Body)
			err = fmt.Errorf("%w: %d %s", err, res.StatusCode, b)
		}
		if err == nil {
			ch.mu.Lock()
			last := ch.lastSeq
			ch.mu.Unlock()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if err = ch.open(c, last); err != nil {
				c.Close()
			}
			c.SetReadDeadline(time.Time{})
		}
		if err != nil {
			// A node that is down, or no node running the chat for the
			// moment (1013): the next node, after a short wait.
			if msg := err.Error(); msg != lastErr {
				ch.t.Logf("%s: %s: %s", ch.name, u, msg)
				lastErr = msg
			}
			ch.mu.Lock()
			ch.at++
			ch.mu.Unlock()
			select {
			case <-ch.stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		ch.mu.Lock()
		ch.opened++
		ch.on, ch.conn = u, c
		for _, m := range ch.msgs {
			m.inFlight = false
		}
		ch.mu.Unlock()
		if !ch.serve(c) {
			return
		}
	}
}

// serve reads and writes on one socket until it closes (true: open
// another) or the chatter halts (false).
func (ch *chatter) serve(c *fws.Conn) bool {
	defer c.Close()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			var f struct {
				Type, ID, Code, Message string
				Data                    json.RawMessage
			}
			if err := c.ReadJSON(&f); err != nil {
				return
			}
			ch.mu.Lock()
			switch f.Type {
			case "ack":
				var m struct{ Seq int64 }
				json.Unmarshal(f.Data, &m)
				if o := ch.byID[f.ID]; o != nil {
					if o.acked && o.seq != m.Seq {
						ch.failures = append(ch.failures, fmt.Sprintf("%s acknowledged with seq %d, then %d", f.ID, o.seq, m.Seq))
					}
					o.acked, o.seq, o.inFlight = true, m.Seq, false
				}
				ch.lastSeq = max(ch.lastSeq, m.Seq)
			case "error":
				if o := ch.byID[f.ID]; o != nil && (f.Code == "busy" || f.Code == "rate_limited") {
					o.refused, o.inFlight, o.retryAt = true, false, time.Now().Add(300*time.Millisecond)
				} else if f.ID != "" {
					ch.failures = append(ch.failures, fmt.Sprintf("%s: %s %s", f.ID, f.Code, f.Message))
				}
			case "message":
				var m struct{ Seq int64 }
				json.Unmarshal(f.Data, &m)
				ch.events++
				ch.lastSeq = max(ch.lastSeq, m.Seq)
			}
			ch.mu.Unlock()
		}
	}()
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	for {
		// What was not acknowledged goes again first, in order; then, while
		// the burst lasts, a new message (at most 8 unanswered).
		ch.mu.Lock()
		var out []map[string]any
		pending := 0
		for _, m := range ch.msgs {
			if m.acked {
				continue
			}
			if !m.inFlight && time.Now().After(m.retryAt) {
				m.inFlight = true
				out = append(out, ch.send(m.id, m.text, true))
			}
			pending++
		}
		ch.pending = pending
		if ch.sending && pending < 8 {
			m := &outgoing{id: fmt.Sprintf("%s-%d", ch.name, len(ch.msgs)), text: fmt.Sprintf("%s says %d", ch.name, len(ch.msgs)), inFlight: true}
			ch.msgs = append(ch.msgs, m)
			ch.byID[m.id] = m
			out = append(out, ch.send(m.id, m.text, false))
		}
		ch.mu.Unlock()
		for _, f := range out {
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.WriteJSON(f); err != nil {
				break
			}
		}
		select {
		case <-closed:
			return true
		case <-ch.stop:
			return false
		case <-tick.C:
		}
	}
}

// acks is how many of its messages were acknowledged.
func (ch *chatter) acks() int {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	n := 0
	for _, m := range ch.msgs {
		if m.acked {
			n++
		}
	}
	return n
}

func (ch *chatter) unacked() int {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.msgs) - func() int {
		n := 0
		for _, m := range ch.msgs {
			if m.acked {
				n++
			}
		}
		return n
	}()
}

func (ch *chatter) counts() (opened, events int) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.opened, ch.events
}

func (ch *chatter) String() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return fmt.Sprintf("%s: %d sent, %d unanswered, %d sockets opened, %d events, last seq %d, failures %v",
		ch.name, len(ch.msgs), ch.pending, ch.opened, ch.events, ch.lastSeq, ch.failures)
}

// moveTo closes the socket and opens the next on the node at url.
func (ch *chatter) moveTo(url string) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.at = slices.Index(ch.urls, url)
	ch.conn.Close()
}

func (ch *chatter) halt() {
	close(ch.stop)
	<-ch.done
}

// readAnswer reads frames until the answer to command id (its _ok type),
// an error for it, or a close.
func readAnswer(c *fws.Conn, ok, id string) (map[string]any, error) {
	for {
		var m map[string]any
		if err := c.ReadJSON(&m); err != nil {
			return nil, err
		}
		if m["type"] == ok && (m["id"] == id || id == "") {
			return m, nil
		}
		if m["type"] == "error" && m["id"] == id {
			return nil, fmt.Errorf("%s: %v %v", ok, m["code"], m["message"])
		}
	}
}

// Three nodes over one PostgreSQL and one NATS: a visitor on the node that
// runs the demo tenant, its agent and a supervisor on the two others, all
// sending. The running node is killed (SIGKILL) in the middle of the burst;
// another takes the tenant over within takeoverBound, the sockets resume on
// live nodes and resend what was not acknowledged. The killed node comes
// back (the tenant may move to it), then NATS restarts, then PostgreSQL
// (every node's /readyz red and writes answered 503 meanwhile). In the
// end every acknowledged message is in the conversation once, at the seq it
// was acknowledged with, and every message sent is there.
func TestClusterLosesNoAcknowledgedMessage(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()
	site, err := c.st.SiteByKey(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	tenant := site.TenantID
	owner := c.settled(tenant)
	others := []int{(owner + 1) % 3, (owner + 2) % 3}
	urls := func(first int) []string {
		var out []string
		for i := range 3 {
			out = append(out, c.url((first+i)%3))
		}
		return out
	}
	origin := func(string) http.Header { return http.Header{"Origin": {c.public}} }

	session := func(i int, email, password string) func(string) http.Header {
		res, err := drained(http.Post(c.url(i)+"/api/auth/login", "application/json",
			strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))))
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("login %s: %v %v", email, res, err)
		}
		cookie := strings.Split(res.Header.Get("Set-Cookie"), ";")[0]
		return func(string) http.Header { return http.Header{"Origin": {c.public}, "Cookie": {cookie}} }
	}
	agentHdr := session(others[0], "admin@localhost", "demo-password")
	// The agent is available on one node; the visitor starts a chat on the
	// node that runs the tenant; the agent takes it (then reconnects as
	// the client below, and finds it still theirs).
	a, _, err := fws.DefaultDialer.Dial(strings.Replace(c.url(others[0]), "http", "ws", 1)+"/ws/agent", agentHdr(""))
	if err != nil {
		t.Fatal(err)
	}
	a.WriteJSON(map[string]any{"type": "hello", "id": "h", "status": "available"})
	if _, err := readAnswer(a, "hello_ok", "h"); err != nil {
		t.Fatal(err)
	}
	vc, conv, token := startVisitorFrom(t, c.url(owner), c.public, "cluster-visitor")
	vc.Close()
	a.WriteJSON(map[string]any{"type": "assign", "id": "take", "conversation": conv})
	if _, err := readAnswer(a, "assign_ok", "take"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	visitor := newChatter(t, "visitor", "/ws/visitor?site=demo", urls(owner), origin)
	visitor.open = func(s *fws.Conn, last int64) error {
		s.WriteJSON(map[string]any{"type": "resume", "id": "r", "token": token, "after": last})
		_, err := readAnswer(s, "resume_ok", "r")
		return err
	}
	visitor.send = func(id, text string, resend bool) map[string]any {
		return map[string]any{"type": "send", "id": id, "client_id": id, "text": text, "resend": resend}
	}
	agentSend := func(id, text string, resend bool) map[string]any {
		return map[string]any{"type": "send", "id": id, "conversation": conv, "client_id": id, "text": text, "resend": resend}
	}
	agent := newChatter(t, "agent", "/ws/agent", urls(others[0]), agentHdr)
	agent.open = func(s *fws.Conn, _ int64) error {
		s.WriteJSON(map[string]any{"type": "hello", "id": "h", "status": "available"})
		hello, err := readAnswer(s, "hello_ok", "h")
		if err != nil {
			return err
		}
		// After a reconnect the chat is still the agent's.
		state := hello["data"].(map[string]any)["state"].(map[string]any)
		for _, v := range state["chats"].([]any) {
			if v.(map[string]any)["id"] == conv {
				return nil
			}
		}
		agent.mu.Lock()
		agent.failures = append(agent.failures, fmt.Sprintf("the chat is not the agent's after a reconnect: %v", state))
		agent.mu.Unlock()
		return nil
	}
	agent.send = agentSend
	supervisor := newChatter(t, "supervisor", "/ws/agent", urls(others[1]), session(others[1], "supervisor@acme.test", "password-supervisor"))
	supervisor.open = func(s *fws.Conn, _ int64) error {
		s.WriteJSON(map[string]any{"type": "hello", "id": "h"})
		if _, err := readAnswer(s, "hello_ok", "h"); err != nil {
			return err
		}
		s.WriteJSON(map[string]any{"type": "monitor", "id": "m", "conversation": conv})
		if _, err := readAnswer(s, "monitor_ok", "m"); err != nil && !strings.Contains(err.Error(), "Already in the chat") {
			return err
		}
		return nil
	}
	supervisor.send = agentSend // a monitoring supervisor's send is a whisper to the agent
	chatters := []*chatter{visitor, agent, supervisor}

	for _, ch := range chatters {
		go ch.run()
	}
	defer func() {
		for _, ch := range chatters {
			select {
			case <-ch.stop:
			default:
				ch.halt()
			}
		}
	}()
	for _, ch := range chatters {
		ch.mu.Lock()
		ch.sending = true
		ch.mu.Unlock()
	}
	opened := func() []int {
		var out []int
		for _, ch := range chatters {
			o, _ := ch.counts()
			out = append(out, o)
		}
		return out
	}
	// progress waits until every chatter has n more messages acknowledged
	// and the live events flow again.
	progress := func(what string, n int) {
		t.Helper()
		var base []int
		var evs []int
		for _, ch := range chatters {
			base = append(base, ch.acks())
			_, e := ch.counts()
			evs = append(evs, e)
		}
		defer func() {
			if t.Failed() {
				for _, ch := range chatters {
					t.Log(ch)
				}
			}
		}()
		took := waitFor(t, what, 2*time.Minute, func() bool {
			for i, ch := range chatters {
				if _, e := ch.counts(); ch.acks() < base[i]+n || e <= evs[i] {
					return false
				}
			}
			return true
		})
		t.Logf("%s: %d more acknowledged each in %.1f s; sockets opened: %v", what, n, took.Seconds(), opened())
	}
	progress("the chat under way", 20)

	// 1. SIGKILL the node that runs the tenant.
	killed := time.Now()
	c.nodes[owner].cmd.Process.Signal(syscall.SIGKILL)
	c.nodes[owner].cmd.Wait()
	var next int
	waitFor(t, "another node takes the tenant over", takeoverBound, func() bool {
		next = c.runner(tenant)
		return next >= 0 && next != owner
	})
	t.Logf("node %d killed; node %d runs the tenant %.1f s later", owner, next, time.Since(killed).Seconds())
	progress("the chat after the takeover", 20)
	// Every socket opened again: the one on the killed node, and those
	// relayed to it (closed 1012 when the tenant moved).
	for _, ch := range chatters {
		if o, _ := ch.counts(); o < 2 {
			t.Fatalf("the %s's socket did not open again", ch.name)
		}
	}

	// 2. The killed node comes back; the tenant may move to it.
	c.start(owner)
	waitFor(t, "every node sees three", time.Minute, func() bool {
		for i := range 3 {
			if code, cl := c.readyz(i); code != 200 || cl["nodes"] != 3.0 {
				return false
			}
		}
		return true
	})
	progress("the chat with the node back", 20)

	// 3. NATS restarts: the relayed sockets close (frames may have been
	// lost) and come back.
	// Each client connects to a node that relays it first.
	runs := c.runner(tenant)
	before := opened()
	for i, ch := range chatters {
		ch.moveTo(c.url((runs + 1 + i%2) % 3))
	}
	progress("the chat relayed", 5)
	after := opened()
	for i, ch := range chatters {
		ch.mu.Lock()
		on := ch.on
		ch.mu.Unlock()
		if after[i] == before[i] || on == c.url(runs) {
			t.Fatalf("the %s did not move to a relaying node", ch.name)
		}
	}
	if err := c.nats.Restart(); err != nil {
		t.Fatal(err)
	}
	progress("the chat after NATS restarted", 20)
	for i, ch := range chatters {
		if opened()[i] == after[i] {
			t.Errorf("the %s's relayed socket stayed open across the NATS restart", ch.name)
		}
	}

	// 4. PostgreSQL goes away: every node says so and refuses writes; it
	// comes back and they carry on by themselves.
	cookie, csrf := demoSession(t, c.url(0))
	// It stays away longer than a lease: every node lets the tenant go.
	c.pg.Down()
	waitFor(t, "every node's /readyz red, running nothing", time.Minute, func() bool {
		for i := range 3 {
			if code, cl := c.readyz(i); code != 503 || cl["running"] != 0.0 {
				return false
			}
		}
		return true
	})
	for i := range 3 {
		res := apiCall(t, c.url(i), "POST", "/api/canned", cookie, csrf, `{"shortcut":"later","text":"Thanks for waiting."}`)
		if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(body(res), "database_unavailable") {
			t.Fatalf("node %d: a write while PostgreSQL is down: %d %s", i, res.StatusCode, body(res))
		}
	}
	if err := c.pg.Up(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every node's /readyz green", time.Minute, func() bool {
		for i := range 3 {
			if code, _ := c.readyz(i); code != 200 {
				return false
			}
		}
		return true
	})
	progress("the chat after PostgreSQL restarted", 20)
	if res := apiCall(t, c.url(1), "GET", "/api/canned", cookie, csrf, ""); res.StatusCode != 200 || strings.Contains(body(res), "later") {
		t.Fatalf("the refused write: %d %s", res.StatusCode, body(res))
	}

	// The burst ends; everything sent gets acknowledged.
	for _, ch := range chatters {
		ch.mu.Lock()
		ch.sending = false
		ch.mu.Unlock()
	}
	waitFor(t, "every message acknowledged", 2*time.Minute, func() bool {
		for _, ch := range chatters {
			if ch.unacked() > 0 {
				return false
			}
		}
		return true
	})
	for _, ch := range chatters {
		ch.halt()
	}
	// Read back once the tenant has settled (after PostgreSQL's restart it
	// may still move between nodes, and these reads do not reconnect).
	c.settled(tenant)
	checkTranscript(t, c, conv, token, chatters)

	// The chat load generator spreads its visitors and bots over the nodes
	// and loses nothing through the relays (it does not reconnect either).
	c.settled(tenant)
	var out, errOut strings.Builder
	t.Setenv("NUDGE_LOADGEN_PASSWORD", "demo-password")
	t.Setenv("NUDGE_METRICS_TOKEN", "cluster-metrics-token")
	if code := run([]string{"loadgen", "chat", "--url", c.url(0), "--origin", c.public, "--nodes", strings.Join([]string{c.url(0), c.url(1), c.url(2)}, ","),
		"--conversations", "6", "--per-agent", "2", "--interval", "100ms", "--duration", "2s"}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), " 0 lost") || strings.Contains(out.String(), " 0 delivered") || !strings.Contains(out.String(), "(3 node(s) in all)") {
		t.Fatalf("loadgen chat across the nodes: %d\n%s\n%s", code, out.String(), errOut.String())
	}
}

// checkTranscript reads the conversation as the supervisor and as the
// visitor and checks it against what the chatters sent and were told.
func checkTranscript(t *testing.T, c *rig, conv, token string, chatters []*chatter) {
	t.Helper()
	for _, ch := range chatters {
		for _, f := range ch.failures {
			t.Errorf("%s: %s", ch.name, f)
		}
	}
	type stored struct {
		Seq      int64
		ClientID string `json:"client_id"`
		Text     string
	}
	var all []stored
	// The supervisor's view has every message (whispers too).
	res, err := drained(http.Post(c.url(0)+"/api/auth/login", "application/json", strings.NewReader(`{"email":"supervisor@acme.test","password":"password-supervisor"}`)))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login: %v %v", res, err)
	}
	s, _, err := fws.DefaultDialer.Dial(strings.Replace(c.url(0), "http", "ws", 1)+"/ws/agent",
		http.Header{"Origin": {c.public}, "Cookie": {strings.Split(res.Header.Get("Set-Cookie"), ";")[0]}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.WriteJSON(map[string]any{"type": "hello", "id": "h"})
	if _, err := readAnswer(s, "hello_ok", "h"); err != nil {
		t.Fatal(err)
	}
	for after := int64(0); ; {
		s.WriteJSON(map[string]any{"type": "history", "id": "hist", "conversation": conv, "after": after, "limit": 100})
		m, err := readAnswer(s, "history_ok", "hist")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(m["data"].(map[string]any)["messages"])
		var page []stored
		json.Unmarshal(b, &page)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
	// Seqs increase; a seq given to a message whose commit then failed
	// (the database away) is not given again, so there may be gaps.
	byClient := map[string]stored{}
	var gaps []int64
	for i, m := range all {
		if i > 0 && m.Seq <= all[i-1].Seq {
			t.Fatalf("seq %d after %d", m.Seq, all[i-1].Seq)
		}
		for g := int64(len(gaps) + i + 1); g < m.Seq; g++ {
			gaps = append(gaps, g)
		}
		if m.ClientID == "" {
			continue
		}
		if _, twice := byClient[m.ClientID]; twice {
			t.Errorf("client id %s stored twice", m.ClientID)
		}
		byClient[m.ClientID] = m
	}
	total, refused := 0, 0
	for _, ch := range chatters {
		last := int64(0)
		for _, o := range ch.msgs {
			total++
			m, ok := byClient[o.id]
			switch {
			case !ok:
				t.Errorf("%s's message %s is missing", ch.name, o.id)
				continue
			case m.Seq != o.seq || m.Text != o.text:
				t.Errorf("%s's message %s acknowledged as seq %d, stored as %d %q", ch.name, o.id, o.seq, m.Seq, m.Text)
			}
			// A connection's sends are stored in the order sent; a refused
			// send takes its place when it is sent again.
			if o.refused {
				refused++
				continue
			}
			if m.Seq < last {
				t.Errorf("%s's message %s (seq %d) stored before an earlier one (seq %d)", ch.name, o.id, m.Seq, last)
			}
			last = m.Seq
		}
	}
	// The visitor's page, resumed from the start, shows the same
	// conversation without the whispers.
	v, _, err := fws.DefaultDialer.Dial(strings.Replace(c.url(1), "http", "ws", 1)+"/ws/visitor?site=demo", http.Header{"Origin": {c.public}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.WriteJSON(map[string]any{"type": "resume", "id": "r", "token": token})
	m, err := readAnswer(v, "resume_ok", "r")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m["data"].(map[string]any)["messages"])
	var seen []stored
	json.Unmarshal(b, &seen)
	var want []stored
	for _, m := range all {
		if !strings.HasPrefix(m.ClientID, "supervisor-") {
			want = append(want, m)
		}
	}
	if !slices.EqualFunc(seen, want, func(a, b stored) bool { return a.Seq == b.Seq && a.ClientID == b.ClientID && a.Text == b.Text }) {
		t.Errorf("the visitor sees %d messages, the conversation has %d without the whispers", len(seen), len(want))
	}
	t.Logf("%d messages sent by three chatters (%d refused once and sent again), %d in the conversation; seqs not used: %v", total, refused, len(all), gaps)
}

// apiCall makes a console call with a session on the node at url.
func apiCall(t *testing.T, url, method, path, cookie, csrf, payload string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url+path, strings.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", url)
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Cookie", cookie)
	res, err := drained(http.DefaultClient.Do(req))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res
}

func body(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	res.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}
