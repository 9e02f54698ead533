package ops

import (
	"context"
	"errors"
	"time"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/contacts"
	"github.com/nudgehq/nudge/email"
	"github.com/nudgehq/nudge/store"
)

// sighting is a verified identity seen on a visitor. What the page adds
// unsigned (email, name) is kept only when it fits a contact: a page's bad
// email must not cost the link the signature proved.
func sighting(tenant, site, visitor, id, address, name, by string, at time.Time) contacts.Sighting {
	if len(address) > contacts.MaxEmail || !email.Address(address) {
		address = ""
	}
	if len(name) > contacts.MaxName {
		name = ""
	}
	return contacts.Sighting{Tenant: tenant, Site: site, Visitor: visitor, ExternalID: id, Email: address, Name: name, VerifiedBy: by, At: at}
}

// Identified records that a chat's visitor proved who they are, by the
// site's signature of their id (hash) or a visitor token (token): their
// contact is made or updated and their visitor id linked, in the
// background. An unverified identity links nothing.
func (s *Service) Identified(site store.Site, visitor string, id *chat.Identity, by string) {
	if id == nil || !id.Verified || id.ID == "" {
		return
	}
	s.Links.See(sighting(site.TenantID, site.ID, visitor, id.ID, id.Email, id.Name, by, time.Now()))
}

// ErasedContact is what erasing a contact removed.
type ErasedContact struct {
	Erased
	Sites int `json:"sites"`
}

// EraseContact deletes a contact and everything linked to it on every site
// of the tenant: the visits and events of each visitor id it was verified
// on, its conversations (index first, then store), and the contact itself,
// last, since it is what finds the rest: a failure part-way is completed by
// the same call again.
func (s *Service) EraseContact(ctx context.Context, actor store.Actor, tenant, id string) (ErasedContact, error) {
	// A sighting still queued must not make the contact again afterwards.
	if err := s.Links.Flush(ctx); err != nil {
		return ErasedContact{}, err
	}
	c, err := s.Contacts.Get(ctx, tenant, id)
	if err != nil {
		return ErasedContact{}, err
	}
	var out ErasedContact
	for p := (store.Page{Limit: 200}); ; {
		sites, next, err := s.Store.Sites(ctx, tenant, p)
		if err != nil {
			return ErasedContact{}, err
		}
		for _, site := range sites {
			e, err := s.EraseVisitor(ctx, actor, tenant, site.ID, c.ExternalID)
			if err != nil {
				return ErasedContact{}, err
			}
			out.Events += e.Events
			out.Conversations += e.Conversations
			out.Sites++
		}
		if p.After = next; next == "" {
			break
		}
	}
	if err := s.Contacts.Delete(ctx, actor, tenant, c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return ErasedContact{}, err
	}
	return out, nil
}

// blindUserIDs replaces the verified user ids an earlier release kept in
// clear in the analytics file by their fingerprints (the contacts'), on
// every site; once done, each round reads an index and finds none.
func (s *Service) blindUserIDs(ctx context.Context) error {
	tenants, err := s.Store.SiteTenants(ctx)
	if err != nil {
		return err
	}
	for site, tenant := range tenants {
		n, err := analytics.BlindUserIDs(ctx, s.Analytics, site, func(id string) (string, error) {
			return s.Contacts.Fingerprint(ctx, tenant, id)
		})
		if err != nil {
			return err
		}
		if n > 0 {
			s.log.Info("analytics: user ids kept as fingerprints", "site", site, "users", n)
		}
	}
	return nil
}
