package ops

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nudgehq/nudge/cluster"
)

// clusterNode is this process's part in a cluster (Config.NATSURL): the bus
// to the other nodes and the leases of the tenants it runs. A single node
// has none and runs every tenant.
type clusterNode struct {
	bus    *cluster.Bus
	leaser *cluster.Leaser

	mu        sync.Mutex
	listeners []func(tenant string, runs bool)
	calls     map[string]func() // tenant → stop answering its calls
}

// What a node announces on the bus.
const (
	changedSite       = "site"        // a site's cached copy and page configuration (key)
	changedChatConfig = "chat-config" // a tenant's queues, agents or chat settings (tenant)
	changedMail       = "mail"        // a tenant's email settings (tenant)
	changedOwner      = "owner"       // a node took a tenant over (tenant)
	changedPolicy     = "policy"      // roles: memberships, tokens (no key: the version is in the store)
)

// openCluster joins the cluster: the bus first, then the leases, whose
// tenants the chat engine runs (Hosts) from Start on.
func (s *Service) openCluster(cfg Config) error {
	node := cluster.NewNodeID()
	bus, err := cluster.Connect(cfg.NATSURL, node, 10*time.Second, s.log)
	if err != nil {
		return err
	}
	c := &clusterNode{bus: bus, calls: map[string]func(){}}
	c.leaser = cluster.NewLeaser(cluster.Options{Store: s.Store, Node: node, Logger: s.log,
		OnAcquire: s.adopt, OnRelease: s.letGo, Jobs: []string{jobHousekeeping}})
	s.cluster = c
	for kind, fn := range map[string]func(string){
		changedSite: s.forgetLocal,
		changedChatConfig: func(tenant string) {
			if s.RunsTenant(tenant) {
				if err := s.Chat.Reload(s.ctx, tenant); err != nil {
					s.log.Warn("cluster: reload a tenant's chat settings", "tenant", tenant, "err", err)
				}
			}
			s.welcome.forget(tenant)
		},
		changedMail: func(tenant string) { s.mailSettings.forget(tenant) },
		changedPolicy: func(string) {
			if err := s.Auth.Enforcer.Refresh(s.ctx); err != nil {
				s.log.Warn("cluster: reload the roles", "err", err)
			}
		},
		changedOwner: func(tenant string) {
			// Another node runs it now: what this node relays to the
			// owner before goes (its clients connect again).
			s.tell(tenant, false)
		},
	} {
		if err := bus.OnChange(kind, fn); err != nil {
			bus.Close()
			return err
		}
	}
	s.Auth.Enforcer.Changed = func() { bus.Announce(changedPolicy, "") }
	return nil
}

// jobHousekeeping is the lease of housekeeping (retention, rollups, the
// sweeps): one node of a cluster does it. Not a tenant id (those are ULIDs).
const jobHousekeeping = "~housekeeping"

// runsJob reports whether this process does a job of the cluster now: a
// single node does them all.
func (s *Service) runsJob(job string) bool {
	if s.cluster == nil {
		return true
	}
	_, ok := s.cluster.leaser.Owns(job)
	return ok
}

// hosts tells the chat engine which tenants it runs: all on a single node.
func (s *Service) hosts(tenant string) bool { return s.RunsTenant(tenant) }

// RunsTenant reports whether this process runs a tenant's chats.
func (s *Service) RunsTenant(tenant string) bool {
	if s.cluster == nil {
		return true
	}
	_, ok := s.cluster.leaser.Owns(tenant)
	return ok
}

// Bus is the bus to the other nodes of the cluster; nil on a single node.
func (s *Service) Bus() *cluster.Bus {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.bus
}

// Node is this process's id in the cluster; "" on a single node.
func (s *Service) Node() string {
	if s.cluster == nil {
		return ""
	}
	return s.cluster.leaser.Node()
}

// OnTenant runs fn when this node starts running a tenant (runs: the
// transport serves the sockets other nodes relay) and when it stops, or
// when another node took over a tenant (runs false: drop what is relayed
// to the old owner). fn must not block.
func (s *Service) OnTenant(fn func(tenant string, runs bool)) {
	if s.cluster == nil {
		return
	}
	s.cluster.mu.Lock()
	s.cluster.listeners = append(s.cluster.listeners, fn)
	s.cluster.mu.Unlock()
}

func (s *Service) tell(tenant string, runs bool) {
	s.cluster.mu.Lock()
	ls := slices.Clone(s.cluster.listeners)
	s.cluster.mu.Unlock()
	for _, fn := range ls {
		fn(tenant, runs)
	}
}

// adopt: this node holds a tenant's lease now. Its engine is rebuilt from
// the store, the other nodes drop their sockets relayed to the previous
// owner, and this node serves the relays' new ones.
func (s *Service) adopt(ctx context.Context, tenant string, epoch int64) {
	if err := s.Chat.Adopt(ctx, tenant); err != nil {
		s.log.Error("cluster: take a tenant over", "tenant", tenant, "epoch", epoch, "err", err)
	}
	stop, err := s.cluster.bus.ServeCalls(tenant, func(op string, args []byte) ([]byte, error) {
		return s.answer(s.ctx, tenant, op, args)
	}, errorKind)
	if err != nil {
		s.log.Error("cluster: answer a tenant's calls", "tenant", tenant, "err", err)
	} else {
		s.cluster.mu.Lock()
		s.cluster.calls[tenant] = stop
		s.cluster.mu.Unlock()
	}
	s.tell(tenant, true)
	s.cluster.bus.Announce(changedOwner, tenant)
	s.log.Info("cluster: running a tenant", "tenant", tenant, "epoch", epoch)
}

// letGo: this node no longer holds a tenant's lease.
func (s *Service) letGo(tenant string) {
	s.cluster.mu.Lock()
	if stop := s.cluster.calls[tenant]; stop != nil {
		stop()
		delete(s.cluster.calls, tenant)
	}
	s.cluster.mu.Unlock()
	s.tell(tenant, false)
	s.Chat.Release(tenant)
	s.log.Info("cluster: a tenant left this node", "tenant", tenant)
}

// announce tells the other nodes that something they may keep a copy of
// changed (nothing on a single node).
func (s *Service) announce(kind, key string) {
	if s.cluster != nil {
		s.cluster.bus.Announce(kind, key)
	}
}

// ReloadChat makes the engine that runs a tenant read its chat settings,
// queues and agents again: this one, or, in a cluster, the node that runs
// it (told over the bus).
func (s *Service) ReloadChat(ctx context.Context, tenant string) error {
	s.welcome.forget(tenant)
	s.announce(changedChatConfig, tenant)
	if !s.RunsTenant(tenant) {
		return nil
	}
	if err := s.Chat.Reload(ctx, tenant); err != nil {
		return fmt.Errorf("reload the chat of %s: %w", tenant, err)
	}
	return nil
}

// startCluster runs the leases (a serving process).
func (s *Service) startCluster() {
	if s.cluster != nil {
		s.cluster.leaser.Start(s.ctx)
	}
}

// closeCluster gives the leases up (the others take the tenants at once)
// and leaves the bus.
func (s *Service) closeCluster() {
	if s.cluster == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.cluster.leaser.Stop(ctx, true)
	s.cluster.bus.Close()
}

// ClusterStatus is this node's state in the cluster, for /readyz and
// /metrics.
type ClusterStatus struct {
	Node  string
	Bus   error // nil: connected
	Lease error // nil: the leases are being renewed
	cluster.Stats
	Housekeeping bool // this node does the cluster's housekeeping now
}

// Cluster returns this node's state in the cluster; ok is false on a
// single node.
func (s *Service) Cluster() (st ClusterStatus, ok bool) {
	if s.cluster == nil {
		return st, false
	}
	c := s.cluster
	return ClusterStatus{Node: c.leaser.Node(), Bus: c.bus.Ready(), Lease: c.leaser.Healthy(), Stats: c.leaser.Stats(),
		Housekeeping: s.runsJob(jobHousekeeping)}, true
}
