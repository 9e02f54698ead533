package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/store"
)

// DeleteSite deletes a tenant's site with everything its pages and chats
// left: its open chats are closed (agents let them go, visitors are told),
// its conversations leave the search index and then the store (with their
// messages, files and webhook deliveries), its analytics go, and the site
// itself last. Each step can be repeated, so a call that fails part-way is
// simply made again: while the site exists it finds what is left.
func (s *Service) DeleteSite(ctx context.Context, actor store.Actor, tenant, siteID string) error {
	site, err := s.Store.Site(ctx, tenant, siteID)
	if err != nil {
		return err
	}
	if err := s.closeChats(ctx, tenant, closeArgs{Site: site.ID}, false); err != nil {
		return err
	}
	ids, err := s.Store.SiteConversations(ctx, tenant, site.ID)
	if err != nil {
		return err
	}
	if err := s.dropConversations(ctx, tenant, ids); err != nil {
		return err
	}
	if err := s.dropAnalytics(ctx, site.ID); err != nil {
		return err
	}
	if err := s.Store.DeleteSite(ctx, actor, tenant, site.ID); err != nil {
		return err
	}
	s.Forget(site.Key)
	// Events accepted while the site was being deleted go too; one that
	// still slips in is removed by the next housekeeping (sweepSites).
	return s.dropAnalytics(ctx, site.ID)
}

// dropConversations removes conversations from the search index, then from
// the store (their webhook events and deliveries go with them). The messages
// already handed to the index are indexed first, so that none is indexed
// after the removal.
func (s *Service) dropConversations(ctx context.Context, tenant string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := s.Feed.Flush(fctx)
	cancel()
	if err != nil {
		s.log.Warn("the search index is behind; removing the conversations anyway", "err", err)
	}
	if err := s.Search.DeleteConversations(ctx, tenant, ids); err != nil {
		return fmt.Errorf("remove %d conversations from the search index: %w", len(ids), err)
	}
	return s.Store.DeleteConversations(ctx, tenant, ids)
}

// dropAnalytics deletes a site's analytics, after the events still queued.
func (s *Service) dropAnalytics(ctx context.Context, siteID string) error {
	if err := s.Ingest.Flush(ctx); err != nil {
		return err
	}
	return analytics.DeleteSite(ctx, s.Analytics, siteID)
}

// sweepSites removes the analytics of sites that no longer exist: what a
// deletion interrupted by a crash, or an event that raced it, left behind.
func (s *Service) sweepSites(ctx context.Context) error {
	// The analytics first: a site has an analytics row only after it was in
	// the store, so one missing from the store read after is gone for good.
	ids, err := analytics.SiteIDs(ctx, s.Analytics)
	if err != nil {
		return err
	}
	live, err := s.Store.SiteZones(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, ok := live[id]; ok {
			continue
		}
		if err := analytics.DeleteSite(ctx, s.Analytics, id); err != nil {
			return err
		}
		s.log.Info("analytics of a deleted site removed", "site", id)
	}
	return nil
}
