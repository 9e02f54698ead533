package ops

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/rules"
	"github.com/nudgehq/nudge/store"
)

// In a cluster the box of a tenant's sites lives on the node that runs the
// tenant, like its chats: the polls, pushes and invitations that reach
// another node are asked of it (onOwnerWith). A move of the tenant loses the
// offers waiting (a minute, by default), as a restart does.

// Offers pushed by a site's backend reach the visitor's open page by a short
// poll (GET /offers/{siteKey}, PollOffers) that the guide makes every few seconds while
// the page is visible, not by a socket per idle visitor: a poll is a 204 from
// memory over a connection the browser keeps alive anyway, and its cost
// follows the request rate, while a socket per visitor would hold a file
// descriptor and memory for every open tab (a process has 20,000
// descriptors here, a busy site many more idle visitors). The polls also
// say who is on the site now: a push for a visitor who has not polled
// lately is refused (409). docs/architecture.md says more.

// onSite is how recently a visitor must have polled to count as on the site.
const onSite = 15 * time.Second

// PushedOffer is an offer waiting for its visitor's next poll.
type PushedOffer struct {
	ID string `json:"id"`
	// Rule is how the offer funnel counts it: push (the site's backend) or
	// invite (an agent's invitation).
	Rule         string            `json:"rule"`
	Queue        string            `json:"queue"`
	Title        string            `json:"title,omitempty"`
	Text         string            `json:"text"`
	AcceptLabel  string            `json:"accept_label,omitempty"`
	DeclineLabel string            `json:"decline_label,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	UI           bool              `json:"ui"`
	Expires      time.Time         `json:"-"`
}

// pushBox holds who polled lately and the offers waiting for them, by site
// and visitor (or identified user: "u:" + id).
type pushBox struct {
	mu      sync.Mutex
	seen    map[string]time.Time
	offers  map[string][]PushedOffer
	invites map[string]invitation // by the offer's id
	swept   time.Time
}

func newPushBox() *pushBox {
	return &pushBox{seen: map[string]time.Time{}, offers: map[string][]PushedOffer{}, invites: map[string]invitation{}}
}

// onSite reports whether a visitor of a site polled lately.
func (b *pushBox) onSite(site, id string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return now.Sub(b.seen[site+"/"+id]) <= onSite
}

// invite remembers who made an invitation.
func (b *pushBox) invite(id string, inv invitation) {
	b.mu.Lock()
	b.invites[id] = inv
	b.mu.Unlock()
}

// invitation is who made the invitation id on a site, if it is still fresh.
func (b *pushBox) invitation(site, id string, now time.Time) (invitation, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	inv, ok := b.invites[id]
	return inv, ok && inv.site == site && now.Before(inv.expires)
}

// poll records that the visitors (ids) of a site are on it and takes the
// offers waiting for any of them.
func (b *pushBox) poll(site string, ids []string, now time.Time) []PushedOffer {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.swept) > 30*time.Second {
		b.sweep(now)
	}
	var out []PushedOffer
	for _, id := range ids {
		k := site + "/" + id
		b.seen[k] = now
		for _, o := range b.offers[k] {
			if now.Before(o.Expires) {
				out = append(out, o)
			}
		}
		delete(b.offers, k)
	}
	return out
}

// push queues an offer; false when the visitor has not polled lately.
func (b *pushBox) push(site, id string, o PushedOffer, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := site + "/" + id
	if now.Sub(b.seen[k]) > onSite {
		return false
	}
	if q := b.offers[k]; len(q) >= 5 {
		b.offers[k] = q[1:] // the oldest goes: a visitor sees one offer at a time anyway
	}
	b.offers[k] = append(b.offers[k], o)
	return true
}

// pushArgs are a push as the tenant's node takes it: the offer, for the
// first of the ids whose visitor is on the site, and for an agent's
// invitation who made it.
type pushArgs struct {
	Site    string      `json:"site"`
	IDs     []string    `json:"ids"`
	Offer   PushedOffer `json:"offer"`
	Expires time.Time   `json:"expires"` // the offer's (not in its JSON, which pages get)
	Invite  *inviteArgs `json:"invite,omitempty"`
}

// inviteArgs are who made an invitation, and until when it leads to them.
type inviteArgs struct {
	Agent   string    `json:"agent"`
	Name    string    `json:"name"`
	Expires time.Time `json:"expires"`
}

// pollArgs name visitors of a site.
type pollArgs struct {
	Site string   `json:"site"`
	IDs  []string `json:"ids"`
}

// pushAny queues a.Offer for the first of a.IDs on the site (and records
// the invitation); false when none of them is.
func (b *pushBox) pushAny(a pushArgs, now time.Time) bool {
	a.Offer.Expires = a.Expires
	for _, id := range a.IDs {
		if b.push(a.Site, id, a.Offer, now) {
			if a.Invite != nil {
				b.invite(a.Offer.ID, invitation{site: a.Site, agent: a.Invite.Agent, name: a.Invite.Name, expires: a.Invite.Expires})
			}
			return true
		}
	}
	return false
}

// onSiteAll says, for each id, whether that visitor of the site polled lately.
func (b *pushBox) onSiteAll(site string, ids []string, now time.Time) []bool {
	out := make([]bool, len(ids))
	for i, id := range ids {
		out[i] = b.onSite(site, id, now)
	}
	return out
}

// sweep forgets visitors gone for a while and offers nobody took. Callers hold mu.
func (b *pushBox) sweep(now time.Time) {
	b.swept = now
	for k, t := range b.seen {
		if now.Sub(t) > time.Minute {
			delete(b.seen, k)
		}
	}
	for k, os := range b.offers {
		if len(os) == 0 || now.After(os[len(os)-1].Expires) {
			delete(b.offers, k)
		}
	}
	for k, inv := range b.invites {
		if now.After(inv.expires) {
			delete(b.invites, k)
		}
	}
}

// QueueAvailability is a queue's availability as pages see it.
type QueueAvailability struct {
	AgentsAvailable int  `json:"agents_available"`
	EstimatedWait   int  `json:"estimated_wait"` // seconds; -1 when nobody can answer
	Open            bool `json:"open"`
}

func (s *Service) loadAvailability(ctx context.Context, tenantID string) (map[string]QueueAvailability, error) {
	qs, err := s.QueueStates(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]QueueAvailability, len(qs))
	for _, q := range qs {
		out[rules.Fold(q.Name)] = QueueAvailability{AgentsAvailable: q.AgentsAvailable, EstimatedWait: q.EstimatedWait, Open: q.Open}
	}
	return out, nil
}

// ResolveOffer makes what a chat starts with trustworthy before the agent
// sees it: an identity only with a valid hash, and the offer. For a published rule of the site, its name, words, version,
// metadata and queue come from the rule, whatever the page said; for an
// offer made by page code or pushed, the page's metadata is kept and marked
// with its source. A queue named by the page becomes the queue's id.
func (s *Service) ResolveOffer(ctx context.Context, site store.Site, m *chat.Meta) error {
	if id := m.Identity; id != nil {
		// The agent sees an identity only when the site's server signed it.
		if id.ID == "" || !analytics.VerifyIdentity(site.IdentitySecret, id.ID, id.Hash) {
			m.Identity = nil
		} else {
			id.Hash, id.Verified, id.By = "", true, "hash"
		}
	}
	o := m.Offer
	if o == nil {
		return nil
	}
	live, _, err := s.Store.LiveOffers(ctx, site.ID)
	if err != nil {
		return err
	}
	o.Source, o.Version, o.Agent = "page", 0, "" // never the page's say
	switch o.ID {
	case "push":
		o.Source = "push"
	case "invite":
		// An agent's invitation: the agent who made it gets the chat first.
		if inv, ok := s.pushes.invitation(site.ID, o.Data["invitation"], time.Now()); ok {
			o.Source, o.Agent, o.Name = "invitation", inv.agent, "Invitation from "+inv.name
			delete(o.Data, "invitation")
		}
	}
	for _, lr := range live {
		if lr.ID != o.ID {
			continue
		}
		r, err := rules.Parse(lr.Body, rules.Refs{})
		if err != nil {
			break
		}
		o.Source, o.Name, o.Version, o.Data = "rule", r.Name, lr.Version, r.Action.Metadata
		if r.Action.Type == "chat_offer" {
			o.Text = strings.TrimSpace(r.Action.Title + " " + r.Action.Text)
		}
		if r.Action.Queue != "" {
			o.Queue = r.Action.Queue
		}
		break
	}
	if o.Source != "rule" && o.Source != "invitation" {
		o.Name = ""
	}
	if o.Queue != "" {
		qs, err := s.Store.Queues(ctx, site.TenantID)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if strings.EqualFold(q.Name, o.Queue) || q.ID == o.Queue {
				o.Queue = q.ID
				break
			}
		}
	}
	return nil
}

// PushRequest is an offer a site's backend (or an agent) makes to a visitor now.
type PushRequest struct {
	Queue        string            `json:"queue"`
	Title        string            `json:"title"`
	Text         string            `json:"text"`
	AcceptLabel  string            `json:"accept_label"`
	DeclineLabel string            `json:"decline_label"`
	Metadata     map[string]string `json:"metadata"`
	// UI: false lets the page show its own (nudge('on', 'offer', …)).
	UI *bool `json:"ui"`
	// TTLSeconds is how long the offer waits for the visitor's page (5–600; 60).
	TTLSeconds int `json:"ttl_seconds"`
}

func (s *Service) checkPush(ctx context.Context, site store.Site, r *PushRequest) error {
	invalid := func(field, msg string) error { return &store.FieldError{Field: field, Message: msg} }
	refs, err := s.OfferRefs(ctx, site)
	if err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(r.Queue) == "" || !refs.Queue(r.Queue):
		return invalid("queue", "the name of one of the tenant's chat queues")
	case strings.TrimSpace(r.Text) == "" || len(r.Text) > 500:
		return invalid("text", "required, at most 500 bytes")
	case len(r.Title) > 120, len(r.AcceptLabel) > 40, len(r.DeclineLabel) > 40:
		return invalid("title", "title at most 120 bytes, labels at most 40")
	case len(r.Metadata) > rules.MaxMetadata:
		return invalid("metadata", "at most 20 entries")
	case r.TTLSeconds != 0 && (r.TTLSeconds < 5 || r.TTLSeconds > 600):
		return invalid("ttl_seconds", "5 to 600")
	}
	for k, v := range r.Metadata {
		if k == "" || len(k) > 64 || len(v) > 500 {
			return invalid("metadata", "keys of 1 to 64 bytes, values of at most 500")
		}
	}
	if r.TTLSeconds == 0 {
		r.TTLSeconds = 60
	}
	return nil
}

// ErrNotOnSite means a pushed offer's visitor has no page of the site open.
var ErrNotOnSite = errors.New("this visitor has no page of the site open now")

// PushOffer makes a visitor (by visitor id, or by the user id the site
// identified them with) a chat offer that their open page shows within
// seconds (its next poll); ErrNotOnSite when no page of theirs polled lately.
// The push is audited under actor.
func (s *Service) PushOffer(ctx context.Context, actor store.Actor, site store.Site, id string, req PushRequest) (PushedOffer, error) {
	if id == "" || len(id) > 128 {
		return PushedOffer{}, ErrBadVisitor
	}
	if err := s.checkPush(ctx, site, &req); err != nil {
		return PushedOffer{}, err
	}
	now := time.Now()
	o := PushedOffer{ID: store.NewID(), Rule: "push", Queue: req.Queue, Title: req.Title, Text: req.Text, AcceptLabel: req.AcceptLabel,
		DeclineLabel: req.DeclineLabel, Metadata: req.Metadata, UI: req.UI == nil || *req.UI,
		Expires: now.Add(time.Duration(req.TTLSeconds) * time.Second)}
	// A visitor id, else an identified user id: whichever has polled.
	a := pushArgs{Site: site.ID, IDs: []string{id, "u:" + id}, Offer: o, Expires: o.Expires}
	if ok, err := s.push(ctx, site.TenantID, a); err != nil {
		return PushedOffer{}, err
	} else if !ok {
		return PushedOffer{}, ErrNotOnSite
	}
	if err := s.Store.RecordAudit(ctx, actor, site.TenantID, "offer.push", "site", site.ID, map[string]string{"visitor": id, "offer": o.ID}); err != nil {
		return PushedOffer{}, err
	}
	return o, nil
}

// push queues a push or an invitation on the tenant's node.
func (s *Service) push(ctx context.Context, tenant string, a pushArgs) (bool, error) {
	return onOwnerWith(ctx, s, tenant, "push-offer", a, func() (bool, error) { return s.pushes.pushAny(a, time.Now()), nil })
}

// PollOffers records that the visitors (ids: visitor ids, "u:" + a verified
// user id) of a site are on it now and takes the offers waiting for them.
// While the tenant moves between nodes nothing waits (ErrMoving is not an
// error here: the page polls again in seconds).
func (s *Service) PollOffers(ctx context.Context, site store.Site, ids []string, now time.Time) ([]PushedOffer, error) {
	got, err := onOwnerWith(ctx, s, site.TenantID, "poll-offers", pollArgs{Site: site.ID, IDs: ids}, func() ([]PushedOffer, error) {
		return s.pushes.poll(site.ID, ids, now), nil
	})
	if errors.Is(err, ErrMoving) {
		return nil, nil
	}
	return got, err
}

// Availability is every queue of a tenant, by folded name, as the chat
// engine counts it (available, connected agents with a free slot): the same
// for every visitor, computed at most every two seconds per tenant.
func (s *Service) Availability(ctx context.Context, tenant string) (map[string]QueueAvailability, error) {
	return s.avail.get(ctx, tenant)
}

// Welcome is what a tenant's chat panel shows before the visitor writes,
// computed at most every two seconds per tenant (ForgetWelcome: at once).
func (s *Service) Welcome(ctx context.Context, tenant string) (chat.WelcomeState, error) {
	return s.welcome.get(ctx, tenant)
}

// ForgetWelcome makes the next Welcome read the tenant's settings anew,
// here and on the other nodes of a cluster.
func (s *Service) ForgetWelcome(tenant string) {
	s.welcome.forget(tenant)
	s.announce(changedChatConfig, tenant)
}
