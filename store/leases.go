package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ClusterNode is a process of a cluster, as its last heartbeat left it.
type ClusterNode struct {
	ID       string
	Addr     string
	Draining bool
}

// Lease says which node runs a tenant's chat engine, until when (the
// database's clock), and how many times the tenant changed owner (epoch).
type Lease struct {
	TenantID  string
	Node      string
	Epoch     int64
	ExpiresAt time.Time
}

// HeartbeatNode records that node is alive now (by the database's clock).
func (s *Store) HeartbeatNode(ctx context.Context, node, addr string, draining bool) error {
	d := 0
	if draining {
		d = 1
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO cluster_nodes (node, addr, started_at, seen_at, draining) VALUES (?1, ?2, `+s.d.now()+`, `+s.d.now()+`, ?3)
		ON CONFLICT (node) DO UPDATE SET addr = excluded.addr, seen_at = excluded.seen_at, draining = excluded.draining`, node, addr, d)
	if err != nil {
		return fmt.Errorf("store: heartbeat of node %s: %w", node, err)
	}
	return nil
}

// LiveNodes lists the nodes heard from within the last window, by id.
func (s *Store) LiveNodes(ctx context.Context, window time.Duration) ([]ClusterNode, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT node, addr, draining FROM cluster_nodes WHERE seen_at >= `+s.d.now()+` - ? ORDER BY node`,
		window.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("store: live nodes: %w", err)
	}
	defer rows.Close()
	var out []ClusterNode
	for rows.Next() {
		var n ClusterNode
		if err := rows.Scan(&n.ID, &n.Addr, &n.Draining); err != nil {
			return nil, fmt.Errorf("store: live nodes: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// RemoveNode forgets a node that stops and gives its leases up: their
// tenants are free at once for the others to take (at the next epoch: a
// lease is expired, never deleted, so that its epoch goes on counting).
func (s *Store) RemoveNode(ctx context.Context, node string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE tenant_leases SET expires_at = 0 WHERE node = ?`, node); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM cluster_nodes WHERE node = ?`, node)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: remove node %s: %w", node, err)
	}
	return nil
}

// ForgetNodes removes the nodes not heard from for longer than window
// (their leases have expired since).
func (s *Store) ForgetNodes(ctx context.Context, window time.Duration) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM cluster_nodes WHERE seen_at < `+s.d.now()+` - ?`, window.Milliseconds())
	if err != nil {
		return fmt.Errorf("store: forget nodes: %w", err)
	}
	return nil
}

// AcquireLease makes node the owner of a tenant's engine for ttl, if the
// tenant has no owner, its lease expired at least freeFor ago, or node owns
// it already (then the lease is renewed and the epoch stays). It returns
// the lease's epoch and whether node holds it.
func (s *Store) AcquireLease(ctx context.Context, tenantID, node string, ttl, freeFor time.Duration) (int64, bool, error) {
	now := s.d.now()
	rows, err := s.w.QueryContext(ctx, `INSERT INTO tenant_leases (tenant_id, node, epoch, expires_at) VALUES (?1, ?2, 1, `+now+` + ?3)
		ON CONFLICT (tenant_id) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at,
			epoch = CASE WHEN tenant_leases.node = excluded.node AND tenant_leases.expires_at >= `+now+` THEN tenant_leases.epoch ELSE tenant_leases.epoch + 1 END
		WHERE (tenant_leases.node = excluded.node AND tenant_leases.expires_at >= `+now+`) OR tenant_leases.expires_at < `+now+` - ?4
		RETURNING epoch`, tenantID, node, ttl.Milliseconds(), freeFor.Milliseconds())
	if err != nil {
		return 0, false, fmt.Errorf("store: lease of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var epoch int64
	if !rows.Next() {
		return 0, false, rows.Err()
	}
	if err := rows.Scan(&epoch); err != nil {
		return 0, false, fmt.Errorf("store: lease of %s: %w", tenantID, err)
	}
	return epoch, true, rows.Err()
}

// RenewLeases extends for ttl every lease node holds that has not expired,
// and returns them (tenant → epoch): a lease missing from the answer is
// lost.
func (s *Store) RenewLeases(ctx context.Context, node string, ttl time.Duration) (map[string]int64, error) {
	now := s.d.now()
	rows, err := s.w.QueryContext(ctx, `UPDATE tenant_leases SET expires_at = `+now+` + ? WHERE node = ? AND expires_at >= `+now+`
		RETURNING tenant_id, epoch`, ttl.Milliseconds(), node)
	if err != nil {
		return nil, fmt.Errorf("store: renew the leases of %s: %w", node, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var t string
		var e int64
		if err := rows.Scan(&t, &e); err != nil {
			return nil, fmt.Errorf("store: renew the leases of %s: %w", node, err)
		}
		out[t] = e
	}
	return out, rows.Err()
}

// ErrFenced means this node no longer holds the tenant's lease it meant to
// write under: another node may run the tenant now.
var ErrFenced = errors.New("store: this node's lease of the tenant has ended")

// Fence checks, inside the transaction, that node still holds the tenant's
// lease of epoch (unexpired by the database's clock), and locks the lease
// until the transaction ends: a node that takes the lease over waits for
// the commit and then reads what it wrote, and a node whose lease ended
// writes nothing (ErrFenced), however late its commit comes.
func (t *Tx) Fence(tenantID, node string, epoch int64) error {
	var one int
	err := t.tx.QueryRowContext(t.ctx, `SELECT 1 FROM tenant_leases WHERE tenant_id = ? AND node = ? AND epoch = ? AND expires_at >= `+
		t.s.d.now()+t.s.d.forUpdate(), tenantID, node, epoch).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrFenced
	}
	if err != nil {
		return fmt.Errorf("store: fence %s: %w", tenantID, err)
	}
	return nil
}

// ReleaseLease gives up node's lease of a tenant (another node may take it
// at once).
func (s *Store) ReleaseLease(ctx context.Context, tenantID, node string) error {
	// Expired long ago rather than deleted: the epoch goes on counting.
	_, err := s.w.ExecContext(ctx, `UPDATE tenant_leases SET expires_at = 0 WHERE tenant_id = ? AND node = ?`, tenantID, node)
	if err != nil {
		return fmt.Errorf("store: release the lease of %s: %w", tenantID, err)
	}
	return nil
}

// Leases lists every tenant's lease.
func (s *Store) Leases(ctx context.Context) ([]Lease, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT tenant_id, node, epoch, expires_at FROM tenant_leases ORDER BY tenant_id`)
	if err != nil {
		return nil, fmt.Errorf("store: leases: %w", err)
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		var l Lease
		var exp int64
		if err := rows.Scan(&l.TenantID, &l.Node, &l.Epoch, &exp); err != nil {
			return nil, fmt.Errorf("store: leases: %w", err)
		}
		l.ExpiresAt = fromMillis(exp)
		out = append(out, l)
	}
	return out, rows.Err()
}
