package ops

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/contacts"
	"github.com/nudgehq/nudge/store"
)

// The customer beside a chat, for the agent working it: who they are (the
// contact, verified by a token or a hash, or known only from an earlier
// verified visit of this browser), the pages of their visit with the time on
// each, and their earlier conversations on every device, each of which the
// agent may open read-only; an agent sees those of their queues, a
// supervisor all.

// MaxEarlier bounds the earlier conversations listed.
const MaxEarlier = 200

// ChatContext is a chat's customer.
type ChatContext struct {
	Conversation store.Conversation `json:"conversation"`
	Meta         chat.Meta          `json:"meta"`
	// Contact is who the customer is, when a site verified them (this chat,
	// or an earlier visit of this browser: then Verified is "").
	Contact *ContactSummary `json:"contact"`
	// Verified is how this chat's identity was proved: token, hash, or "".
	Verified string `json:"verified"`
	// Visit is the visit the chat belongs to: its pages in order with time.
	Visit *analytics.Visit `json:"visit"`
	// Earlier are the customer's other conversations the agent may open.
	Earlier []store.ContactConversation `json:"earlier"`
}

// ContactSummary is a contact with how much of them nudge knows.
type ContactSummary struct {
	contacts.Contact
	Visits        int `json:"visits"`
	Conversations int `json:"conversations"`
}

// ChatContext returns the customer of a conversation an agent may read.
func (s *Service) ChatContext(ctx context.Context, a chat.Agent, id string) (ChatContext, error) {
	vc, err := s.Chat.Context(ctx, a, id)
	if err != nil {
		return ChatContext{}, err
	}
	out := ChatContext{Conversation: vc.Conversation, Meta: vc.Meta, Earlier: []store.ContactConversation{}}
	c := vc.Conversation
	if idn := vc.Meta.Identity; idn != nil && idn.Verified {
		out.Verified = idn.By
		if out.Verified == "" {
			out.Verified = "hash" // verified before the chat recorded how
		}
	}
	contact, all, err := s.customer(ctx, c)
	if err != nil {
		return ChatContext{}, err
	}
	if contact != nil {
		vs, err := s.Contacts.Visitors(ctx, c.TenantID, contact.ID)
		if err != nil {
			return ChatContext{}, err
		}
		_, visits, err := s.Reports.Visits(ctx, bySite(vs), 0)
		if err != nil {
			return ChatContext{}, err
		}
		out.Contact = &ContactSummary{Contact: *contact, Visits: visits, Conversations: len(all)}
	}
	if v, ok, err := s.Reports.CurrentVisit(ctx, c.SiteID, c.Visitor); err != nil {
		return ChatContext{}, err
	} else if ok {
		out.Visit = &v
	}
	queues, err := s.leftScope(ctx, a)
	if err != nil {
		return ChatContext{}, err
	}
	for _, e := range all {
		if e.ID != c.ID && (queues == nil || slices.Contains(queues, e.QueueID)) {
			out.Earlier = append(out.Earlier, e)
		}
	}
	return out, nil
}

// customer is the contact of a conversation (by its verified identity, else
// by its browser's earlier verified visits) and the customer's
// conversations: the contact's on every site, else the browser's.
func (s *Service) customer(ctx context.Context, c store.Conversation) (*contacts.Contact, []store.ContactConversation, error) {
	var contact *contacts.Contact
	if c.Identity != "" {
		ct, err := s.Contacts.ByFingerprint(ctx, c.TenantID, c.Identity)
		if err == nil {
			contact = &ct
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
	}
	if contact == nil {
		ct, err := s.Contacts.OfVisitor(ctx, c.TenantID, c.SiteID, c.Visitor)
		if err == nil {
			contact = &ct
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
	}
	if contact != nil {
		all, err := s.Contacts.Conversations(ctx, c.TenantID, *contact, MaxEarlier+1)
		return contact, all, err
	}
	all, err := s.Store.VisitorHistory(ctx, c.TenantID, c.SiteID, c.Visitor, MaxEarlier+1)
	return nil, all, err
}

// bySite groups a contact's visitor ids by site.
func bySite(vs []store.ContactVisitor) []analytics.VisitorIDs {
	var out []analytics.VisitorIDs
	for _, v := range vs {
		i := slices.IndexFunc(out, func(x analytics.VisitorIDs) bool { return x.SiteID == v.SiteID })
		if i < 0 {
			out = append(out, analytics.VisitorIDs{SiteID: v.SiteID})
			i = len(out) - 1
		}
		out[i].Visitors = append(out[i].Visitors, v.Visitor)
	}
	return out
}

// EarlierTranscript opens, read-only, an earlier conversation of the
// customer of a chat the agent may read: one of ChatContext's Earlier.
func (s *Service) EarlierTranscript(ctx context.Context, a chat.Agent, id, earlier string) (chat.Transcript, error) {
	cc, err := s.ChatContext(ctx, a, id)
	if err != nil {
		return chat.Transcript{}, err
	}
	if !slices.ContainsFunc(cc.Earlier, func(e store.ContactConversation) bool { return e.ID == earlier }) {
		return chat.Transcript{}, chat.ErrNotFound
	}
	return s.Chat.ReadTranscript(ctx, a.Tenant, earlier)
}

// ContactPage is a contact with everything nudge knows of them.
type ContactPage struct {
	Contact       contacts.Contact            `json:"contact"`
	Visitors      []store.ContactVisitor      `json:"visitors"`
	Conversations []store.ContactConversation `json:"conversations"`
	Visits        []analytics.Visit           `json:"visits"`
	VisitCount    int                         `json:"visit_count"`
	Offers        []analytics.OfferSeen       `json:"offers"`
}

// MaxContactVisits bounds the visits a contact's page lists.
const MaxContactVisits = 200

// Contact returns a contact's page.
func (s *Service) Contact(ctx context.Context, tenant, id string) (ContactPage, error) {
	ct, err := s.Contacts.Get(ctx, tenant, id)
	if err != nil {
		return ContactPage{}, err
	}
	p := ContactPage{Contact: ct, Visitors: []store.ContactVisitor{}}
	vs, err := s.Contacts.Visitors(ctx, tenant, id)
	if err != nil {
		return ContactPage{}, err
	}
	p.Visitors = append(p.Visitors, vs...)
	if p.Conversations, err = s.Contacts.Conversations(ctx, tenant, ct, MaxEarlier); err != nil {
		return ContactPage{}, err
	}
	ids := bySite(vs)
	if p.Visits, p.VisitCount, err = s.Reports.Visits(ctx, ids, MaxContactVisits); err != nil {
		return ContactPage{}, err
	}
	if p.Offers, err = s.Reports.OffersSeen(ctx, ids); err != nil {
		return ContactPage{}, err
	}
	// Offers by name, as the offers report shows them.
	names := map[string]string{"page": "An offer from the page's code", "push": "An offer pushed by the site", "invite": "An agent's invitation"}
	named := map[string]bool{}
	for i, o := range p.Offers {
		if !named[o.SiteID] {
			named[o.SiteID] = true
			rs, err := s.Store.OfferRules(ctx, tenant, o.SiteID)
			if err != nil {
				return ContactPage{}, err
			}
			for _, r := range rs {
				var d struct{ Name string }
				json.Unmarshal(r.Draft, &d)
				names[r.ID] = d.Name
			}
		}
		if p.Offers[i].Name = names[o.Rule]; p.Offers[i].Name == "" {
			p.Offers[i].Name = "A rule since deleted"
		}
	}
	return p, nil
}
