package auth

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"

	"github.com/nudgehq/nudge/store"
)

//go:embed model.conf
var modelText string

// Roles, from most to least powerful. A role is held per tenant.
const (
	RoleOwner      = "owner"
	RoleAdmin      = "admin"
	RoleMarketer   = "marketer"
	RoleSupervisor = "supervisor"
	RoleAgent      = "agent"
	RoleBot        = "bot"
)

// Roles lists every role.
var Roles = []string{RoleOwner, RoleAdmin, RoleMarketer, RoleSupervisor, RoleAgent, RoleBot}

// ValidRole reports whether r is one of Roles.
func ValidRole(r string) bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

// Enforcer answers "may this subject do this to that in this tenant?". It is
// casbin's cached enforcer over the store: the store is the truth and the
// enforcer a copy of it, loaded at start and updated after each change.
//
// Decisions are cached (an uncached one costs tens of microseconds, and every
// API request and WebSocket command asks). casbin does not drop cached
// decisions when roles change, and a decision computed just before a change
// could be cached just after it; so decisions hold mu for reading, and a change
// holds it for writing while it edits the roles and empties the cache.
type Enforcer struct {
	mu      sync.RWMutex
	e       *casbin.SyncedCachedEnforcer
	st      *store.Store
	version int64 // the store's policy version the enforcer has loaded

	// Changed, when set (before the enforcer is used), is told after each
	// change this process makes: a cluster's node tells the others, which
	// Refresh at once instead of at their next poll.
	Changed func()
}

// NewEnforcer loads the policy from st.
func NewEnforcer(ctx context.Context, st *store.Store) (*Enforcer, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("authz: model: %w", err)
	}
	version, err := st.PolicyVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	e, err := casbin.NewSyncedCachedEnforcer(m, &adapter{ctx: ctx, st: st})
	if err != nil {
		return nil, fmt.Errorf("authz: load policy: %w", err)
	}
	// The store is written first by the caller; casbin must not write it again.
	e.EnableAutoSave(false)
	return &Enforcer{e: e, st: st, version: version}, nil
}

// UserSubject and TokenSubject name principals in the policy.
func UserSubject(id string) string  { return "user:" + id }
func TokenSubject(id string) string { return "token:" + id }

// Allowed reports whether subject may do act on obj in tenant.
func (en *Enforcer) Allowed(subject, tenant, obj, act string) bool {
	en.mu.RLock()
	defer en.mu.RUnlock()
	ok, err := en.e.Enforce(subject, tenant, obj, act)
	return err == nil && ok
}

// AllowedNow is Allowed, except that a refusal is first checked against
// the store's policy: a role given a moment ago by another process (a
// node of the cluster whose announcement is still on its way, the command
// line) counts at once. Only refusals cost the store a read.
func (en *Enforcer) AllowedNow(ctx context.Context, subject, tenant, obj, act string) bool {
	if en.Allowed(subject, tenant, obj, act) {
		return true
	}
	if err := en.Refresh(ctx); err != nil {
		return false
	}
	return en.Allowed(subject, tenant, obj, act)
}

// Role returns subject's role in tenant, or "" when it has none.
func (en *Enforcer) Role(subject, tenant string) string {
	en.mu.RLock()
	defer en.mu.RUnlock()
	roles := en.e.GetRolesForUserInDomain(subject, tenant)
	if len(roles) == 0 {
		return ""
	}
	return roles[0]
}

// Permissions lists what role may do, as "object:action", sorted: the
// console shows what a user may use from it instead of a copy of the policy.
func (en *Enforcer) Permissions(role string) []string {
	en.mu.RLock()
	defer en.mu.RUnlock()
	rows, _ := en.e.GetFilteredPolicy(0, role)
	out := []string{}
	for _, r := range rows {
		if len(r) >= 3 {
			out = append(out, r[1]+":"+r[2])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SetRole records in the cache that subject now holds role in tenant.
func (en *Enforcer) SetRole(subject, tenant, role string) {
	en.mu.Lock()
	defer en.mu.Unlock()
	en.e.RemoveFilteredGroupingPolicy(0, subject, "", tenant)
	en.e.AddGroupingPolicy(subject, role, tenant)
	en.e.InvalidateCache()
	en.changed()
}

// changed tells Changed; it is called with mu held, and Changed must not
// take it (announcing is all a node does).
func (en *Enforcer) changed() {
	if en.Changed != nil {
		en.Changed()
	}
}

// RemoveRole records in the cache that subject has no role in tenant any more.
func (en *Enforcer) RemoveRole(subject, tenant string) {
	en.mu.Lock()
	defer en.mu.Unlock()
	en.e.RemoveFilteredGroupingPolicy(0, subject, "", tenant)
	en.e.InvalidateCache()
	en.changed()
}

// Reload reads the whole policy from the store again.
func (en *Enforcer) Reload() error {
	en.mu.Lock()
	defer en.mu.Unlock()
	return en.reload(context.Background())
}

func (en *Enforcer) reload(ctx context.Context) error {
	v, err := en.st.PolicyVersion(ctx)
	if err != nil {
		return err
	}
	if err := en.e.LoadPolicy(); err != nil { // also empties the cache
		return err
	}
	en.version = v
	return nil
}

// Refresh reloads the policy when the store's has changed since it was
// loaded: a change made by another process (nudge user create beside a
// running server) takes effect at the next Refresh.
func (en *Enforcer) Refresh(ctx context.Context) error {
	v, err := en.st.PolicyVersion(ctx)
	if err != nil {
		return err
	}
	en.mu.RLock()
	same := v == en.version
	en.mu.RUnlock()
	if same {
		return nil
	}
	en.mu.Lock()
	defer en.mu.Unlock()
	return en.reload(ctx)
}

// adapter lets casbin read its rows from the store. Writes go through the
// store's own methods, never through casbin.
type adapter struct {
	ctx context.Context
	st  *store.Store
}

var errReadOnly = errors.New("authz: policies are written through the store")

func (a *adapter) LoadPolicy(m model.Model) error {
	rows, err := a.st.PolicyRows(a.ctx)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := persist.LoadPolicyArray(r, m); err != nil {
			return fmt.Errorf("authz: policy row %v: %w", r, err)
		}
	}
	return nil
}

func (a *adapter) SavePolicy(model.Model) error                { return errReadOnly }
func (a *adapter) AddPolicy(string, string, []string) error    { return errReadOnly }
func (a *adapter) RemovePolicy(string, string, []string) error { return errReadOnly }
func (a *adapter) RemoveFilteredPolicy(string, string, int, ...string) error {
	return errReadOnly
}
