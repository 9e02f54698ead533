package analytics

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Query selects the visits a report counts: a site, a range of days in the
// site's time zone (a visit belongs to the day it started), and filters.
type Query struct {
	SiteID   string
	From, To string // YYYY-MM-DD, inclusive, in the site's time zone
	Page     string // visits that viewed this path
	Source   string // "(direct)" for visits without one
	Device   string // desktop, mobile, tablet, other
	// Match keeps the visits whose FilterColumns column has the value
	// (browser, entry page, UTM fields…); "" matches visits without one.
	Match map[string]string
}

// FilterColumns are the visit columns a report may be filtered by, by the
// name the API gives the filter.
var FilterColumns = map[string]string{
	"referrer": "ref_host", "entry_page": "entry_path", "exit_page": "exit_path",
	"browser": "browser", "os": "os", "language": "language", "screen": "screen",
	"utm_source": "utm_source", "utm_medium": "utm_medium", "utm_campaign": "utm_campaign",
	"utm_term": "utm_term", "utm_content": "utm_content",
}

// Summary is the headline of a range.
type Summary struct {
	Visitors      int64   `json:"visitors"`
	Visits        int64   `json:"visits"`
	Pageviews     int64   `json:"pageviews"`
	ViewsPerVisit float64 `json:"views_per_visit"`
	BounceRate    float64 `json:"bounce_rate"`    // percent of visits with one pageview and no event
	VisitDuration float64 `json:"visit_duration"` // mean seconds from first to last event
}

// Point is one bucket of a time series.
type Point struct {
	Bucket    string `json:"bucket"` // YYYY-MM-DD, or YYYY-MM-DDTHH for hours
	Visitors  int64  `json:"visitors"`
	Visits    int64  `json:"visits"`
	Pageviews int64  `json:"pageviews"`
}

// Row is one line of a breakdown.
type Row struct {
	Value     string `json:"value"`
	Visitors  int64  `json:"visitors"`
	Visits    int64  `json:"visits,omitempty"`
	Pageviews int64  `json:"pageviews,omitempty"`
	Count     int64  `json:"count,omitempty"`
}

// Goal is a conversion: a custom event or a page.
type Goal struct {
	Event string `json:"event,omitempty"`
	Page  string `json:"page,omitempty"`
}

// GoalResult is a goal's conversions in a range.
type GoalResult struct {
	Goal
	Visitors       int64   `json:"visitors"`
	ConversionRate float64 `json:"conversion_rate"` // percent of the range's visitors
}

// Dimensions a breakdown may group visits by, with their column.
var Dimensions = map[string]string{
	"sources":      "source",
	"referrers":    "ref_host",
	"utm_sources":  "utm_source",
	"utm_mediums":  "utm_medium",
	"campaigns":    "utm_campaign",
	"utm_terms":    "utm_term",
	"utm_contents": "utm_content",
	"devices":      "device",
	"browsers":     "browser",
	"os":           "os",
	"languages":    "language",
	"screens":      "screen",
	"entry_pages":  "entry_path",
	"exit_pages":   "exit_path",
}

// Reports answers report queries from the rollups.
type Reports struct{ db *DB }

// NewReports reads from db.
func NewReports(db *DB) *Reports { return &Reports{db: db} }

// where is the visit filter of q over the visits table aliased v, for the
// site numbered site.
func (q Query) where(site int64) (string, []any) {
	var b strings.Builder
	args := []any{site, q.From, q.To}
	b.WriteString("v.site = ? AND v.day BETWEEN ? AND ?")
	if q.Source != "" {
		src := q.Source
		if src == "(direct)" {
			src = ""
		}
		b.WriteString(" AND v.source = ?")
		args = append(args, src)
	}
	if q.Device != "" {
		b.WriteString(" AND v.device = ?")
		args = append(args, q.Device)
	}
	names := make([]string, 0, len(q.Match))
	for name := range q.Match {
		names = append(names, name)
	}
	sort.Strings(names) // one statement text per set of filters
	for _, name := range names {
		if col, ok := FilterColumns[name]; ok {
			b.WriteString(" AND v." + col + " = ?")
			args = append(args, q.Match[name])
		}
	}
	if q.Page != "" {
		// The visits that viewed the page, from the page's own day index (a
		// page row has its visit's day), rather than a probe for every visit.
		b.WriteString(" AND v.visit IN (SELECT f.visit FROM page_visits f INDEXED BY page_visits_day WHERE f.site = ? AND f.day BETWEEN ? AND ? AND f.path = ? AND f.views > 0)")
		args = append(args, site, q.From, q.To, q.Page)
	}
	return b.String(), args
}

// summarySQL counts visitors, visits, pageviews, bounce rate and visit
// duration straight from the visit-keyed tables (the filtered path).
func (r *Reports) summarySQL(ctx context.Context, q Query) (Summary, error) {
	var s Summary
	site, ok, err := r.db.site(ctx, q.SiteID, false)
	if err != nil || !ok {
		return s, err
	}
	where, args := q.where(site)
	err = r.db.R.QueryRowContext(ctx, `SELECT COUNT(DISTINCT visitor), COUNT(*), COALESCE(SUM(pageviews), 0),
			COALESCE(AVG(CASE WHEN pageviews <= 1 AND events = 0 THEN 100.0 ELSE 0 END), 0),
			COALESCE(AVG((end_ts - start_ts) / 1000.0), 0)
		FROM visits v INDEXED BY visits_day WHERE `+where, args...).Scan(&s.Visitors, &s.Visits, &s.Pageviews, &s.BounceRate, &s.VisitDuration)
	if err != nil {
		return Summary{}, fmt.Errorf("analytics: summary: %w", err)
	}
	if s.Visits > 0 {
		s.ViewsPerVisit = float64(s.Pageviews) / float64(s.Visits)
	}
	return s, nil
}

// Timeseries buckets the range by day or hour (interval "day" or "hour"),
// every bucket present, empty ones as zeros.
func (r *Reports) timeseriesSQL(ctx context.Context, q Query, interval string) ([]Point, error) {
	site, _, err := r.db.site(ctx, q.SiteID, false)
	if err != nil {
		return nil, err
	}
	where, args := q.where(site)
	group := "v.day"
	if interval == "hour" {
		group = "v.day || 'T' || printf('%02d', v.hour)"
	}
	rows, err := r.db.R.QueryContext(ctx, `SELECT `+group+`, COUNT(DISTINCT visitor), COUNT(*), COALESCE(SUM(pageviews), 0)
		FROM visits v INDEXED BY visits_day WHERE `+where+` GROUP BY 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("analytics: time series: %w", err)
	}
	defer rows.Close()
	got := map[string]Point{}
	for rows.Next() {
		var p Point
		if err := rows.Scan(&p.Bucket, &p.Visitors, &p.Visits, &p.Pageviews); err != nil {
			return nil, fmt.Errorf("analytics: time series: %w", err)
		}
		got[p.Bucket] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: time series: %w", err)
	}
	return buckets(q, interval, got), nil
}

func withBucket(p Point, b string) Point { p.Bucket = b; return p }

// Breakdown groups the range's visits by a dimension (a key of Dimensions).
func (r *Reports) breakdownSQL(ctx context.Context, q Query, dim string, limit int) ([]Row, error) {
	col, ok := Dimensions[dim]
	if !ok {
		return nil, fmt.Errorf("analytics: no dimension %q", dim)
	}
	where, args, err := r.where(ctx, q)
	if err != nil {
		return nil, err
	}
	return r.rows(ctx, `SELECT v.`+col+`, COUNT(DISTINCT visitor), COUNT(*), COALESCE(SUM(pageviews), 0), 0
		FROM visits v INDEXED BY visits_day WHERE `+where+` GROUP BY 1 ORDER BY 2 DESC, 3 DESC, 1 LIMIT ?`, append(args, limit), dim == "sources")
}

// Pages are the most viewed paths, with their unique visitors.
func (r *Reports) pagesSQL(ctx context.Context, q Query, limit int) ([]Row, error) {
	where, args, err := r.where(ctx, q)
	if err != nil {
		return nil, err
	}
	return r.rows(ctx, `SELECT p.path, COUNT(DISTINCT p.visitor), COUNT(*), SUM(p.views), 0
		FROM page_visits p JOIN visits v ON v.site = p.site AND v.visit = p.visit
		WHERE p.views > 0 AND `+where+` GROUP BY 1 ORDER BY 4 DESC, 2 DESC, 1 LIMIT ?`, append(args, limit), false)
}

// Events are the custom events by name: how often, by how many visitors.
func (r *Reports) eventsSQL(ctx context.Context, q Query, limit int) ([]Row, error) {
	where, args, err := r.where(ctx, q)
	if err != nil {
		return nil, err
	}
	return r.rows(ctx, `SELECT e.name, COUNT(DISTINCT e.visitor), COUNT(*), 0, SUM(e.count)
		FROM event_visits e JOIN visits v ON v.site = e.site AND v.visit = e.visit
		WHERE `+where+` GROUP BY 1 ORDER BY 5 DESC, 2 DESC, 1 LIMIT ?`, append(args, limit), false)
}

// EventProperties break one custom event down by property: "key=value" rows.
func (r *Reports) eventPropertiesSQL(ctx context.Context, q Query, name string, limit int) ([]Row, error) {
	where, args, err := r.where(ctx, q)
	if err != nil {
		return nil, err
	}
	args = append([]any{name}, args...)
	return r.rows(ctx, `SELECT e.key || '=' || e.value, COUNT(DISTINCT e.visitor), COUNT(*), 0, SUM(e.count)
		FROM event_props e JOIN visits v ON v.site = e.site AND v.visit = e.visit
		WHERE e.name = ? AND `+where+` GROUP BY e.key, e.value ORDER BY 5 DESC, 2 DESC, 1 LIMIT ?`, append(args, limit), false)
}

// where resolves q's site and builds its filter; a site without data gets
// number 0, which matches nothing.
func (r *Reports) where(ctx context.Context, q Query) (string, []any, error) {
	site, _, err := r.db.site(ctx, q.SiteID, false)
	if err != nil {
		return "", nil, err
	}
	w, args := q.where(site)
	return w, args, nil
}

func (r *Reports) rows(ctx context.Context, query string, args []any, direct bool) ([]Row, error) {
	rows, err := r.db.R.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("analytics: breakdown: %w", err)
	}
	defer rows.Close()
	out := []Row{}
	for rows.Next() {
		var x Row
		if err := rows.Scan(&x.Value, &x.Visitors, &x.Visits, &x.Pageviews, &x.Count); err != nil {
			return nil, fmt.Errorf("analytics: breakdown: %w", err)
		}
		if direct && x.Value == "" {
			x.Value = "(direct)"
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// goalsSQL counts each goal's converted visitors and their share of all visitors.
func (r *Reports) goalsSQL(ctx context.Context, q Query, goals []Goal) ([]GoalResult, error) {
	sum, err := r.summarySQL(ctx, q)
	if err != nil {
		return nil, err
	}
	where, args, err := r.where(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]GoalResult, 0, len(goals))
	for _, g := range goals {
		var n int64
		var err error
		if g.Event != "" {
			err = r.db.R.QueryRowContext(ctx, `SELECT COUNT(DISTINCT e.visitor) FROM event_visits e
				JOIN visits v ON v.site = e.site AND v.visit = e.visit WHERE e.name = ? AND `+where, append([]any{g.Event}, args...)...).Scan(&n)
		} else {
			err = r.db.R.QueryRowContext(ctx, `SELECT COUNT(DISTINCT p.visitor) FROM page_visits p
				JOIN visits v ON v.site = p.site AND v.visit = p.visit WHERE p.path = ? AND p.views > 0 AND `+where, append([]any{g.Page}, args...)...).Scan(&n)
		}
		if err != nil {
			return nil, fmt.Errorf("analytics: goal %+v: %w", g, err)
		}
		res := GoalResult{Goal: g, Visitors: n}
		if sum.Visitors > 0 {
			res.ConversionRate = 100 * float64(n) / float64(sum.Visitors)
		}
		out = append(out, res)
	}
	return out, nil
}

// Realtime is who is on the site now: visitors active in the last five minutes
// and the pages they are on.
type Realtime struct {
	Visitors int64 `json:"visitors"`
	Pages    []Row `json:"pages"`
}

// Realtime counts the visitors active within the five minutes before now.
func (r *Reports) Realtime(ctx context.Context, siteID string, now time.Time) (Realtime, error) {
	since := now.Add(-5 * time.Minute).UnixMilli()
	rt := Realtime{Pages: []Row{}}
	site, ok, err := r.db.site(ctx, siteID, false)
	if err != nil || !ok {
		return rt, err
	}
	if err := r.db.R.QueryRowContext(ctx, `SELECT COUNT(DISTINCT visitor) FROM events WHERE site = ? AND ts >= ?`, site, since).Scan(&rt.Visitors); err != nil {
		return rt, fmt.Errorf("analytics: realtime: %w", err)
	}
	// The page each active visitor viewed last.
	pages, err := r.rows(ctx, `SELECT path, COUNT(*), COUNT(*), 0, 0 FROM (
			SELECT visitor, path, MAX(ts) FROM events WHERE site = ? AND ts >= ? AND type = 'pageview' GROUP BY visitor)
		GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20`, []any{site, since}, false)
	rt.Pages = pages
	return rt, err
}

// Bots counts the events dropped in q's days because bots sent them.
func (r *Reports) Bots(ctx context.Context, q Query) (int64, error) {
	site, ok, err := r.db.site(ctx, q.SiteID, false)
	if err != nil || !ok {
		return 0, err
	}
	var n int64
	if err := r.db.R.QueryRowContext(ctx, `SELECT COALESCE(SUM(events), 0) FROM bot_days WHERE site = ? AND day BETWEEN ? AND ?`, site, q.From, q.To).Scan(&n); err != nil {
		return 0, fmt.Errorf("analytics: bots: %w", err)
	}
	return n, nil
}
