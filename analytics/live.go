package analytics

import (
	"context"
	"fmt"
	"time"
)

// LiveVisitor is a visitor on the site now, as their latest visit says.
type LiveVisitor struct {
	Visitor    string    `json:"visitor"`
	Page       string    `json:"page"`  // the path they are on
	Title      string    `json:"title"` // its title
	Since      time.Time `json:"since"` // the visit's start
	LastSeen   time.Time `json:"last_seen"`
	Pages      int       `json:"pages"`    // pageviews this visit
	Referrer   string    `json:"referrer"` // the visit's referring host, or its campaign source
	Returning  bool      `json:"returning"`
	Device     string    `json:"device"`
	Browser    string    `json:"browser"`
	UserID     string    `json:"-"` // the stored user id: a verified one's fingerprint (BlindPrefix)
	OfferShown bool      `json:"offer_shown"`
}

// LiveWindow is how recently a visitor must have been active to be on the
// site now (as the realtime report counts).
const LiveWindow = 5 * time.Minute

// LiveVisitors lists the visitors active on a site within LiveWindow, the
// most recently active first, at most limit: each one's latest visit, and
// whether a proactive offer was shown in it.
func (r *Reports) LiveVisitors(ctx context.Context, siteID string, now time.Time, limit int) ([]LiveVisitor, error) {
	out := []LiveVisitor{}
	site, ok, err := r.db.site(ctx, siteID, false)
	if err != nil || !ok {
		return out, err
	}
	rows, err := r.db.R.QueryContext(ctx, `SELECT v.visitor, v.exit_path, v.exit_title, v.start_ts, v.end_ts, v.pageviews,
			CASE WHEN v.ref_host <> '' THEN v.ref_host ELSE v.utm_source END, v.visit_n > 1, v.device, v.browser, v.user_id,
			EXISTS (SELECT 1 FROM offer_visits o WHERE o.site = v.site AND o.visit = v.visit AND o.shown > 0)
		FROM visits v INDEXED BY visits_end
		WHERE v.site = ?1 AND v.end_ts >= ?2 AND v.end_ts = (SELECT MAX(w.end_ts) FROM visits w INDEXED BY visits_end
			WHERE w.site = ?1 AND w.end_ts >= ?2 AND w.visitor = v.visitor)
		ORDER BY v.end_ts DESC LIMIT ?3`, site, now.Add(-LiveWindow).UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("analytics: live visitors: %w", err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var x LiveVisitor
		var start, end int64
		if err := rows.Scan(&x.Visitor, &x.Page, &x.Title, &start, &end, &x.Pages, &x.Referrer, &x.Returning, &x.Device, &x.Browser,
			&x.UserID, &x.OfferShown); err != nil {
			return nil, fmt.Errorf("analytics: live visitors: %w", err)
		}
		if seen[x.Visitor] {
			continue // two visits ending in the same millisecond
		}
		seen[x.Visitor] = true
		x.Since, x.LastSeen = time.UnixMilli(start).UTC(), time.UnixMilli(end).UTC()
		out = append(out, x)
	}
	return out, rows.Err()
}
