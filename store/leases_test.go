package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A lease goes to one node at a time; its owner renews it at the same
// epoch; once given up or expired, another node takes it at the next epoch,
// and a node that is not the preferred one waits freeFor more.
func TestLeases(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	const tenant = "t1"
	epoch, ok, err := s.AcquireLease(ctx, tenant, "a", time.Hour, 0)
	if err != nil || !ok || epoch != 1 {
		t.Fatalf("a: %d %v %v", epoch, ok, err)
	}
	if _, ok, _ := s.AcquireLease(ctx, tenant, "b", time.Hour, 0); ok {
		t.Fatal("b took a's lease")
	}
	if epoch, ok, _ := s.AcquireLease(ctx, tenant, "a", time.Hour, 0); !ok || epoch != 1 {
		t.Fatalf("a again: %d %v", epoch, ok)
	}
	if held, err := s.RenewLeases(ctx, "a", time.Hour); err != nil || held[tenant] != 1 {
		t.Fatalf("renew: %v %v", held, err)
	}
	if err := s.ReleaseLease(ctx, tenant, "a"); err != nil {
		t.Fatal(err)
	}
	if held, _ := s.RenewLeases(ctx, "a", time.Hour); len(held) != 0 {
		t.Fatalf("a renewed a lease it gave up: %v", held)
	}
	if epoch, ok, _ := s.AcquireLease(ctx, tenant, "b", time.Hour, 0); !ok || epoch != 2 {
		t.Fatalf("b after a gave up: %d %v", epoch, ok)
	}
	// An expired lease: the preferred node takes it at once, another only
	// once it has been free for freeFor.
	if _, err := s.w.Exec(`UPDATE tenant_leases SET expires_at = expires_at - 7200000`); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.AcquireLease(ctx, tenant, "c", time.Hour, 2*time.Hour); ok {
		t.Fatal("c took a lease free for an hour, not two")
	}
	if epoch, ok, _ := s.AcquireLease(ctx, tenant, "c", time.Hour, 30*time.Minute); !ok || epoch != 3 {
		t.Fatalf("c: %d %v", epoch, ok)
	}
	if err := s.HeartbeatNode(ctx, "c", "10.0.0.3:8080", false); err != nil {
		t.Fatal(err)
	}
	if nodes, err := s.LiveNodes(ctx, time.Minute); err != nil || len(nodes) != 1 || nodes[0].Addr != "10.0.0.3:8080" {
		t.Fatalf("live: %+v %v", nodes, err)
	}
	if err := s.RemoveNode(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := s.LiveNodes(ctx, time.Minute); len(nodes) != 0 {
		t.Fatalf("c was removed, yet live: %+v", nodes)
	}
	if epoch, ok, _ := s.AcquireLease(ctx, tenant, "d", time.Hour, 0); !ok || epoch != 4 {
		t.Fatalf("d after c stopped: %d %v", epoch, ok)
	}
}

// Two processes claiming due webhook deliveries at once never both get
// one: each is attempted by one process.
func TestDeliveriesAreClaimedOnce(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	tn, _ := s.CreateTenant(ctx, System, "T")
	if _, err := s.w.Exec(`INSERT INTO webhooks (id, tenant_id, url, secret, events, created_at, updated_at) VALUES ('w1', ?, 'https://x.test', 's', '[]', 0, 0)`, tn.ID); err != nil {
		t.Fatal(err)
	}
	const n = 300
	for range n {
		if _, err := s.w.Exec(`INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event, payload, status, next_attempt_at, created_at, updated_at)
			VALUES (?, 'w1', ?, 'e', '{}', 'pending', 0, 0, 0)`, NewID(), tn.ID); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				ds, err := s.ClaimDueDeliveries(ctx, time.Now(), time.Hour, 25)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d of %d deliveries claimed", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("delivery %s claimed %d times", id, c)
		}
	}
}

// Nodes gone longer than the window are forgotten; the live stay.
func TestForgetNodes(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for _, n := range []string{"gone", "here"} {
		if err := s.HeartbeatNode(ctx, n, "", false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.w.Exec(`UPDATE cluster_nodes SET seen_at = seen_at - 7200000 WHERE node = 'gone'`); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetNodes(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	var left []string
	rows, _ := s.r.Query(`SELECT node FROM cluster_nodes`)
	for rows.Next() {
		var n string
		rows.Scan(&n)
		left = append(left, n)
	}
	rows.Close()
	if len(left) != 1 || left[0] != "here" {
		t.Fatalf("nodes left: %v", left)
	}
}
