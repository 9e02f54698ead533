package analytics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nudgehq/nudge/loadgen"
	"github.com/nudgehq/nudge/store"
)

// BenchmarkIngest measures accepting and committing events: b.N events in
// batches of 20, as the analytics module sends them, over 10,000 visitors.
func BenchmarkIngest(b *testing.B) {
	f := newFixture(b, Options{})
	now := time.Now()
	batches := make([]Batch, 0, 1000)
	for i := range cap(batches) {
		v := i % 10_000
		bt := Batch{Site: "shop", Visitor: fmt.Sprint("v", v), Visit: fmt.Sprint("s", v), VisitN: 1, Lang: "en-US", Screen: "1440x900"}
		for j := range 20 {
			p := paths[(i+j)%len(paths)]
			switch j % 4 {
			case 0:
				bt.Events = append(bt.Events, Event{Type: "event", Name: "click", URL: "https://shop.test" + p, Props: map[string]any{"b": "x"}})
			case 1:
				bt.Events = append(bt.Events, Event{Type: "leave", URL: "https://shop.test" + p, EngagedMS: 1000, Scroll: 50})
			default:
				bt.Events = append(bt.Events, Event{Type: "pageview", URL: "https://shop.test" + p, Ref: "https://www.google.com/"})
			}
		}
		batches = append(batches, bt)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i += 20 {
		bt := batches[(i/20)%len(batches)]
		for {
			_, err := f.in.Accept(ctx, f.site, &bt, Meta{IP: "1.2.3.4", UserAgent: chromeUA, Now: now})
			if err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	f.flush(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCollect measures what a /collect request costs the server past
// HTTP: decoding the body, enriching its events and committing them, with the
// bodies `nudge loadgen collect` sends (20 events over 10,000 visitors), from
// parallel requests as the server takes them. Its allocations per batch are
// what sets the collector's pace under ingestion (docs/benchmarks.md).
func BenchmarkCollect(b *testing.B) {
	f := newFixture(b, Options{})
	bodies := loadgen.Bodies(loadgen.CollectOptions{Site: "shop", Batch: 20, Visitors: 10_000}, 1000)
	ctx := context.Background()
	now := time.Now()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bt, err := DecodeBatch(bodies[next.Add(1)%int64(len(bodies))])
			if err != nil {
				b.Error(err)
				return
			}
			for {
				if _, err := f.in.Accept(ctx, f.site, bt, Meta{IP: "1.2.3.4", UserAgent: chromeUA, Now: now}); err == nil {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	})
	f.flush(b)
	b.ReportMetric(float64(b.N*20)/b.Elapsed().Seconds(), "events/s")
}

var paths = []string{"/", "/pricing", "/billing", "/checkout", "/help", "/blog/a", "/blog/b", "/about"}

// reportsDB returns an analytics database holding n events over 30 days,
// built once through the ingester and kept in .cache/ (it takes minutes).
func reportsDB(b *testing.B, n int) (*DB, *store.Site) {
	site := &store.Site{ID: "site1", Key: "shop", TimeZone: "Europe/Paris", IdentitySecret: "s", Settings: store.DefaultSiteSettings}
	path := filepath.Join("..", ".cache", fmt.Sprintf("analytics-%d-v3.db", n)) // v3: visits in time order
	if _, err := os.Stat(path); err != nil {
		os.MkdirAll(filepath.Dir(path), 0o755)
		tmp := path + ".tmp"
		os.Remove(tmp)
		db, err := Open(context.Background(), tmp)
		if err != nil {
			b.Fatal(err)
		}
		in := NewIngester(db, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
		r := rand.New(rand.NewPCG(1, 2))
		start := time.Now().AddDate(0, 0, -30)
		refs := []string{"", "", "https://www.google.com/", "https://duckduckgo.com/", "https://t.co/x", "https://news.ycombinator.com/"}
		uas := []string{chromeUA, iphoneUA, ipadUA, firefoxUA}
		b.Logf("building %s: %d events (once)", path, n)
		// Visits arrive in time order, as a site's do (about ten events each).
		step := 30 * 24 * time.Hour / time.Duration(n/10)
		for made, v := 0, 0; made < n; v++ {
			visitor := fmt.Sprintf("v%d", r.IntN(n/30))
			at := start.Add(time.Duration(v)*step + time.Duration(r.Int64N(int64(step))))
			bt := Batch{Site: "shop", Visitor: visitor, Visit: fmt.Sprintf("s%d", v), VisitN: 1, Lang: "en-US", Screen: "1440x900"}
			ref := refs[r.IntN(len(refs))]
			for i := range 1 + r.IntN(19) {
				p := paths[r.IntN(len(paths))]
				e := Event{Type: "pageview", URL: "https://shop.test" + p, TS: at.UnixMilli()}
				switch {
				case i == 0:
					e.Ref = ref
				case i%3 == 0:
					e = Event{Type: "event", Name: []string{"signup", "play", "download"}[r.IntN(3)], URL: e.URL, TS: e.TS, Props: map[string]any{"plan": "green"}}
				case i%3 == 1:
					e = Event{Type: "leave", URL: e.URL, TS: e.TS, EngagedMS: 3000, Scroll: 60}
				}
				bt.Events = append(bt.Events, e)
				at = at.Add(time.Duration(10+r.IntN(100)) * time.Second)
			}
			bt.Sent = at.UnixMilli()
			for {
				_, err := in.Accept(context.Background(), site, &bt, Meta{UserAgent: uas[v%len(uas)], Now: at})
				if err == nil {
					break
				}
				time.Sleep(time.Millisecond)
			}
			made += len(bt.Events)
		}
		in.Close()
		db.W.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		db.Close()
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	db, err := Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	t0 := time.Now()
	rolled, err := Roll(context.Background(), db, site.ID, mustLoc(site.TimeZone), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if rolled > 0 {
		b.Logf("rolled %d days in %s", rolled, time.Since(t0).Round(time.Millisecond))
	}
	return db, site
}

// BenchmarkReports10M times every report of the dashboard over 30 days of a
// site with 10 million events (NUDGE_BENCH_EVENTS changes the size), as the
// console asks for them: unfiltered, filtered by one value, and filtered by
// two (a page and a device).
func BenchmarkReports10M(b *testing.B) {
	n := 10_000_000
	if s := os.Getenv("NUDGE_BENCH_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	db, site := reportsDB(b, n)
	rep := NewReports(db)
	ctx := context.Background()
	to := time.Now().In(mustLoc(site.TimeZone)).Format(time.DateOnly)
	from := time.Now().In(mustLoc(site.TimeZone)).AddDate(0, 0, -29).Format(time.DateOnly)
	var total int64
	db.R.QueryRow(`SELECT COALESCE(SUM(n), 0) FROM event_log`).Scan(&total)
	b.Logf("%d events, 30 days", total)
	reports := []struct {
		name string
		run  func(q Query) error
	}{
		{"summary", func(q Query) error { _, err := rep.Summary(ctx, q); return err }},
		{"timeseries", func(q Query) error { _, err := rep.Timeseries(ctx, q, "day"); return err }},
		{"goals", func(q Query) error {
			_, err := rep.Goals(ctx, q, []Goal{{Event: "signup"}, {Page: "/checkout"}})
			return err
		}},
		{"pages", func(q Query) error { _, err := rep.Pages(ctx, q, 10); return err }},
		{"events", func(q Query) error { _, err := rep.Events(ctx, q, 10); return err }},
		{"properties", func(q Query) error { _, err := rep.EventProperties(ctx, q, "signup", 10); return err }},
	}
	for dim := range Dimensions {
		reports = append(reports, struct {
			name string
			run  func(q Query) error
		}{dim, func(q Query) error { _, err := rep.Breakdown(ctx, q, dim, 10); return err }})
	}
	filters := []struct {
		name string
		q    Query
	}{
		{"all", Query{}},
		{"mobile", Query{Device: "mobile"}},
		{"page_and_browser", Query{Page: "/pricing", Match: map[string]string{"browser": "Firefox"}}},
	}
	// After a start: the first filtered report reads the range's 30 days
	// from SQLite (an unfiltered dashboard reads them in the background).
	b.Run("cold/mobile_timeseries", func(b *testing.B) {
		for b.Loop() {
			cold := NewReports(db)
			if _, err := cold.Timeseries(ctx, Query{SiteID: site.ID, From: from, To: to, Device: "mobile"}, "day"); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The rest as a dashboard in use asks them: its day tables read.
	for _, f := range filters {
		q := f.q
		q.SiteID, q.From, q.To = site.ID, from, to
		if _, err := rep.Timeseries(ctx, q, "day"); err != nil {
			b.Fatal(err)
		}
	}
	for _, f := range filters {
		for _, r := range reports {
			q := f.q
			q.SiteID, q.From, q.To = site.ID, from, to
			b.Run(f.name+"/"+r.name, func(b *testing.B) {
				for b.Loop() {
					if err := r.run(q); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRollupSize measures what a million events of a shop whose paths
// carry ids (/products/N, /orders/N, /account/UUID) cost in day_rollups: as
// they came and uncapped (before normalisation), capped only, and normalised.
// It ingests NUDGE_BENCH_EVENTS (default 1,000,000) events over ten days once
// per case; b.N does not matter.
func BenchmarkRollupSize(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("NUDGE_BENCH_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for _, tc := range []struct {
		name    string
		keepIDs bool
		cap     int
	}{{"ids_uncapped", true, 1 << 30}, {"ids_capped", true, MaxDayValues}, {"normalised", false, MaxDayValues}} {
		b.Run(tc.name, func(b *testing.B) {
			defer func(c int) { dayValues = c }(dayValues)
			dayValues = tc.cap
			f := newFixture(b, Options{})
			f.site.Settings.KeepPathIDs = tc.keepIDs
			r := rand.New(rand.NewPCG(3, 4))
			start := time.Now().AddDate(0, 0, -12)
			ctx := context.Background()
			for made, v := 0, 0; made < n; v++ {
				at := start.Add(time.Duration(r.Int64N(int64(10 * 24 * time.Hour))))
				bt := Batch{Site: "shop", Visitor: fmt.Sprint("v", r.IntN(n/20)), Visit: fmt.Sprint("s", v), VisitN: 1}
				for i := range 5 {
					var p string
					switch i {
					case 0:
						p = []string{"/", "/search", "/sale"}[r.IntN(3)]
					case 1, 2:
						p = fmt.Sprintf("/products/%d", r.IntN(20_000))
					case 3:
						p = fmt.Sprintf("/orders/%d", 100_000+r.IntN(900_000))
					default:
						p = fmt.Sprintf("/account/%08x-%04x-4%03x-a%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Int64N(1<<48))
					}
					bt.Events = append(bt.Events, Event{Type: "pageview", URL: "https://shop.test" + p, TS: at.UnixMilli()})
					at = at.Add(20 * time.Second)
				}
				bt.Sent = at.UnixMilli()
				for {
					if _, err := f.in.Accept(ctx, f.site, &bt, Meta{UserAgent: chromeUA, Now: at}); err == nil {
						break
					}
					time.Sleep(time.Millisecond)
				}
				made += len(bt.Events)
			}
			f.flush(b)
			b.ResetTimer()
			if _, err := Roll(ctx, f.db, f.site.ID, mustLoc(f.site.TimeZone), time.Now()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			var rows, bytes int64
			f.db.R.QueryRow(`SELECT COUNT(*) FROM day_rollups`).Scan(&rows)
			f.db.R.QueryRow(`SELECT SUM(pgsize) FROM dbstat WHERE name = 'day_rollups'`).Scan(&bytes)
			per := float64(n) / 1e6
			b.ReportMetric(float64(rows)/per, "rows/Mevents")
			b.ReportMetric(float64(bytes)/per/(1<<20), "MiB/Mevents")
			b.ReportMetric(0, "ns/op")
		})
	}
}
