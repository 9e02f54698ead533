package ops

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/store"
)

// An agent invites a visitor who is on the site now to chat: the invitation
// takes the pushed-offer path (the visitor's page shows it at its next
// poll, within seconds), counts in the offer funnel as the rule "invite",
// and a chat it starts is offered to the inviting agent first. Who invited
// is kept here, by the offer's id, which the offer carries back in its
// data: a page cannot name an agent of its own choosing.

// invitationTTL is how long an invitation's agent is remembered for the chat
// it may start (the offer waits a minute for the page; the visitor may read
// it a while).
const invitationTTL = 15 * time.Minute

type invitation struct {
	site, agent, name string
	expires           time.Time
}

// ErrNoPush refuses an invitation on a site whose pages do not ask for
// pushed offers.
var ErrNoPush = errors.New("this site's pages do not ask for invitations: an owner or admin turns on pushed offers in the site's settings")

// LiveVisitor is a visitor on a site now, as the agents' list shows them.
type LiveVisitor struct {
	analytics.LiveVisitor
	// Contact is the verified customer this visitor id is linked to.
	Contact *LiveContact `json:"contact"`
	// Invitable: their page asked for pushed offers in the last seconds, so
	// an invitation reaches it (the site pushes offers, the page is open).
	Invitable bool `json:"invitable"`
}

// LiveContact is who a verified visitor is.
type LiveContact struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// MaxLiveVisitors bounds the list.
const MaxLiveVisitors = 200

// LiveVisitors lists the visitors on a site now, the most recently active
// first.
func (s *Service) LiveVisitors(ctx context.Context, site store.Site) ([]LiveVisitor, error) {
	now := time.Now()
	rows, err := s.Reports.LiveVisitors(ctx, site.ID, now, MaxLiveVisitors)
	if err != nil {
		return nil, err
	}
	on := make([]bool, len(rows))
	if site.Settings.PushOffers && len(rows) > 0 {
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.Visitor
		}
		on, err = onOwnerWith(ctx, s, site.TenantID, "on-site", pollArgs{Site: site.ID, IDs: ids}, func() ([]bool, error) {
			return s.pushes.onSiteAll(site.ID, ids, now), nil
		})
		if errors.Is(err, ErrMoving) {
			on, err = make([]bool, len(rows)), nil // nobody invitable for a moment
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]LiveVisitor, len(rows))
	for i, r := range rows {
		out[i] = LiveVisitor{LiveVisitor: r, Invitable: i < len(on) && on[i]}
		if r.UserID == "" {
			continue
		}
		c, err := s.Contacts.OfVisitor(ctx, site.TenantID, site.ID, r.Visitor)
		if err == nil {
			out[i].Contact = &LiveContact{ID: c.ID, Name: c.Name, Email: c.Email}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return out, nil
}

// InviteRequest is an agent's invitation: its words and the queue a chat
// it starts goes to.
type InviteRequest struct {
	Text  string `json:"text"`
	Queue string `json:"queue"`
}

// Invite offers a visitor on the site now a chat, from an agent.
func (s *Service) Invite(ctx context.Context, actor store.Actor, a chat.Agent, site store.Site, visitor string, req InviteRequest) (PushedOffer, error) {
	if visitor == "" || len(visitor) > 128 {
		return PushedOffer{}, ErrBadVisitor
	}
	req.Text = strings.TrimSpace(req.Text)
	if req.Text == "" || len(req.Text) > 500 || !utf8.ValidString(req.Text) {
		return PushedOffer{}, &store.FieldError{Field: "text", Message: "required, at most 500 bytes"}
	}
	refs, err := s.OfferRefs(ctx, site)
	if err != nil {
		return PushedOffer{}, err
	}
	if strings.TrimSpace(req.Queue) == "" || !refs.Queue(req.Queue) {
		return PushedOffer{}, &store.FieldError{Field: "queue", Message: "the name of one of the tenant's chat queues"}
	}
	if !site.Settings.PushOffers {
		return PushedOffer{}, ErrNoPush
	}
	now := time.Now()
	o := PushedOffer{ID: store.NewID(), Rule: "invite", Queue: req.Queue, Text: req.Text, UI: true, Expires: now.Add(time.Minute)}
	o.Metadata = map[string]string{"invitation": o.ID}
	pa := pushArgs{Site: site.ID, IDs: []string{visitor}, Offer: o, Expires: o.Expires,
		Invite: &inviteArgs{Agent: a.User, Name: a.Name, Expires: now.Add(invitationTTL)}}
	if ok, err := s.push(ctx, site.TenantID, pa); err != nil {
		return PushedOffer{}, err
	} else if !ok {
		return PushedOffer{}, ErrNotOnSite
	}
	if err := s.Store.RecordAudit(ctx, actor, site.TenantID, "visitor.invite", "site", site.ID, map[string]string{"visitor": visitor, "offer": o.ID}); err != nil {
		return PushedOffer{}, err
	}
	return o, nil
}
