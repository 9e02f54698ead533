package analytics

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RecentVisit is one of a site's latest visits, with the facts an offer rule
// would have seen at its last page: what a marketer previews a rule against.
type RecentVisit struct {
	Visit   string         `json:"visit"`
	Visitor string         `json:"visitor"`
	Start   time.Time      `json:"start"`
	End     time.Time      `json:"end"`
	Facts   map[string]any `json:"facts"`
}

// RecentVisits returns a site's latest visits (at most limit, newest first)
// with the facts the analytics file knows: the last page's path and title,
// the visit's pages, number, seconds, device, browser, language, UTM fields,
// whether the visitor was identified, and its custom events. Facts only the
// page knows (scroll, exit intent, variables) are left out.
func (r *Reports) RecentVisits(ctx context.Context, siteID string, limit int) ([]RecentVisit, error) {
	out := []RecentVisit{}
	site, ok, err := r.db.site(ctx, siteID, false)
	if err != nil || !ok {
		return out, err
	}
	rows, err := r.db.R.QueryContext(ctx, `SELECT v.visit, v.visitor, v.visit_n, v.start_ts, v.end_ts, v.pageviews, v.exit_path,
			v.utm_source, v.utm_medium, v.utm_campaign, v.utm_term, v.utm_content, v.browser, v.device, v.language, v.user_id <> '',
			v.exit_title, v.evs
		FROM visits v WHERE v.site = ? AND v.day >= ? ORDER BY v.start_ts DESC LIMIT ?`,
		// The last days only (days are the site's: two of margin for any zone).
		site, time.Now().UTC().AddDate(0, 0, -3).Format(time.DateOnly), limit)
	if err != nil {
		return nil, fmt.Errorf("analytics: recent visits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v RecentVisit
		var n, start, end, pages int64
		var path, src, med, camp, term, content, browser, device, lang, title string
		var identified bool
		var evs []byte
		if err := rows.Scan(&v.Visit, &v.Visitor, &n, &start, &end, &pages, &path, &src, &med, &camp, &term, &content,
			&browser, &device, &lang, &identified, &title, &evs); err != nil {
			return nil, fmt.Errorf("analytics: recent visits: %w", err)
		}
		v.Start, v.End = time.UnixMilli(start).UTC(), time.UnixMilli(end).UTC()
		f := map[string]any{"page.path": path, "visit.pageviews": pages, "visit.number": n, "visitor.returning": n > 1,
			"visitor.identified": identified, "visit.seconds": (end - start) / 1000}
		for k, s := range map[string]string{"page.title": title, "visitor.browser": ruleBrowser(browser), "visitor.device": device, "visitor.language": lang,
			"utm.source": src, "utm.medium": med, "utm.campaign": camp, "utm.term": term, "utm.content": content} {
			if s != "" {
				f[k] = s
			}
		}
		eachEntry(evs, 1, func(name []byte, n [3]int64) bool {
			f["events."+string(name)] = n[0]
			return true
		})
		v.Facts = f
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: recent visits: %w", err)
	}
	return out, nil
}

// ruleBrowser names a browser as the visitor.browser fact of offer rules does.
func ruleBrowser(name string) string {
	l := strings.ToLower(name)
	for _, b := range []string{"edge", "samsung", "opera", "firefox", "chrome", "safari"} {
		if strings.Contains(l, b) {
			return b
		}
	}
	if l == "" {
		return ""
	}
	return "other"
}
