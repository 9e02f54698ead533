package server

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/cluster"
	"github.com/nudgehq/nudge/internal/natstest"
	"github.com/nudgehq/nudge/internal/pgtest"
	"github.com/nudgehq/nudge/search/searchtest"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/store/storetest"
)

// clusterNodes starts n servers that share one PostgreSQL database, one
// NATS server, one Elasticsearch-API server and the master key: nodes of
// one cluster, their leases running.
func clusterNodes(t *testing.T, n int) []*harness {
	t.Helper()
	db := storetest.PostgresDatabase(t)
	nats := natstest.Shared(t)
	o := searchtest.Options(t)
	key := filepath.Join(t.TempDir(), "master.key")
	var hs []*harness
	for range n {
		h := newHarness(t, func(c *Config) {
			c.DatabaseURL, c.NATSURL, c.MasterKeyFile = db, nats.URL, key
			c.SearchURL, c.SearchUsername, c.SearchPassword, c.SearchAPIKey, c.SearchPrefix = o.URL, o.Username, o.Password, o.APIKey, o.Prefix
		})
		hs = append(hs, h)
	}
	for _, h := range hs {
		h.srv.ops.Start()
	}
	return hs
}

// runner waits until the tenant runs on the node the leases give it among
// all the nodes (the first to start may run it for a moment before the
// others are seen) and returns that node.
func runner(t *testing.T, nodes []*harness, tenant string) (run *harness, others []*harness) {
	t.Helper()
	var live []store.ClusterNode
	for _, h := range nodes {
		live = append(live, store.ClusterNode{ID: h.srv.ops.Node()})
	}
	want := cluster.Owner(tenant, live)
	deadline := time.Now().Add(30 * time.Second)
	for {
		for i, h := range nodes {
			if h.srv.ops.Node() == want && h.srv.ops.RunsTenant(tenant) {
				for j, o := range nodes {
					if j != i {
						others = append(others, o)
					}
				}
				return h, others
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no node runs the tenant")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A visitor on one node and an agent on the node that runs the tenant chat
// as on a single node: the visitor's socket is relayed. When the running
// node stops, the other takes the tenant over; the relayed socket closes
// 1012, and both sides connect again to the node left and go on from where
// they were, nothing acknowledged lost.
func TestClusterRelaysSocketsToTheTenantsNode(t *testing.T) {
	nodes := clusterNodes(t, 2)
	first := newChatFixture(nodes[0], "Acme")
	waitRoles(t, nodes, first)
	run, others := runner(t, nodes, first.tn.ID)
	other := others[0]
	on := func(h *harness) *chatFixture { f := *first; f.h = h; return &f }

	agent, _ := on(run).agent("agent")
	visitor, start := on(other).visitor("", 0) // relayed to run
	conv := start["conversation"].(map[string]any)["id"].(string)
	token := start["token"].(string)
	agent.accept(conv)
	visitor.send(map[string]any{"type": "send", "id": "v1", "client_id": "c-v1", "text": "hello through the relay"})
	ack := visitor.until("ack", typed("ack", "v1"))
	seq := ack["data"].(map[string]any)["seq"].(float64)
	if got := agent.until("the visitor's message", func(m map[string]any) bool { return messageText(m) == "hello through the relay" }); got == nil {
		t.Fatal("no message")
	}
	agent.send(map[string]any{"type": "send", "id": "a1", "conversation": conv, "client_id": "c-a1", "text": "hello back"})
	agent.until("ack", typed("ack", "a1"))
	visitor.until("the agent's answer", func(m map[string]any) bool { return messageText(m) == "hello back" })

	// What needs the tenant's chats in memory answers on the other node
	// too: the page's availability, the supervisor's board, the dispositions.
	res := other.do(pageRequest("GET", "/availability/"+first.site.Key, shopOrigin, ""))
	if res.Status != 200 {
		t.Fatalf("availability on the other node: %d %s", res.Status, res.Body)
	}
	if q := res.json(t)["queues"].(map[string]any)["sales"].(map[string]any); q["agents_available"].(float64) != 1 {
		t.Fatalf("availability on the other node: %v", q)
	}
	sup := other.login(first.users["supervisor"].Email, "password-supervisor")
	live := sup.call("GET", "/api/chat/live", nil)
	if live.Status != 200 || !strings.Contains(string(live.Body), conv) {
		t.Fatalf("the live board on the other node: %d %s", live.Status, live.Body)
	}
	if res := sup.call("GET", "/api/chat/dispositions", nil); res.Status != 200 {
		t.Fatalf("dispositions on the other node: %d %s", res.Status, res.Body)
	}
	// Each node says it is on the bus and renewing its leases; between
	// them, once both have seen the other, they run the tenant and the
	// housekeeping, once each.
	for wait := time.Now().Add(30 * time.Second); ; {
		running, housekeepers, seen := 0.0, 0, 0
		for _, h := range nodes {
			res := h.do(httptest.NewRequest("GET", "/readyz", nil))
			cl, _ := res.json(t)["cluster"].(map[string]any)
			if res.Status != 200 || cl["bus"] != true || cl["leases"] != true {
				t.Fatalf("readyz: %d %s", res.Status, res.Body)
			}
			running += cl["running"].(float64)
			if cl["housekeeping"] == true {
				housekeepers++
			}
			if cl["nodes"].(float64) == 2 {
				seen++
			}
		}
		if running == 2 && housekeepers == 1 && seen == 2 {
			break
		}
		if time.Now().After(wait) {
			t.Fatalf("the nodes run %v keys, %d do the housekeeping, %d see both; want 2 (the tenant, the housekeeping), 1, 2", running, housekeepers, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, h := range nodes {
		rec := httptest.NewRecorder()
		h.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for _, m := range []string{"nudge_cluster_running", "nudge_cluster_lease_changes_total", "nudge_cluster_bus_up 1", "nudge_cluster_leases_up 1", "nudge_cluster_bus_rtt_seconds"} {
			if !strings.Contains(rec.Body.String(), m) {
				t.Fatalf("no %s in the metrics", m)
			}
		}
	}

	// The running node stops (cleanly): the other runs the tenant at once.
	run.srv.Close()
	if code := visitor.closeCode(); code != 1012 {
		t.Fatalf("the relayed visitor socket closed %d; want 1012", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !other.srv.ops.RunsTenant(first.tn.ID) {
		if time.Now().After(deadline) {
			t.Fatal("the node left did not take the tenant over")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Both come back to the node left: the visitor resumes after its
	// message, the agent finds the chat.
	visitor2, resumed := on(other).visitor(token, int64(seq))
	if resumed["conversation"].(map[string]any)["id"] != conv {
		t.Fatalf("resumed %v", resumed)
	}
	_, hello := on(other).agent("agent")
	chats, _ := hello["state"].(map[string]any)["chats"].([]any)
	if len(chats) != 1 || chats[0].(map[string]any)["id"] != conv {
		t.Fatalf("the agent's chats on the node left: %v", hello["state"])
	}
	// A resend of the visitor's first message (its client id) is not stored twice.
	visitor2.send(map[string]any{"type": "send", "id": "v1", "client_id": "c-v1", "text": "hello through the relay", "resend": true})
	again := visitor2.until("ack", typed("ack", "v1"))
	if again["data"].(map[string]any)["seq"].(float64) != seq {
		t.Fatalf("the resend was stored again: %v", again)
	}
	ctx := context.Background()
	ms, err := other.st.Messages(ctx, first.tn.ID, conv, 0, 100, false)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, m := range ms {
		if m.ClientID == "c-v1" {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("the visitor's message is stored %d times", count)
	}
}

// While PostgreSQL is down a node answers writes 503 (nothing changed, try
// again) and /readyz goes red; once it is back, both recover by themselves.
func TestPostgresOutage(t *testing.T) {
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	db := pg.Database(t)
	storetest.Register(db)
	h := newHarness(t, func(c *Config) { c.DatabaseURL = db })
	f := newChatFixture(h, "Acme")
	admin := h.login(f.users["admin"].Email, "password-admin")
	canned := func(shortcut string) response {
		return admin.call("POST", "/api/canned", map[string]any{"shortcut": shortcut, "text": "Thanks for waiting."})
	}
	if res := canned("thanks"); res.Status != 201 {
		t.Fatalf("before: %d %s", res.Status, res.Body)
	}
	// An agent's console socket, its session looked at on every command.
	h.srv.socks.sessionCheck = 0
	w, _ := f.agent("agent")
	pg.Down()
	// The database away ends nobody's session.
	w.send(map[string]any{"type": "ping", "id": "p1"})
	if m := w.until("the ping", func(m map[string]any) bool { return m["id"] == "p1" }); m["type"] != "ping_ok" {
		t.Fatalf("a console socket's command while PostgreSQL is down: %v", m)
	}
	res := canned("later")
	if res.Status != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(string(res.Body), "database_unavailable") {
		t.Fatalf("a write while PostgreSQL is down: %d %s", res.Status, res.Body)
	}
	if res := h.do(httptest.NewRequest("GET", "/readyz", nil)); res.Status != 503 {
		t.Fatalf("readyz while PostgreSQL is down: %d %s", res.Status, res.Body)
	}
	if err := pg.Up(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if res := h.do(httptest.NewRequest("GET", "/readyz", nil)); res.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("readyz stayed red after PostgreSQL came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res := canned("later"); res.Status != 201 {
		t.Fatalf("after: %d %s", res.Status, res.Body)
	}
	w.send(map[string]any{"type": "ping", "id": "p2"})
	w.until("the socket still there", typed("ping_ok", "p2"))
}

// When the node lets a tenant go, its own sockets of that tenant (not
// relayed) close with 1012 too, and the clients find their chat again once
// it runs (here, adopted again).
func TestSocketsCloseWhenTheirTenantLeaves(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	agent, visitor, conv := f.acceptedChat()
	h.srv.ops.Chat.Release(f.tn.ID)
	if code := agent.closeCode(); code != 1012 {
		t.Fatalf("the agent's socket closed %d; want 1012", code)
	}
	if code := visitor.closeCode(); code != 1012 {
		t.Fatalf("the visitor's socket closed %d; want 1012", code)
	}
	if err := h.srv.ops.Chat.Adopt(context.Background(), f.tn.ID); err != nil {
		t.Fatal(err)
	}
	_, hello := f.agent("agent")
	chats, _ := hello["state"].(map[string]any)["chats"].([]any)
	if len(chats) != 1 || chats[0].(map[string]any)["id"] != conv {
		t.Fatalf("the agent's chats after the tenant came back: %v", hello["state"])
	}
}

// Pushed offers and agents' invitations wait on the node that runs the
// tenant: a page polling another node is seen there and gets them, a push
// or an invitation made on another node reaches them, each once, and the
// live visitors list on another node says who can be invited.
func TestClusterPushesReachPagesOnAnyNode(t *testing.T) {
	nodes := clusterNodes(t, 2)
	f := newChatFixture(nodes[0], "Acme")
	site, err := nodes[0].st.UpdateSite(context.Background(), store.System, f.tn.ID, f.site.ID, func(s *store.Site) error {
		s.Settings.PushOffers = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	nodes[0].srv.ops.Forget(site.Key)
	waitRoles(t, nodes, f)
	run, others := runner(t, nodes, f.tn.ID)
	other := others[0] // the page polls the node that does not run the tenant
	poll := func() response {
		t.Helper()
		return other.do(pageRequest("GET", "/offers/"+site.Key+"?visitor=v1", shopOrigin, ""))
	}
	marketer := run.login(f.users["marketer"].Email, "password-marketer")
	offer := map[string]any{"queue": "Sales", "text": "Your order is ready: questions?"}
	push := func() response {
		return marketer.call("POST", "/api/sites/"+site.Key+"/visitors/v1/offers", offer)
	}
	if res := push(); res.Status != 409 {
		t.Fatalf("a push before the visitor polled: %d %s", res.Status, res.Body)
	}
	if res := poll(); res.Status != 204 {
		t.Fatalf("the first poll: %d %s", res.Status, res.Body)
	}
	if res := push(); res.Status != 202 {
		t.Fatalf("a push once the visitor polled another node: %d %s", res.Status, res.Body)
	}
	if res := poll(); res.Status != 200 || !strings.Contains(string(res.Body), "Your order is ready") {
		t.Fatalf("the poll after the push: %d %s", res.Status, res.Body)
	}
	if res := poll(); res.Status != 204 {
		t.Fatalf("an offer delivered twice: %d %s", res.Status, res.Body)
	}

	// An agent sees the visitor invitable on the other node, and invites
	// them from either.
	other.do(pageRequest("POST", "/collect", shopOrigin, batch(site.Key, "v1", "s1", pageview("/pricing"))))
	agent := other.login(f.users["agent"].Email, "password-agent")
	for deadline := time.Now().Add(30 * time.Second); ; {
		res := agent.call("GET", "/api/sites/"+site.ID+"/visitors/now", nil)
		if res.Status != 200 {
			t.Fatalf("visitors now: %d %s", res.Status, res.Body)
		}
		if strings.Contains(string(res.Body), `"invitable":true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the visitor polling another node is not invitable: %s", res.Body)
		}
		poll()
		time.Sleep(20 * time.Millisecond)
	}
	for _, from := range []*harness{other, run} {
		a := from.login(f.users["agent"].Email, "password-agent")
		if res := a.call("POST", "/api/sites/"+site.ID+"/visitors/v1/invite", map[string]any{"text": "Can I help?", "queue": "Sales"}); res.Status >= 300 {
			t.Fatalf("invite: %d %s", res.Status, res.Body)
		}
		if res := poll(); res.Status != 200 || !strings.Contains(string(res.Body), "Can I help?") || !strings.Contains(string(res.Body), `"invitation"`) {
			t.Fatalf("the invitation's poll: %d %s", res.Status, res.Body)
		}
	}
}

// waitRoles waits until the roles made on the first node reach the others
// (over the bus: they poll only every 30 s).
func waitRoles(t *testing.T, nodes []*harness, f *chatFixture) {
	t.Helper()
	for _, h := range nodes[1:] {
		for deadline := time.Now().Add(15 * time.Second); h.srv.ops.Auth.Enforcer.Role(auth.UserSubject(f.users["supervisor"].ID), f.tn.ID) == ""; {
			if time.Now().After(deadline) {
				t.Fatal("the roles made on one node did not reach the other")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
