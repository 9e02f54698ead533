package analytics

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// Reports without filters add up rolled days (day_rollups: counts and visitor
// bitmaps per day) and compute the rest of the range, the open days and any
// day not rolled yet or changed since, from the visits table. Visitors are
// counted exactly across both: a live visitor with a number joins the bitmap
// union, one without cannot be in any rolled day. Filtered reports read the
// visits table for the whole range.

func (q Query) filtered() bool {
	return q.Page != "" || q.Source != "" || q.Device != "" || len(q.Match) > 0
}

// single returns the rolled dimension and value of a query with exactly one
// filter, whose visits the rollups of that value already describe.
func (q Query) single() (dim, value string, ok bool) {
	n := 0
	for _, f := range []string{q.Page, q.Source, q.Device} {
		if f != "" {
			n++
		}
	}
	switch {
	case n != 1 || len(q.Match) > 0:
		return "", "", false
	case q.Page != "":
		return "page", q.Page, true
	case q.Source != "":
		if q.Source == "(direct)" {
			return "source", "", true
		}
		return "source", q.Source, true
	default:
		return "device", q.Device, true
	}
}

// unfiltered is q without its filters.
func (q Query) unfiltered() Query { q.Page, q.Source, q.Device, q.Match = "", "", "", nil; return q }

// split divides q's days into rolled ones and the others; version gives a
// rolled day's rolled_at (its day table lasts until it changes).
func (r *Reports) split(ctx context.Context, site int64, q Query) (rolled, live []string, version map[string]int64, err error) {
	from, err1 := time.Parse(time.DateOnly, q.From)
	to, err2 := time.Parse(time.DateOnly, q.To)
	if err1 != nil || err2 != nil {
		return nil, nil, nil, fmt.Errorf("analytics: bad range %s..%s", q.From, q.To)
	}
	rows, err := r.db.R.QueryContext(ctx, `SELECT day, rolled_at FROM rolled_days WHERE site = ? AND day BETWEEN ? AND ? AND ready = 1 AND dirty = 0`, site, q.From, q.To)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("analytics: rolled days: %w", err)
	}
	version = map[string]int64{}
	for rows.Next() {
		var d string
		var at int64
		rows.Scan(&d, &at)
		version[d] = max(at, 1)
	}
	rows.Close()
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		day := d.Format(time.DateOnly)
		if version[day] != 0 {
			rolled = append(rolled, day)
		} else {
			live = append(live, day)
		}
	}
	return rolled, live, version, nil
}

// tablesOf adds up days from their day tables, on as many cores as Go runs
// on: fn gets the worker's number (0 to workers-1), to add into its own.
func (r *Reports) tablesOf(ctx context.Context, site int64, days []string, version map[string]int64, fn func(w int, day string, t *dayTable) error) error {
	next := make(chan string, len(days))
	for _, d := range days {
		next <- d
	}
	close(next)
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for day := range next {
				t, err := r.tables.get(ctx, r.db, site, day, version[day])
				if err == nil {
					err = fn(w, day, t)
				}
				if err != nil {
					errs <- err
					for range next { // drain: the others stop too
					}
					return
				}
			}
			errs <- nil
		}()
	}
	var err error
	for range workers {
		err = errors.Join(err, <-errs)
	}
	return err
}

// workers is how many goroutines add up day tables at once.
var workers = min(runtime.GOMAXPROCS(0), 4)

func inList(days []string) (string, []any) {
	args := make([]any, len(days))
	for i, d := range days {
		args[i] = d
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?,", len(days)), ",") + ")", args
}

// collect adds up one dimension over q's range: dim is "" (the whole site), a
// visit column, "page", "event", or "prop:" and an event name. only, if set,
// keeps one value: for "page" it also adds the metrics of the visits that
// viewed it (what a summary filtered by the page needs).
func (r *Reports) collect(ctx context.Context, q Query, dim, only string) (map[string]*stat, error) {
	out := map[string]*stat{}
	site, ok, err := r.db.site(ctx, q.SiteID, false)
	if err != nil || !ok {
		return out, err
	}
	rolled, live, version, err := r.split(ctx, site, q)
	if err != nil {
		return nil, err
	}
	if q.filtered() { // rollups hold no combination of values: every day is read from its table
		live, rolled = append(rolled, live...), nil
	} else {
		r.tables.warm(r.db, site, rolled, version)
	}
	get := func(v string) *stat {
		s := out[v]
		if s == nil {
			s = newStat()
			out[v] = s
		}
		return s
	}
	if len(rolled) > 0 {
		in, args := inList(rolled)
		query, qargs := `SELECT value, visits, pageviews, bounces, duration_ms, count, visitors FROM day_rollups
			WHERE site = ? AND dim = ? AND day IN `+in, append([]any{site, dim}, args...)
		if only != "" {
			query, qargs = query+" AND value = ?", append(qargs, only)
		}
		rows, err := r.db.R.QueryContext(ctx, query, qargs...)
		if err != nil {
			return nil, fmt.Errorf("analytics: read rollups: %w", err)
		}
		var value string
		var visits, pageviews, bounces, duration, count int64
		var blob []byte
		bm := roaring.New()
		for rows.Next() {
			if err := rows.Scan(&value, &visits, &pageviews, &bounces, &duration, &count, &blob); err != nil {
				rows.Close()
				return nil, fmt.Errorf("analytics: read rollups: %w", err)
			}
			s := get(value)
			s.visits += visits
			s.pageviews += pageviews
			s.bounces += bounces
			s.durationMS += duration
			s.count += count
			bm.Clear()
			if _, err := bm.FromBuffer(blob); err != nil {
				rows.Close()
				return nil, fmt.Errorf("analytics: visitor bitmap: %w", err)
			}
			s.numbered.Or(bm)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if len(live) == 0 {
		return out, nil
	}
	// The live days (or, filtered, every day), from their day tables.
	outs := make([]map[string]*stat, workers)
	for w := range outs {
		outs[w] = map[string]*stat{}
	}
	err = r.tablesOf(ctx, site, live, version, func(w int, _ string, t *dayTable) error {
		return t.collect(q, dim, only, outs[w])
	})
	for _, o := range outs {
		for v, st := range o {
			if have := out[v]; have != nil {
				have.merge(st)
			} else {
				out[v] = st
			}
		}
	}
	return out, err
}

// Summary counts visitors, visits, pageviews, bounce rate and visit duration.
func (r *Reports) Summary(ctx context.Context, q Query) (Summary, error) {
	dim, value := "", ""
	if q.filtered() {
		var ok bool
		if dim, value, ok = q.single(); ok {
			q = q.unfiltered()
		}
	}
	stats, err := r.collect(ctx, q, dim, value)
	if err != nil {
		return Summary{}, err
	}
	s := stats[value]
	if s == nil || s.visits == 0 {
		return Summary{}, nil
	}
	pageviews := s.pageviews
	if dim == "page" {
		pageviews = s.count // the visits' pageviews, not the page's
	}
	return Summary{Visitors: s.visitors(), Visits: s.visits, Pageviews: pageviews,
		ViewsPerVisit: float64(pageviews) / float64(s.visits),
		BounceRate:    100 * float64(s.bounces) / float64(s.visits),
		VisitDuration: float64(s.durationMS) / 1000 / float64(s.visits)}, nil
}

// order sorts rows by the report's measure, then visitors, then value.
func ordered(stats map[string]*stat, limit int, row func(string, *stat) Row, less func(a, b Row) bool) []Row {
	out := make([]Row, 0, len(stats))
	for v, s := range stats {
		out = append(out, row(v, s))
	}
	sort.Slice(out, func(i, j int) bool {
		if less(out[i], out[j]) || less(out[j], out[i]) {
			return less(out[i], out[j])
		}
		return out[i].Value < out[j].Value
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Breakdown groups the range's visits by a dimension (a key of Dimensions).
func (r *Reports) Breakdown(ctx context.Context, q Query, dim string, limit int) ([]Row, error) {
	col, ok := Dimensions[dim]
	if !ok {
		return nil, fmt.Errorf("analytics: no dimension %q", dim)
	}
	stats, err := r.collect(ctx, q, col, "")
	if err != nil {
		return nil, err
	}
	return ordered(stats, limit, func(v string, s *stat) Row {
		if v == "" && dim == "sources" {
			v = "(direct)"
		}
		return Row{Value: v, Visitors: s.visitors(), Visits: s.visits, Pageviews: s.pageviews}
	}, func(a, b Row) bool {
		if a.Visitors != b.Visitors {
			return a.Visitors > b.Visitors
		}
		return a.Visits > b.Visits
	}), nil
}

// Pages are the most viewed paths, with their unique visitors.
func (r *Reports) Pages(ctx context.Context, q Query, limit int) ([]Row, error) {
	stats, err := r.collect(ctx, q, "page", "")
	if err != nil {
		return nil, err
	}
	return ordered(stats, limit, func(v string, s *stat) Row {
		return Row{Value: v, Visitors: s.visitors(), Visits: s.visits, Pageviews: s.pageviews}
	}, func(a, b Row) bool {
		if a.Pageviews != b.Pageviews {
			return a.Pageviews > b.Pageviews
		}
		return a.Visitors > b.Visitors
	}), nil
}

func countOrder(a, b Row) bool {
	if a.Count != b.Count {
		return a.Count > b.Count
	}
	return a.Visitors > b.Visitors
}

func countRow(v string, s *stat) Row {
	return Row{Value: v, Visitors: s.visitors(), Visits: s.visits, Count: s.count}
}

// Events are the custom events by name: how often, by how many visitors.
func (r *Reports) Events(ctx context.Context, q Query, limit int) ([]Row, error) {
	stats, err := r.collect(ctx, q, "event", "")
	if err != nil {
		return nil, err
	}
	return ordered(stats, limit, countRow, countOrder), nil
}

// EventProperties break one custom event down by property: "key=value" rows.
func (r *Reports) EventProperties(ctx context.Context, q Query, name string, limit int) ([]Row, error) {
	stats, err := r.collect(ctx, q, "prop:"+name, "")
	if err != nil {
		return nil, err
	}
	return ordered(stats, limit, countRow, countOrder), nil
}

// Goals counts each goal's converted visitors and their share of all visitors.
func (r *Reports) Goals(ctx context.Context, q Query, goals []Goal) ([]GoalResult, error) {
	sum, err := r.Summary(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]GoalResult, 0, len(goals))
	for _, g := range goals {
		// Each goal's value alone: a day table adds up nothing else.
		dim, value := "event", g.Event
		if g.Event == "" {
			dim, value = "page", g.Page
		}
		stats, err := r.collect(ctx, q, dim, value)
		if err != nil {
			return nil, err
		}
		s := stats[value]
		res := GoalResult{Goal: g}
		if s != nil {
			res.Visitors = s.visitors()
		}
		if sum.Visitors > 0 {
			res.ConversionRate = 100 * float64(res.Visitors) / float64(sum.Visitors)
		}
		out = append(out, res)
	}
	return out, nil
}

// Timeseries buckets the range by day or hour (interval "day" or "hour"),
// every bucket present, empty ones as zeros.
func (r *Reports) Timeseries(ctx context.Context, q Query, interval string) ([]Point, error) {
	got := map[string]Point{}
	site, ok, err := r.db.site(ctx, q.SiteID, false)
	if err != nil || !ok {
		return buckets(q, interval, got), err
	}
	rolled, live, version, err := r.split(ctx, site, q)
	if err != nil {
		return nil, err
	}
	if q.filtered() {
		live, rolled = append(rolled, live...), nil
	}
	dim := ""
	if interval == "hour" {
		dim = "hour"
	}
	if len(rolled) > 0 {
		in, args := inList(rolled)
		rows, err := r.db.R.QueryContext(ctx, `SELECT day, value, visits, pageviews, visitors FROM day_rollups WHERE site = ? AND dim = ? AND day IN `+in,
			append([]any{site, dim}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("analytics: time series: %w", err)
		}
		bm := roaring.New()
		for rows.Next() {
			var day, value string
			var p Point
			var blob []byte
			if err := rows.Scan(&day, &value, &p.Visits, &p.Pageviews, &blob); err != nil {
				rows.Close()
				return nil, fmt.Errorf("analytics: time series: %w", err)
			}
			bm.Clear()
			if _, err := bm.FromBuffer(blob); err != nil {
				rows.Close()
				return nil, err
			}
			p.Visitors = int64(bm.GetCardinality())
			p.Bucket = day
			if dim == "hour" {
				p.Bucket = day + "T" + value
			}
			got[p.Bucket] = p
		}
		rows.Close()
	}
	var mu sync.Mutex
	err = r.tablesOf(ctx, site, live, version, func(_ int, day string, t *dayTable) error {
		stats := map[string]*stat{}
		if err := t.collect(q, dim, "", stats); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for value, st := range stats {
			p := Point{Bucket: day, Visitors: st.visitors(), Visits: st.visits, Pageviews: st.pageviews}
			if dim == "hour" {
				p.Bucket = day + "T" + value
			}
			got[p.Bucket] = p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return buckets(q, interval, got), nil
}

func withBucket(p Point, b string) Point { p.Bucket = b; return p }

// buckets lists every bucket of q's range, taking the counted ones from got.
func buckets(q Query, interval string, got map[string]Point) []Point {
	from, _ := time.Parse(time.DateOnly, q.From)
	to, _ := time.Parse(time.DateOnly, q.To)
	var out []Point
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		day := d.Format(time.DateOnly)
		if interval != "hour" {
			out = append(out, withBucket(got[day], day))
			continue
		}
		for h := range 24 {
			b := fmt.Sprintf("%sT%02d", day, h)
			out = append(out, withBucket(got[b], b))
		}
	}
	return out
}
