package ops

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/store"
)

// Erased is what erasing a visitor removed.
type Erased struct {
	Events        int64 `json:"deleted_events"`
	Conversations int   `json:"deleted_conversations"`
}

// ErrBadVisitor is an empty or oversized visitor id.
var ErrBadVisitor = errors.New("a visitor or user id of at most 128 bytes")

// EraseVisitor deletes what a site holds about one visitor, named by the
// visitor id the page gave them or by the user id the site verified (then on
// every device it was verified on): their analytics events and visits (the
// days that counted them are rolled up again now), and their chats, which
// are closed, removed from the search index and then from the store. A
// failure part-way leaves what is not yet deleted findable, and the same
// call again completes it. The erasure is audited under actor.
func (s *Service) EraseVisitor(ctx context.Context, actor store.Actor, tenant, siteID, id string) (Erased, error) {
	if id == "" || len(id) > 128 {
		return Erased{}, ErrBadVisitor
	}
	site, err := s.Store.Site(ctx, tenant, siteID)
	if err != nil {
		return Erased{}, err
	}
	// Events and sightings still queued for this visitor must not land
	// after the erasure.
	if err := s.Ingest.Flush(ctx); err != nil {
		return Erased{}, err
	}
	if err := s.Links.Flush(ctx); err != nil {
		return Erased{}, err
	}
	// The devices the site identified the user on, read before the
	// analytics that link them go.
	visitors, err := analytics.VisitorsOf(ctx, s.Analytics, site.ID, id)
	if err != nil {
		return Erased{}, err
	}
	// And those whose pages identified them since user ids are kept as
	// their fingerprints.
	fpID, err := s.Contacts.Fingerprint(ctx, tenant, id)
	if err != nil {
		return Erased{}, err
	}
	fpID = analytics.BlindPrefix + fpID
	more, err := analytics.VisitorsOf(ctx, s.Analytics, site.ID, fpID)
	if err != nil {
		return Erased{}, err
	}
	visitors = append(append(visitors, more...), id, fpID)
	// And the devices its contact was verified on, chats included.
	if c, err := s.Contacts.ByExternalID(ctx, tenant, id); err == nil {
		linked, err := s.Contacts.Visitors(ctx, tenant, c.ID)
		if err != nil {
			return Erased{}, err
		}
		for _, v := range linked {
			if v.SiteID == site.ID {
				visitors = append(visitors, v.Visitor)
			}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return Erased{}, err
	}
	slices.Sort(visitors)
	visitors = slices.Compact(visitors)
	fp, err := chat.IdentityFingerprint(ctx, s.Ring, tenant, &chat.Identity{ID: id, Verified: true})
	if err != nil {
		return Erased{}, err
	}
	if err := s.fillIdentities(ctx); err != nil {
		return Erased{}, err
	}
	if err := s.closeChats(ctx, tenant, closeArgs{Site: site.ID, Visitors: visitors, Identity: fp}, true); err != nil {
		return Erased{}, err
	}
	convs, err := s.Store.IdentityConversations(ctx, tenant, site.ID, fp)
	if err != nil {
		return Erased{}, err
	}
	for _, v := range visitors {
		ids, err := s.Store.VisitorConversations(ctx, tenant, site.ID, v)
		if err != nil {
			return Erased{}, err
		}
		convs = append(convs, ids...)
	}
	slices.Sort(convs)
	convs = slices.Compact(convs)
	// The chats go before the analytics: the analytics are what links the
	// user's devices, and a retry must still find them.
	if err := s.dropConversations(ctx, tenant, convs); err != nil {
		return Erased{}, err
	}
	var n int64
	for _, v := range visitors {
		m, err := analytics.Erase(ctx, s.Analytics, site.ID, v)
		if err != nil {
			return Erased{}, err
		}
		n += m
	}
	// The links go last among the visitor's data: they find the devices.
	if err := s.Store.UnlinkContactVisitors(ctx, tenant, site.ID, visitors); err != nil {
		return Erased{}, err
	}
	if _, err := analytics.Roll(ctx, s.Analytics, site.ID, Zone(site.TimeZone), time.Now()); err != nil {
		return Erased{}, err
	}
	out := Erased{Events: n, Conversations: len(convs)}
	if err := s.Store.RecordAudit(ctx, actor, tenant, "visitor.erase", "site", site.ID,
		map[string]any{"visitor": id, "events": out.Events, "conversations": out.Conversations}); err != nil {
		return Erased{}, err
	}
	return out, nil
}
