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
	// One row per visitor, its latest visit (one scan of the active visits,
	// numbered per visitor), then whether that visit showed an offer.
	rows, err := r.db.R.QueryContext(ctx, `SELECT l.visitor, l.exit_path, l.exit_title, l.start_ts, l.end_ts, l.pageviews, l.ref, l.ret,
			l.device, l.browser, l.user_id,
			EXISTS (SELECT 1 FROM offer_visits o WHERE o.site = ?1 AND o.visit = l.visit AND o.shown > 0)
		FROM (SELECT visitor, visit, exit_path, exit_title, start_ts, end_ts, pageviews,
				CASE WHEN ref_host <> '' THEN ref_host ELSE utm_source END AS ref, visit_n > 1 AS ret, device, browser, user_id,
				row_number() OVER (PARTITION BY visitor ORDER BY end_ts DESC) AS latest
			FROM visits`+r.db.Dialect.IndexedBy("visits_end")+` WHERE site = ?1 AND end_ts >= ?2) l
		WHERE l.latest = 1
		ORDER BY l.end_ts DESC LIMIT ?3`, site, now.Add(-LiveWindow).UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("analytics: live visitors: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x LiveVisitor
		var start, end int64
		if err := rows.Scan(&x.Visitor, &x.Page, &x.Title, &start, &end, &x.Pages, &x.Referrer, &x.Returning, &x.Device, &x.Browser,
			&x.UserID, &x.OfferShown); err != nil {
			return nil, fmt.Errorf("analytics: live visitors: %w", err)
		}
		x.Since, x.LastSeen = time.UnixMilli(start).UTC(), time.UnixMilli(end).UTC()
		out = append(out, x)
	}
	return out, rows.Err()
}
