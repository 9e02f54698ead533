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

// Reports answers report queries from the rollups and the day tables.
type Reports struct {
	db     *DB
	tables *dayTables
}

// NewReports reads from db.
func NewReports(db *DB) *Reports { return &Reports{db: db, tables: newDayTables(dayTableBudget)} }

// filterSQL is q's filters as conditions on the visits table aliased v, each
// starting with " AND ".
func (q Query) filterSQL() (string, []any) {
	var b strings.Builder
	var args []any
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
		b.WriteString(" AND nudge_viewed(v.pages, ?)")
		args = append(args, q.Page)
	}
	return b.String(), args
}

// filterKey names q's filters, whatever their order.
func (q Query) filterKey() string {
	f, args := q.filterSQL()
	return fmt.Sprint(f, args)
}

// where is q's range and filters over the visits table aliased v, for the
// site numbered site.
func (q Query) where(site int64) (string, []any) {
	f, fargs := q.filterSQL()
	return "v.site = ? AND v.day BETWEEN ? AND ?" + f, append([]any{site, q.From, q.To}, fargs...)
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
	if err := r.db.R.QueryRowContext(ctx, `SELECT COUNT(DISTINCT visitor) FROM visits`+r.db.Dialect.IndexedBy("visits_end")+` WHERE site = ? AND end_ts >= ?`,
		site, since).Scan(&rt.Visitors); err != nil {
		return rt, fmt.Errorf("analytics: realtime: %w", err)
	}
	// The page each active visitor viewed last: its latest visit's.
	rows, err := r.db.R.QueryContext(ctx, `SELECT exit_path, COUNT(*) FROM (
			SELECT exit_path, row_number() OVER (PARTITION BY visitor ORDER BY end_ts DESC) AS latest
			FROM visits`+r.db.Dialect.IndexedBy("visits_end")+` WHERE site = ? AND end_ts >= ?) l
		WHERE latest = 1 AND exit_path <> '' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20`, site, since)
	if err != nil {
		return rt, fmt.Errorf("analytics: realtime: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x Row
		if err := rows.Scan(&x.Value, &x.Visitors); err != nil {
			return rt, fmt.Errorf("analytics: realtime: %w", err)
		}
		x.Visits = x.Visitors
		rt.Pages = append(rt.Pages, x)
	}
	return rt, rows.Err()
}

// Dropped counts the events not stored in q's days because the site's daily
// budget was spent or they were larger than its limit.
func (r *Reports) Dropped(ctx context.Context, q Query) (int64, error) {
	return r.daySum(ctx, q, `SELECT COALESCE(SUM(dropped), 0) FROM site_days WHERE site = ? AND day BETWEEN ? AND ?`)
}

// Bots counts the events dropped in q's days because bots sent them.
func (r *Reports) Bots(ctx context.Context, q Query) (int64, error) {
	return r.daySum(ctx, q, `SELECT COALESCE(SUM(events), 0) FROM bot_days WHERE site = ? AND day BETWEEN ? AND ?`)
}

// daySum runs a sum over a site's days (query takes the site, from and to).
func (r *Reports) daySum(ctx context.Context, q Query, query string) (int64, error) {
	site, ok, err := r.db.site(ctx, q.SiteID, false)
	if err != nil || !ok {
		return 0, err
	}
	var n int64
	if err := r.db.R.QueryRowContext(ctx, query, site, q.From, q.To).Scan(&n); err != nil {
		return 0, fmt.Errorf("analytics: count the dropped events: %w", err)
	}
	return n, nil
}
