package analytics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A visitor's history, for the agent beside a chat and a contact's page: the
// pages of a visit and a person's visits, read from the visits table (one
// row a visit, its pages in the order first viewed) by the visitor index.

// PageTime is a page of a visit: viewed Views times, for Seconds engaged.
type PageTime struct {
	Path    string `json:"path"`
	Views   int64  `json:"views"`
	Seconds int64  `json:"seconds"`
}

// Visit is one visit of a visitor.
type Visit struct {
	SiteID    string     `json:"site_id"`
	Visitor   string     `json:"visitor"`
	Start     time.Time  `json:"start"`
	End       time.Time  `json:"end"`
	Pageviews int64      `json:"pageviews"`
	Entry     string     `json:"entry"`
	Exit      string     `json:"exit"`
	Referrer  string     `json:"referrer"`
	Device    string     `json:"device"`
	Browser   string     `json:"browser"`
	Pages     []PageTime `json:"pages,omitempty"` // in the order first viewed (CurrentVisit only)
}

// CurrentVisit is a visitor's latest visit on a site, with its pages; ok is
// false when the analytics know none.
func (r *Reports) CurrentVisit(ctx context.Context, siteID, visitor string) (Visit, bool, error) {
	site, ok, err := r.db.site(ctx, siteID, false)
	if err != nil || !ok {
		return Visit{}, false, err
	}
	var v Visit
	var start, end int64
	var pages []byte
	err = r.db.R.QueryRowContext(ctx, `SELECT start_ts, end_ts, pageviews, entry_path, exit_path,
			CASE WHEN ref_host <> '' THEN ref_host ELSE utm_source END, device, browser, pages
		FROM visits`+r.db.Dialect.IndexedBy("visits_visitor")+` WHERE site = ? AND visitor = ? ORDER BY end_ts DESC LIMIT 1`, site, visitor).
		Scan(&start, &end, &v.Pageviews, &v.Entry, &v.Exit, &v.Referrer, &v.Device, &v.Browser, &pages)
	if isNoRows(err) {
		return Visit{}, false, nil
	}
	if err != nil {
		return Visit{}, false, fmt.Errorf("analytics: current visit: %w", err)
	}
	v.SiteID, v.Visitor, v.Start, v.End = siteID, visitor, time.UnixMilli(start).UTC(), time.UnixMilli(end).UTC()
	v.Pages = []PageTime{}
	eachEntry(pages, 3, func(key []byte, n [3]int64) bool {
		v.Pages = append(v.Pages, PageTime{Path: string(key), Views: n[0], Seconds: n[1] / 1000})
		return true
	})
	return v, true, nil
}

// VisitorIDs are visitor ids of one site.
type VisitorIDs struct {
	SiteID   string
	Visitors []string
}

// Visits lists the visits of visitor ids on sites, the latest first, at most
// limit, and counts them all.
func (r *Reports) Visits(ctx context.Context, ids []VisitorIDs, limit int) ([]Visit, int, error) {
	out := []Visit{}
	total := 0
	for _, s := range ids {
		if len(s.Visitors) == 0 {
			continue
		}
		site, ok, err := r.db.site(ctx, s.SiteID, false)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			continue
		}
		args := []any{site}
		for _, v := range s.Visitors {
			args = append(args, v)
		}
		in := `(?` + strings.Repeat(", ?", len(s.Visitors)-1) + `)`
		var n int
		if err := r.db.R.QueryRowContext(ctx, `SELECT count(*) FROM visits`+r.db.Dialect.IndexedBy("visits_visitor")+` WHERE site = ? AND visitor IN `+in, args...).Scan(&n); err != nil {
			return nil, 0, fmt.Errorf("analytics: visits: %w", err)
		}
		total += n
		rows, err := r.db.R.QueryContext(ctx, `SELECT visitor, start_ts, end_ts, pageviews, entry_path, exit_path,
				CASE WHEN ref_host <> '' THEN ref_host ELSE utm_source END, device, browser
			FROM visits`+r.db.Dialect.IndexedBy("visits_visitor")+` WHERE site = ? AND visitor IN `+in+` ORDER BY end_ts DESC LIMIT ?`, append(args, limit)...)
		if err != nil {
			return nil, 0, fmt.Errorf("analytics: visits: %w", err)
		}
		for rows.Next() {
			v := Visit{SiteID: s.SiteID}
			var start, end int64
			if err := rows.Scan(&v.Visitor, &start, &end, &v.Pageviews, &v.Entry, &v.Exit, &v.Referrer, &v.Device, &v.Browser); err != nil {
				rows.Close()
				return nil, 0, fmt.Errorf("analytics: visits: %w", err)
			}
			v.Start, v.End = time.UnixMilli(start).UTC(), time.UnixMilli(end).UTC()
			out = append(out, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, 0, err
		}
	}
	// The latest first across sites, at most limit.
	sortVisits(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, total, nil
}

func sortVisits(vs []Visit) {
	slices.SortStableFunc(vs, func(a, b Visit) int { return b.End.Compare(a.End) })
}

// OfferSeen is a proactive offer a person's visits met: how often it was
// shown, accepted and led to a chat.
type OfferSeen struct {
	SiteID   string    `json:"site_id"`
	Rule     string    `json:"rule"`
	Name     string    `json:"name"` // the rule's name, filled by the caller (analytics knows ids only)
	Visits   int64     `json:"visits"`
	Shown    int64     `json:"shown"`
	Accepted int64     `json:"accepted"`
	Declined int64     `json:"declined"`
	Chats    int64     `json:"chats"`
	Last     time.Time `json:"last"`
}

// OffersSeen lists the offers the visits of visitor ids met, by site and rule.
func (r *Reports) OffersSeen(ctx context.Context, ids []VisitorIDs) ([]OfferSeen, error) {
	out := []OfferSeen{}
	for _, s := range ids {
		if len(s.Visitors) == 0 {
			continue
		}
		site, ok, err := r.db.site(ctx, s.SiteID, false)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		args := []any{site}
		for _, v := range s.Visitors {
			args = append(args, v)
		}
		rows, err := r.db.R.QueryContext(ctx, `SELECT rule, count(*), sum(shown), sum(accepted), sum(declined), sum(chats), max(start_ts)
			FROM offer_visits WHERE site = ? AND variant = 'offer' AND visitor IN (?`+strings.Repeat(", ?", len(s.Visitors)-1)+`)
			GROUP BY rule ORDER BY max(start_ts) DESC`, args...)
		if err != nil {
			return nil, fmt.Errorf("analytics: offers seen: %w", err)
		}
		for rows.Next() {
			o := OfferSeen{SiteID: s.SiteID}
			var last int64
			if err := rows.Scan(&o.Rule, &o.Visits, &o.Shown, &o.Accepted, &o.Declined, &o.Chats, &last); err != nil {
				rows.Close()
				return nil, fmt.Errorf("analytics: offers seen: %w", err)
			}
			o.Last = time.UnixMilli(last).UTC()
			out = append(out, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
