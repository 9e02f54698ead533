package ops

import (
	"context"
	"time"

	"github.com/nudgehq/nudge/analytics"
)

// Housekeep does one round of housekeeping as of now: expired sessions go,
// raw analytics events and transcripts older than their retention go, what
// a deleted site left in the analytics goes, and closed days are rolled up
// for fast reports, and the email delivery log keeps MailLogKept. A step that fails is logged and tried at the next round.
func (s *Service) Housekeep(ctx context.Context, now time.Time) {
	if n, err := s.Store.DeleteExpiredSessions(ctx, now); err != nil && ctx.Err() == nil {
		s.log.Warn("sweep sessions", "err", err)
	} else if n > 0 {
		s.log.Debug("swept sessions", "count", n)
	}
	sites, err := s.Store.SitesWithRetention(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("retention", "err", err)
	}
	cutoffs := make(map[string]time.Time, len(sites))
	for _, st := range sites {
		cutoffs[st.ID] = now.AddDate(0, 0, -st.Settings.RetentionDays)
	}
	if len(sites) > 0 && err == nil {
		if n, err := analytics.DropExpiredDays(ctx, s.Analytics, cutoffs); err != nil && ctx.Err() == nil {
			s.log.Warn("retention: drop days of raw events", "err", err)
		} else if n > 0 {
			s.log.Info("retention: days of raw events dropped", "events", n)
		}
	}
	for _, st := range sites {
		cutoff := cutoffs[st.ID]
		if n, err := analytics.DropEventsBefore(ctx, s.Analytics, st.ID, cutoff); err != nil && ctx.Err() == nil {
			s.log.Warn("retention", "site", st.Key, "err", err)
		} else if n > 0 {
			s.log.Info("retention: raw events deleted", "site", st.Key, "events", n, "before", cutoff)
		}
	}
	s.dropOldTranscripts(ctx, now)
	if n, err := s.Store.PruneMail(ctx, now.Add(-MailLogKept)); err != nil && ctx.Err() == nil {
		s.log.Warn("prune the email delivery log", "err", err)
	} else if n > 0 {
		s.log.Debug("email delivery log pruned", "emails", n)
	}
	if err := s.fillIdentities(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("fill in identities", "err", err)
	}
	if err := s.sweepSites(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("sweep deleted sites", "err", err)
	}
	for ctx.Err() == nil {
		n, err := s.Contacts.IndexUnindexed(ctx, 500)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("index the contacts an earlier release made", "err", err)
		}
		if err != nil || n < 500 {
			break
		}
	}
	if err := s.blindUserIDs(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("fingerprint the user ids an earlier release kept", "err", err)
	}
	zones, err := s.Store.SiteZones(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("roll up", "err", err)
		return
	}
	if n, err := analytics.RollAll(ctx, s.Analytics, func(id string) *time.Location { return Zone(zones[id]) }, now); err != nil && ctx.Err() == nil {
		s.log.Warn("roll up", "err", err)
	} else if n > 0 {
		s.log.Info("analytics days rolled up", "days", n)
	}
}

// dropOldTranscripts applies the tenants' transcript retention: chats closed
// longer ago go from the search index, then from the store (with their
// messages, files and webhook deliveries), a few hundred at a time. The index
// goes first, so that a failure leaves both as they were for the next round.
func (s *Service) dropOldTranscripts(ctx context.Context, now time.Time) {
	tenants, err := s.Store.TranscriptRetention(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("transcript retention", "err", err)
		}
		return
	}
	for tenant, days := range tenants {
		cutoff := now.AddDate(0, 0, -days)
		total := 0
		for ctx.Err() == nil {
			ids, err := s.Store.ClosedBefore(ctx, tenant, cutoff, 500)
			if err == nil && len(ids) > 0 {
				if err = s.Search.DeleteConversations(ctx, tenant, ids); err == nil {
					err = s.Store.DeleteConversations(ctx, tenant, ids)
				}
			}
			if err != nil {
				s.log.Warn("transcript retention", "tenant", tenant, "err", err)
				break
			}
			total += len(ids)
			if len(ids) < 500 {
				break
			}
		}
		if total > 0 {
			s.log.Info("transcript retention: chats deleted", "tenant", tenant, "conversations", total, "closed_before", cutoff)
		}
	}
}
