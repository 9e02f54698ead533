package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nudgehq/nudge/internal/natstest"
	"github.com/nudgehq/nudge/internal/pgtest"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m, natstest.Stop)) }

// Leases are the cluster's, so they are tested on PostgreSQL whatever the pass.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), pgtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A short lease, so that a dead node's tenants move within the test.
const (
	testTTL   = 800 * time.Millisecond
	testEvery = 100 * time.Millisecond
)

// node is a Leaser with what its callbacks saw.
type node struct {
	*Leaser
	mu       sync.Mutex
	acquired map[string]int64
	released int
}

func newNode(t *testing.T, st *store.Store) *node { return newNodeTTL(t, st, testTTL) }

func newNodeTTL(t *testing.T, st *store.Store, ttl time.Duration) *node {
	n := &node{acquired: map[string]int64{}}
	n.Leaser = NewLeaser(Options{Store: st, TTL: ttl, Every: testEvery, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnAcquire: func(_ context.Context, tenant string, epoch int64) {
			n.mu.Lock()
			defer n.mu.Unlock()
			if prev := n.acquired[tenant]; epoch <= prev {
				t.Errorf("node %s took %s at epoch %d after %d", n.Node(), tenant, epoch, prev)
			}
			n.acquired[tenant] = epoch
		},
		OnRelease: func(string) { n.mu.Lock(); n.released++; n.mu.Unlock() },
	})
	return n
}

// halt stops a node's rounds as a crash would: nothing is given up, and it
// keeps what it believed until its own deadlines pass.
func (l *Leaser) halt() {
	l.once.Do(func() { close(l.stop) })
	<-l.stopped
}

func tenants(t *testing.T, st *store.Store, n int) []string {
	var ids []string
	for i := range n {
		tn, err := st.CreateTenant(context.Background(), store.System, fmt.Sprint("T", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tn.ID)
	}
	return ids
}

// watch checks, until stop, that no tenant has two owners at any moment
// (by what each node believes), and reports how many samples it took.
func watch(t *testing.T, nodes func() []*node, ids []string, stop <-chan struct{}) <-chan int {
	done := make(chan int, 1)
	go func() {
		samples := 0
		for {
			select {
			case <-stop:
				done <- samples
				return
			default:
			}
			for _, id := range ids {
				var owners []string
				for _, n := range nodes() {
					if _, ok := n.Owns(id); ok {
						owners = append(owners, n.Node())
					}
				}
				if len(owners) > 1 {
					t.Errorf("tenant %s has two owners at once: %v", id, owners)
				}
			}
			samples++
			time.Sleep(time.Millisecond)
		}
	}()
	return done
}

// settled waits until every tenant is run by the node rendezvous hashing
// names among the running ones, and by no other.
func settled(t *testing.T, st *store.Store, running []*node, ids []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var live []store.ClusterNode
		for _, n := range running {
			live = append(live, store.ClusterNode{ID: n.Node()})
		}
		ok := true
		for _, id := range ids {
			want := Owner(id, live)
			for _, n := range running {
				if _, owns := n.Owns(id); owns != (n.Node() == want) {
					ok = false
				}
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			leases, _ := st.Leases(context.Background())
			t.Fatalf("the tenants did not settle on their nodes: %+v", leases)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Nodes start, stop cleanly, crash and come back in a random order: at no
// moment does a tenant have two owners, and once the nodes settle every
// tenant is run by the one rendezvous hashing names among those running.
func TestLeasesNeverGiveATenantTwoOwners(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	ids := tenants(t, st, 12)
	var mu sync.Mutex
	var all, running []*node
	snapshot := func() []*node { mu.Lock(); defer mu.Unlock(); return append([]*node(nil), all...) }
	stop := make(chan struct{})
	samples := watch(t, snapshot, ids, stop)
	start := func() {
		n := newNode(t, st)
		n.Start(ctx)
		mu.Lock()
		all, running = append(all, n), append(running, n)
		mu.Unlock()
	}
	for range 3 {
		start()
	}
	settled(t, st, running, ids)
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	for step := range 8 {
		switch op := rng.IntN(3); {
		case op == 0 || len(running) < 2:
			start()
		default:
			i := rng.IntN(len(running))
			n := running[i]
			mu.Lock()
			running = append(running[:i:i], running[i+1:]...)
			mu.Unlock()
			if op == 1 {
				n.Stop(ctx, true) // a clean stop: its tenants move at once
			} else {
				n.halt() // a crash: they move when the leases run out
			}
		}
		settled(t, st, running, ids)
		t.Logf("step %d: %d nodes running", step, len(running))
	}
	close(stop)
	if n := <-samples; n < 10 {
		t.Errorf("only %d samples of the owners were taken", n)
	}
	for _, n := range running {
		n.Stop(ctx, true)
	}
	for _, n := range all {
		n.halt()
	}
}

// A node that stops cleanly hands its tenants over at once (well within a
// lease's time); a node that crashes keeps them until its leases expire,
// and no one takes them before.
func TestHandoverAfterAStopAndACrash(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	ids := tenants(t, st, 6)
	a, b := newNodeTTL(t, st, time.Hour), newNode(t, st) // a's leases outlast the test: its crash leaves them waiting
	a.Start(ctx)
	b.Start(ctx)
	settled(t, st, []*node{a, b}, ids)
	owned := a.Owned()
	if len(owned) == 0 || len(owned) == len(ids) {
		t.Fatalf("a runs %d of %d tenants", len(owned), len(ids))
	}
	a.halt()
	// b does not take a's tenants while their leases (an hour) last.
	for range 20 {
		b.Round(ctx)
	}
	for _, id := range owned {
		if _, ok := b.Owns(id); ok {
			t.Fatalf("b took %s while a's lease lasted", id)
		}
	}
	// a comes back (the same node) and stops cleanly: b takes them at once.
	a.Stop(ctx, true)
	b.Round(ctx)
	for _, id := range ids {
		if _, ok := b.Owns(id); !ok {
			t.Fatalf("b does not run %s after a stopped cleanly", id)
		}
	}
	b.halt()
}
