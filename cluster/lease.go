// Package cluster is what lets several nudge processes share one PostgreSQL
// database: which node runs each tenant's chat engine, under a lease.
//
// A tenant's engine (queues, presence, routing, timers) lives in one
// process at a time. Each node heartbeats into the database and holds its
// tenants under leases kept in the database's clock (store.AcquireLease):
// a lease lasts TTL and is renewed every Every; a node that cannot renew
// stops counting itself the owner before the database would let another
// node take over, because it times its lease from before it asked. The
// tenants are spread by rendezvous hashing over the live nodes, so that a
// node joining or leaving moves only its share; a node that stops cleanly
// gives its tenants up at once, one that dies loses them when their leases
// expire. Each change of owner raises the tenant's epoch, a fencing token.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nudgehq/nudge/store"
)

// Options shape a Leaser.
type Options struct {
	Store *store.Store
	Node  string // this process's id; empty: a new random one
	Addr  string // how other nodes reach this one (informational)
	// TTL is how long a lease lasts unrenewed: a dead node's tenants wait
	// this long for a new owner. Every is how often the leases are renewed
	// and the tenants looked over (default TTL/5).
	TTL, Every time.Duration
	// OnAcquire runs when this node becomes a tenant's owner (build its
	// engine's state from the store), OnRelease when it stops being one
	// (drop it): both from the Leaser's one goroutine, in order.
	OnAcquire func(ctx context.Context, tenant string, epoch int64)
	OnRelease func(tenant string)
	Logger    *slog.Logger
	// Jobs are more keys leased as tenants are: work that runs on one
	// node of the cluster at a time (housekeeping). They come and go
	// without OnAcquire and OnRelease; Owns tells.
	Jobs []string
}

// Leaser keeps this node's share of the tenants.
type Leaser struct {
	o Options

	round sync.Mutex // one round at a time

	mu    sync.Mutex
	owned map[string]held // tenant → this node's lease
	nodes int             // live nodes at the last round

	stop, stopped chan struct{}
	once          sync.Once
	started       atomic.Bool

	renewed atomic.Int64 // when the leases were last renewed (Unix ns; 0: never)
	changes atomic.Int64 // leases taken and given up (or lost)
	rounds  int          // Round's count, under round
}

// forgetEvery is how many rounds pass between two sweeps of the nodes gone
// for an hour (each start of a process is a new node).
const forgetEvery = 600

// Stats are a Leaser's figures, for /metrics and /readyz.
type Stats struct {
	Owned      int           // tenants and jobs this node holds now
	Nodes      int           // live nodes at the last round
	Changes    int64         // leases taken and given up or lost, since the start
	SinceRenew time.Duration // since the leases were last renewed; -1: never
}

// Stats returns the figures now.
func (l *Leaser) Stats() Stats {
	s := Stats{Owned: len(l.Owned()), Changes: l.changes.Load(), SinceRenew: -1}
	l.mu.Lock()
	s.Nodes = l.nodes
	l.mu.Unlock()
	if r := l.renewed.Load(); r != 0 {
		s.SinceRenew = time.Since(time.Unix(0, r))
	}
	return s
}

// Healthy tells whether the leases are being renewed: a node that could
// not renew them for a lease's time holds none any more.
func (l *Leaser) Healthy() error {
	r := l.renewed.Load()
	if r == 0 {
		return errors.New("cluster: the leases were never renewed")
	}
	if d := time.Since(time.Unix(0, r)); d > l.o.TTL {
		return fmt.Errorf("cluster: the leases were last renewed %s ago", d.Round(time.Millisecond))
	}
	return nil
}

type held struct {
	epoch int64
	until time.Time // the local deadline: the lease's time counted from before it was asked for
}

// NewNodeID returns a random node id.
func NewNodeID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NewLeaser returns a Leaser; Start runs it.
func NewLeaser(o Options) *Leaser {
	if o.Node == "" {
		o.Node = NewNodeID()
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Second
	}
	if o.Every <= 0 {
		o.Every = o.TTL / 5
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OnAcquire == nil {
		o.OnAcquire = func(context.Context, string, int64) {}
	}
	if o.OnRelease == nil {
		o.OnRelease = func(string) {}
	}
	return &Leaser{o: o, owned: map[string]held{}, stop: make(chan struct{}), stopped: make(chan struct{})}
}

// Node is this node's id.
func (l *Leaser) Node() string { return l.o.Node }

// Owns reports whether this node runs the tenant's engine now, and under
// which epoch.
func (l *Leaser) Owns(tenant string) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.owned[tenant]
	if !ok || !time.Now().Before(h.until) {
		return 0, false
	}
	return h.epoch, true
}

// Owned lists the tenants this node runs now.
func (l *Leaser) Owned() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var out []string
	for t, h := range l.owned {
		if now.Before(h.until) {
			out = append(out, t)
		}
	}
	return out
}

// Start runs the rounds until Stop.
func (l *Leaser) Start(ctx context.Context) {
	l.started.Store(true)
	go l.run(ctx)
}

func (l *Leaser) run(ctx context.Context) {
	defer close(l.stopped)
	t := time.NewTicker(l.o.Every)
	defer t.Stop()
	for {
		l.Round(ctx)
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stop ends the rounds. A clean stop (release) gives every lease up and
// forgets the node, so that the others take its tenants at once; without
// it the leases run out by themselves (what a crash leaves).
func (l *Leaser) Stop(ctx context.Context, release bool) {
	l.once.Do(func() { close(l.stop) })
	if l.started.Load() {
		<-l.stopped
	}
	l.mu.Lock()
	tenants := make([]string, 0, len(l.owned))
	for t := range l.owned {
		tenants = append(tenants, t)
	}
	l.owned = map[string]held{}
	l.mu.Unlock()
	for _, t := range tenants {
		if !l.isJob(t) {
			l.o.OnRelease(t)
		}
	}
	if release {
		if err := l.o.Store.RemoveNode(ctx, l.o.Node); err != nil {
			l.o.Logger.Warn("cluster: give up the leases", "err", err)
		}
	}
}

// Round does one round: heartbeat, renew, then take the tenants this node
// should run and give up those another live node should.
func (l *Leaser) Round(ctx context.Context) {
	l.round.Lock()
	defer l.round.Unlock()
	st := l.o.Store
	asked := time.Now()
	if err := st.HeartbeatNode(ctx, l.o.Node, l.o.Addr, false); err != nil {
		l.o.Logger.Warn("cluster: heartbeat", "err", err)
	}
	renewed, err := st.RenewLeases(ctx, l.o.Node, l.o.TTL)
	if err != nil {
		l.o.Logger.Warn("cluster: renew leases", "err", err)
		l.expire()
		return
	}
	l.renewed.Store(asked.UnixNano())
	l.mu.Lock()
	var lost []string
	for t := range l.owned {
		if e, ok := renewed[t]; ok && e == l.owned[t].epoch {
			l.owned[t] = held{epoch: e, until: asked.Add(l.o.TTL)}
		} else {
			lost = append(lost, t)
			delete(l.owned, t)
		}
	}
	l.mu.Unlock()
	l.changes.Add(int64(len(lost)))
	for _, t := range lost {
		l.o.Logger.Warn("cluster: a lease was lost", "key", t)
		if !l.isJob(t) {
			l.o.OnRelease(t)
		}
	}
	if l.rounds++; l.rounds%forgetEvery == 1 {
		if err := st.ForgetNodes(ctx, time.Hour); err != nil {
			l.o.Logger.Warn("cluster: forget the nodes gone", "err", err)
		}
	}
	nodes, err := st.LiveNodes(ctx, l.o.TTL)
	if err != nil {
		l.o.Logger.Warn("cluster: live nodes", "err", err)
		return
	}
	tenants, err := st.Tenants(ctx)
	if err != nil {
		l.o.Logger.Warn("cluster: tenants", "err", err)
		return
	}
	l.mu.Lock()
	l.nodes = len(nodes)
	l.mu.Unlock()
	keys := make([]string, 0, len(tenants)+len(l.o.Jobs))
	for _, tn := range tenants {
		keys = append(keys, tn.ID)
	}
	keys = append(keys, l.o.Jobs...)
	for _, key := range keys {
		want := Owner(key, nodes)
		_, mine := l.Owns(key)
		switch {
		case want == l.o.Node && !mine:
			l.acquire(ctx, key, 0)
		case want != l.o.Node && want != "" && mine:
			// Another live node should run it: hand it over.
			l.release(ctx, key)
		case want != l.o.Node && !mine:
			// A key whose owner has been gone a whole TTL (its
			// preferred node is not taking it) goes to whoever can.
			l.acquire(ctx, key, l.o.TTL)
		}
	}
}

func (l *Leaser) isJob(key string) bool { return slices.Contains(l.o.Jobs, key) }

func (l *Leaser) acquire(ctx context.Context, tenant string, freeFor time.Duration) {
	asked := time.Now()
	epoch, ok, err := l.o.Store.AcquireLease(ctx, tenant, l.o.Node, l.o.TTL, freeFor)
	if err != nil {
		l.o.Logger.Warn("cluster: acquire a lease", "tenant", tenant, "err", err)
		return
	}
	if !ok {
		return
	}
	l.mu.Lock()
	l.owned[tenant] = held{epoch: epoch, until: asked.Add(l.o.TTL)}
	l.mu.Unlock()
	l.changes.Add(1)
	if !l.isJob(tenant) {
		l.o.OnAcquire(ctx, tenant, epoch)
	}
}

func (l *Leaser) release(ctx context.Context, tenant string) {
	l.mu.Lock()
	delete(l.owned, tenant)
	l.mu.Unlock()
	l.changes.Add(1)
	if !l.isJob(tenant) {
		l.o.OnRelease(tenant)
	}
	if err := l.o.Store.ReleaseLease(ctx, tenant, l.o.Node); err != nil {
		l.o.Logger.Warn("cluster: release a lease", "tenant", tenant, "err", err)
	}
}

// expire drops the leases whose local deadline passed (the database could
// not be asked to renew them).
func (l *Leaser) expire() {
	now := time.Now()
	l.mu.Lock()
	var lost []string
	for t, h := range l.owned {
		if !now.Before(h.until) {
			lost = append(lost, t)
			delete(l.owned, t)
		}
	}
	l.mu.Unlock()
	l.changes.Add(int64(len(lost)))
	for _, t := range lost {
		l.o.Logger.Warn("cluster: a lease ran out unrenewed", "key", t)
		if !l.isJob(t) {
			l.o.OnRelease(t)
		}
	}
}

// Owner is the node that should run a tenant: the live node, not draining,
// with the highest hash of (node, tenant) (rendezvous hashing); "" when
// there is none.
func Owner(tenant string, nodes []store.ClusterNode) string {
	best, score := "", uint64(0)
	for _, n := range nodes {
		if n.Draining {
			continue
		}
		h := fnv.New64a()
		fmt.Fprint(h, n.ID, "\x00", tenant)
		if s := h.Sum64(); best == "" || s > score {
			best, score = n.ID, s
		}
	}
	return best
}
