package analytics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/store"
)

const (
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
	iphoneUA  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	ipadUA    = "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
	botUA     = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

type fixture struct {
	db   *DB
	in   *Ingester
	rep  *Reports
	site *store.Site
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	db, err := Open(context.Background(), testDB(t))
	if err != nil {
		t.Fatal(err)
	}
	in := NewIngester(db, slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
	t.Cleanup(func() { in.Close(); db.Close() })
	site := &store.Site{ID: "site1", Key: "shop", TimeZone: "America/New_York", IdentitySecret: "s3cret",
		Settings: store.DefaultSiteSettings, AllowedOrigins: []string{"https://shop.test"}}
	return &fixture{db: db, in: in, rep: NewReports(db), site: site}
}

func (f *fixture) accept(t testing.TB, b *Batch, ua string, now time.Time) Result {
	t.Helper()
	if b.Sent == 0 {
		b.Sent = now.UnixMilli()
	}
	res, err := f.in.Accept(context.Background(), f.site, b, Meta{IP: "203.0.113.9", UserAgent: ua, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f *fixture) flush(t testing.TB) {
	t.Helper()
	if err := f.in.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeBatchRefusesBadInput(t *testing.T) {
	ok := `{"site":"shop","visitor":"v1","visit":"s1","events":[{"type":"pageview","url":"https://shop.test/"}]}`
	if _, err := DecodeBatch([]byte(ok)); err != nil {
		t.Fatalf("a good batch: %v", err)
	}
	many := `{"site":"shop","visit":"s1","events":[` + strings.Repeat(`{"type":"pageview","url":"https://a.test/"},`, 100) + `{"type":"pageview","url":"https://a.test/"}]}`
	for name, tc := range map[string]struct {
		body, field string
		tooMany     bool
	}{
		"malformed":      {`{"site":`, "body", false},
		"empty":          {``, "body", false},
		"invalid UTF-8":  {"{\"site\":\"\xff\"}", "body", false},
		"unknown field":  {`{"site":"shop","visit":"s1","admin":true,"events":[]}`, "body", false},
		"trailing":       {ok + ok, "body", false},
		"no site":        {`{"visit":"s1","events":[{"type":"pageview","url":"https://a.test/"}]}`, "site", false},
		"bad visit":      {`{"site":"shop","visit":"<x>","events":[{"type":"pageview","url":"https://a.test/"}]}`, "visit", false},
		"no events":      {`{"site":"shop","visit":"s1","events":[]}`, "events", false},
		"too many":       {many, "events", true},
		"unknown type":   {`{"site":"shop","visit":"s1","events":[{"type":"hack","url":"https://a.test/"}]}`, "events[0].type", false},
		"relative url":   {`{"site":"shop","visit":"s1","events":[{"type":"pageview","url":"/x"}]}`, "events[0].url", false},
		"js url":         {`{"site":"shop","visit":"s1","events":[{"type":"pageview","url":"javascript:alert(1)"}]}`, "events[0].url", false},
		"nameless event": {`{"site":"shop","visit":"s1","events":[{"type":"event","url":"https://a.test/"}]}`, "events[0].name", false},
		"nested props":   {`{"site":"shop","visit":"s1","events":[{"type":"event","name":"x","url":"https://a.test/","props":{"a":{"b":1}}}]}`, "events[0].props.a", false},
		"scroll":         {`{"site":"shop","visit":"s1","events":[{"type":"leave","url":"https://a.test/","scroll":101}]}`, "events[0].scroll", false},
		"bad hash":       {`{"site":"shop","visit":"s1","events":[{"type":"identify","url":"https://a.test/","user":{"id":"u"},"hash":"zz"}]}`, "events[0].hash", false},
		"bad screen":     {`{"site":"shop","visit":"s1","screen":"big","events":[{"type":"pageview","url":"https://a.test/"}]}`, "screen", false},
	} {
		_, err := DecodeBatch([]byte(tc.body))
		var ie *InputError
		if !errors.As(err, &ie) || !strings.HasPrefix(ie.Field, tc.field) || ie.TooMany != tc.tooMany {
			t.Errorf("%s: %v; want an InputError on %s (too many: %v)", name, err, tc.field, tc.tooMany)
		}
	}
}

func TestEnrichment(t *testing.T) {
	for ua, want := range map[string]client{
		chromeUA:  {browser: "Chrome", os: "Windows", device: "desktop"},
		iphoneUA:  {browser: "Safari", os: "iOS", device: "mobile"},
		ipadUA:    {browser: "Safari", os: "iOS", device: "tablet"},
		firefoxUA: {browser: "Firefox", os: "Linux", device: "desktop"},
		botUA:     {bot: true},
		"":        {bot: true},
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0.0.0 Safari/537.36": {bot: true},
	} {
		got := parseUA(ua)
		if got.bot != want.bot || (!want.bot && got != want) {
			t.Errorf("parseUA(%.40q) = %+v; want %+v", ua, got, want)
		}
	}
	for _, tc := range []struct{ page, ref, source, medium, refHost string }{
		{"https://shop.test/", "", "", "", ""},
		{"https://shop.test/a", "https://shop.test/b", "", "", ""},
		{"https://shop.test/", "https://www.google.co.uk/search?q=x", "Google", "organic", "google.co.uk"},
		{"https://shop.test/", "https://l.facebook.com/l.php", "Facebook", "social", "l.facebook.com"},
		{"https://shop.test/", "https://blog.example.org/post", "blog.example.org", "referral", "blog.example.org"},
		{"https://shop.test/?utm_source=newsletter&utm_medium=email&utm_campaign=nov", "https://mail.test/", "newsletter", "email", "mail.test"},
		{"https://shop.test/", "not a url", "", "", ""},
	} {
		s := attribute(mustURL(tc.page), tc.ref)
		if s.source != tc.source || s.medium != tc.medium || s.refHost != tc.refHost {
			t.Errorf("attribute(%s, %s) = %+v; want %s/%s via %s", tc.page, tc.ref, s, tc.source, tc.medium, tc.refHost)
		}
	}
	if s := attribute(mustURL("https://shop.test/?utm_campaign=nov&utm_source=x"), ""); s.utm[2] != "nov" {
		t.Errorf("campaign = %q", s.utm[2])
	}
}

func TestBotsAndForgedIdentitiesAreDropped(t *testing.T) {
	f := newFixture(t, Options{})
	now := time.Now()
	page := Event{Type: "pageview", URL: "https://shop.test/"}
	if res := f.accept(t, &Batch{Site: "shop", Visitor: "v1", Visit: "s1", Events: []Event{page}}, botUA, now); res.Accepted != 0 || res.Dropped != 1 {
		t.Fatalf("bot: %+v", res)
	}
	f.accept(t, &Batch{Site: "shop", Visitor: "v1", Visit: "s1", Events: []Event{page, page}}, botUA, now)
	f.flush(t)
	// Nothing of the bot is kept but how many events it sent that day.
	day := now.In(mustZone(t, "America/New_York")).Format(time.DateOnly)
	if n, err := f.rep.Bots(context.Background(), Query{SiteID: "site1", From: day, To: day}); err != nil || n != 3 {
		t.Fatalf("bot events counted: %d, %v", n, err)
	}
	var kept int
	f.db.R.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&kept)
	if kept != 0 {
		t.Fatalf("%d bot events kept", kept)
	}
	forged := Event{Type: "identify", URL: "https://shop.test/", User: &Identity{ID: "ceo"}, Hash: strings.Repeat("0", 64)}
	good := Event{Type: "identify", URL: "https://shop.test/", User: &Identity{ID: "u42", Email: "a@b.c"}, Hash: IdentityHash("s3cret", "u42")}
	res := f.accept(t, &Batch{Site: "shop", Visitor: "v2", Visit: "s2", Events: []Event{page, forged, good}}, chromeUA, now)
	if res.Accepted != 2 || res.Dropped != 1 {
		t.Fatalf("identities: %+v", res)
	}
	f.flush(t)
	var users []string
	rows, _ := f.db.R.Query(`SELECT user_id FROM events WHERE user_id <> ''`)
	for rows.Next() {
		var u string
		rows.Scan(&u)
		users = append(users, u)
	}
	rows.Close()
	if !slices.Equal(users, []string{"u42"}) {
		t.Fatalf("stored identities %v; want only the verified u42", users)
	}
	var leaked int
	f.db.R.QueryRow(`SELECT COUNT(*) FROM events WHERE props LIKE '%a@b.c%' OR title LIKE '%a@b.c%'`).Scan(&leaked)
	if leaked != 0 {
		t.Fatal("the identified visitor's email is in the analytics file")
	}
	var n int
	f.db.R.QueryRow(`SELECT COUNT(*) FROM events WHERE visitor = 'v1'`).Scan(&n)
	if n != 0 {
		t.Fatal("a bot's event was stored")
	}
}

func TestCookielessVisitorsAreHashedAndSessionised(t *testing.T) {
	f := newFixture(t, Options{})
	f.site.Settings.Cookieless = true
	// Noon UTC: the 41 minutes below stay in one salt day whenever the test runs.
	now := time.Now().UTC().Truncate(24 * time.Hour).Add(12 * time.Hour)
	page := func(p string) []Event { return []Event{{Type: "pageview", URL: "https://shop.test" + p}} }
	f.accept(t, &Batch{Site: "shop", Visit: "x1", Events: page("/a")}, chromeUA, now)
	f.accept(t, &Batch{Site: "shop", Visit: "x2", Events: page("/b")}, chromeUA, now.Add(time.Minute))
	f.accept(t, &Batch{Site: "shop", Visit: "x3", Events: page("/c")}, chromeUA, now.Add(40*time.Minute))
	f.accept(t, &Batch{Site: "shop", Visit: "x4", Events: page("/d")}, firefoxUA, now.Add(41*time.Minute))
	f.flush(t)
	var visitors, visits int
	f.db.R.QueryRow(`SELECT COUNT(DISTINCT visitor), COUNT(*) FROM visits`).Scan(&visitors, &visits)
	if visitors != 2 || visits != 3 {
		t.Fatalf("visitors %d, visits %d; want 2 (two browsers), 3 (a new visit after 30 minutes)", visitors, visits)
	}
	var raw int
	f.db.R.QueryRow(`SELECT COUNT(*) FROM events WHERE visitor LIKE '%203.0.113%' OR visit IN ('x1','x2','x3','x4')`).Scan(&raw)
	if raw != 0 {
		t.Fatal("a raw IP or the client's visit id was stored for a cookieless site")
	}
	var salts int
	f.db.R.QueryRow(`SELECT COUNT(*) FROM salts`).Scan(&salts)
	if salts != 1 {
		t.Fatalf("%d salts", salts)
	}
	// Salts older than 48 hours are deleted when a new day's salt is made.
	f.db.W.Exec(`INSERT INTO salts (day, salt) VALUES ('2000-01-01', x'00')`)
	f.in.salts.m = nil
	if _, err := f.in.salts.get(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	f.db.R.QueryRow(`SELECT COUNT(*) FROM salts WHERE day = '2000-01-01'`).Scan(&salts)
	if salts != 0 {
		t.Fatal("an old salt survived")
	}
}

// traffic generates a few days of visits for a site, in batches as browsers
// send them, in arrival order.
type arrival struct {
	batch Batch
	ua    string
	now   time.Time
}

func traffic(seed uint64, visitors int, start time.Time) []arrival {
	r := rand.New(rand.NewPCG(seed, 1))
	pages := []string{"/", "/pricing", "/billing", "/checkout", "/help", "/blog/one", "/blog/two"}
	refs := []string{"", "", "https://www.google.com/", "https://duckduckgo.com/", "https://t.co/x", "https://blog.example.org/p"}
	uas := []string{chromeUA, iphoneUA, ipadUA, firefoxUA}
	var out []arrival
	for v := range visitors {
		ua := uas[r.IntN(len(uas))]
		t := start.Add(time.Duration(r.IntN(4*24*60)) * time.Minute)
		for n := 1; n <= 1+r.IntN(3); n++ {
			b := Batch{Site: "shop", Visitor: fmt.Sprintf("v%d", v), Visit: fmt.Sprintf("v%d-%d", v, n), VisitN: n, Lang: "en-US", Screen: "1280x800"}
			q := ""
			if r.IntN(5) == 0 {
				q = "?utm_source=news&utm_medium=email&utm_campaign=c" + fmt.Sprint(r.IntN(3))
			}
			ref := refs[r.IntN(len(refs))]
			for p := range 1 + r.IntN(6) {
				path := pages[r.IntN(len(pages))]
				e := Event{Type: "pageview", URL: "https://shop.test" + path, TS: t.UnixMilli()}
				if p == 0 {
					e.URL += q
					e.Ref = ref
				}
				b.Events = append(b.Events, e)
				t = t.Add(time.Duration(5+r.IntN(120)) * time.Second)
				if r.IntN(3) == 0 {
					b.Events = append(b.Events, Event{Type: "event", Name: []string{"signup", "download", "play"}[r.IntN(3)], URL: "https://shop.test" + path,
						TS: t.UnixMilli(), Props: map[string]any{"plan": []string{"green", "simple"}[r.IntN(2)]}})
				}
				if r.IntN(2) == 0 {
					b.Events = append(b.Events, Event{Type: "leave", URL: "https://shop.test" + path, TS: t.UnixMilli(), EngagedMS: int64(r.IntN(60000)), Scroll: r.IntN(101)})
				}
			}
			// A visit arrives in one to three batches.
			for len(b.Events) > 0 {
				k := min(len(b.Events), 1+r.IntN(len(b.Events)))
				part := b
				part.Events = b.Events[:k]
				last := time.UnixMilli(part.Events[k-1].TS)
				out = append(out, arrival{batch: part, ua: ua, now: last})
				b.Events = b.Events[k:]
			}
			t = t.Add(time.Duration(31+r.IntN(600)) * time.Minute)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].now.Before(out[j].now) })
	return out
}

// recount computes what the rollups should say, straight from raw events.
type recountVisit struct {
	visitor, day, entry, exit, source, device string
	start, end                                int64
	pageviews, events                         int
	pages                                     map[string]int
	eventNames                                map[string]int
}

func recount(t *testing.T, f *fixture) map[string]*recountVisit {
	loc, _ := time.LoadLocation(f.site.TimeZone)
	rows, err := f.db.R.Query(`SELECT visitor, visit, ts, type, path, ref_host, name FROM events ORDER BY ts, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	visits := map[string]*recountVisit{}
	for rows.Next() {
		var visitor, visit, typ, path, ref, name string
		var ts int64
		rows.Scan(&visitor, &visit, &ts, &typ, &path, &ref, &name)
		v := visits[visit]
		if v == nil {
			v = &recountVisit{visitor: visitor, start: ts, day: time.UnixMilli(ts).In(loc).Format(time.DateOnly), entry: path, pages: map[string]int{}, eventNames: map[string]int{}}
			visits[visit] = v
		}
		v.end = ts
		switch typ {
		case "pageview":
			v.pageviews++
			v.exit = path
			v.pages[path]++
		case "event":
			v.events++
			v.eventNames[name]++
		}
	}
	return visits
}

func TestRollupsEqualRecount(t *testing.T) {
	f := newFixture(t, Options{MaxTx: 37}) // small transactions: visits span many commits
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	arrivals := traffic(7, 300, start)
	for _, a := range arrivals {
		f.accept(t, &a.batch, a.ua, a.now)
	}
	f.flush(t)
	check := func(label string) {
		t.Helper()
		visits := recount(t, f)
		if len(visits) < 400 {
			t.Fatalf("only %d visits generated", len(visits))
		}
		ctx := context.Background()
		for _, q := range []Query{
			{SiteID: "site1", From: "2026-10-31", To: "2026-11-06"},
			{SiteID: "site1", From: "2026-11-02", To: "2026-11-03"},
			{SiteID: "site1", From: "2026-10-31", To: "2026-11-06", Page: "/pricing"},
			{SiteID: "site1", From: "2026-10-31", To: "2026-11-06", Device: "mobile"},
			{SiteID: "site1", From: "2026-10-31", To: "2026-11-06", Page: "/pricing", Device: "mobile"},
		} {
			in := func(v *recountVisit) bool {
				return v.day >= q.From && v.day <= q.To && (q.Page == "" || v.pages[q.Page] > 0)
			}
			var want Summary
			who := map[string]bool{}
			bounces, duration := 0.0, 0.0
			pageViews, pageVisitors := map[string]int64{}, map[string]map[string]bool{}
			entries := map[string]map[string]bool{}
			eventCounts := map[string]int64{}
			for _, v := range visits {
				if !in(v) {
					continue
				}
				if q.Device != "" {
					var device string
					f.db.R.QueryRow(`SELECT device FROM visits WHERE visitor = ? AND start_ts = ?`, v.visitor, v.start).Scan(&device)
					if device != q.Device {
						continue
					}
				}
				want.Visits++
				want.Pageviews += int64(v.pageviews)
				who[v.visitor] = true
				if v.pageviews <= 1 && v.events == 0 {
					bounces++
				}
				duration += float64(v.end-v.start) / 1000
				for p, n := range v.pages {
					pageViews[p] += int64(n)
					if pageVisitors[p] == nil {
						pageVisitors[p] = map[string]bool{}
					}
					pageVisitors[p][v.visitor] = true
				}
				if entries[v.entry] == nil {
					entries[v.entry] = map[string]bool{}
				}
				entries[v.entry][v.visitor] = true
				for n, c := range v.eventNames {
					eventCounts[n] += int64(c)
				}
			}
			want.Visitors = int64(len(who))
			got, err := f.rep.Summary(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got.Visitors != want.Visitors || got.Visits != want.Visits || got.Pageviews != want.Pageviews ||
				!near(got.BounceRate, 100*bounces/float64(want.Visits)) || !near(got.VisitDuration, duration/float64(want.Visits)) {
				t.Errorf("%s %+v: summary %+v; recount %+v bounce %.3f duration %.3f", label, q, got, want, 100*bounces/float64(want.Visits), duration/float64(want.Visits))
			}
			pages, _ := f.rep.Pages(ctx, q, 100)
			for _, p := range pages {
				if p.Pageviews != pageViews[p.Value] || p.Visitors != int64(len(pageVisitors[p.Value])) {
					t.Errorf("%s %+v: page %s: %d views %d visitors; recount %d, %d", label, q, p.Value, p.Pageviews, p.Visitors, pageViews[p.Value], len(pageVisitors[p.Value]))
				}
			}
			if len(pages) != len(pageViews) {
				t.Errorf("%s %+v: %d pages; recount %d", label, q, len(pages), len(pageViews))
			}
			entry, _ := f.rep.Breakdown(ctx, q, "entry_pages", 100)
			for _, e := range entry {
				if e.Visitors != int64(len(entries[e.Value])) {
					t.Errorf("%s %+v: entry %s: %d visitors; recount %d", label, q, e.Value, e.Visitors, len(entries[e.Value]))
				}
			}
			evs, _ := f.rep.Events(ctx, q, 100)
			for _, e := range evs {
				if e.Count != eventCounts[e.Value] {
					t.Errorf("%s %+v: event %s: %d; recount %d", label, q, e.Value, e.Count, eventCounts[e.Value])
				}
			}
			series, _ := f.rep.Timeseries(ctx, q, "day")
			var sum int64
			for _, p := range series {
				sum += p.Visits
			}
			if sum != want.Visits {
				t.Errorf("%s %+v: daily series sums to %d visits; want %d", label, q, sum, want.Visits)
			}
		}
	}
	check("live")
	// Roll the closed days: the same answers from the daily rollups.
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	n, err := Roll(context.Background(), f.db, f.site.ID, mustLoc(f.site.TimeZone), now)
	if err != nil || n < 6 {
		t.Fatalf("Roll = %d, %v", n, err)
	}
	check("rolled")
	if n, _ := Roll(context.Background(), f.db, f.site.ID, mustLoc(f.site.TimeZone), now); n != 0 {
		t.Fatalf("a second Roll rolled %d days again", n)
	}
	// Late events for a rolled day: the day is computed live until rolled again.
	late := arrivals[len(arrivals)/2]
	late.batch.Events = []Event{{Type: "pageview", URL: "https://shop.test/late", TS: late.now.UnixMilli()}}
	f.accept(t, &late.batch, late.ua, late.now)
	f.flush(t)
	check("dirty")
	if n, _ := Roll(context.Background(), f.db, f.site.ID, mustLoc(f.site.TimeZone), now); n != 1 {
		t.Fatalf("Roll after late events rolled %d days; want the 1 dirty one", n)
	}
	check("rerolled")
}

func mustURL(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func near(a, b float64) bool { d := a - b; return d < 1e-6 && d > -1e-6 }

func TestReports(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	// 14:00 in New York on 2 November: 19:00 UTC.
	at := time.Date(2026, 11, 2, 19, 0, 0, 0, time.UTC)
	ev := func(typ, path string, d time.Duration, extra func(*Event)) Event {
		e := Event{Type: typ, URL: "https://shop.test" + path, TS: at.Add(d).UnixMilli()}
		if extra != nil {
			extra(&e)
		}
		return e
	}
	f.accept(t, &Batch{Site: "shop", Visitor: "ann", Visit: "a1", Lang: "fr-FR", Events: []Event{
		ev("pageview", "/?utm_source=news&utm_campaign=nov", 0, func(e *Event) { e.Ref = "https://www.google.com/" }),
		ev("pageview", "/pricing", time.Minute, nil),
		ev("event", "/pricing", 2*time.Minute, func(e *Event) { e.Name = "signup"; e.Props = map[string]any{"plan": "green", "trial": true} }),
		ev("pageview", "/checkout", 3*time.Minute, nil),
	}}, chromeUA, at.Add(3*time.Minute))
	f.accept(t, &Batch{Site: "shop", Visitor: "bob", Visit: "b1", Events: []Event{
		ev("pageview", "/billing", 10*time.Minute, func(e *Event) { e.Ref = "https://t.co/abc" }),
	}}, iphoneUA, at.Add(10*time.Minute))
	f.flush(t)
	q := Query{SiteID: "site1", From: "2026-11-02", To: "2026-11-02"}
	sum, err := f.rep.Summary(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Visitors != 2 || sum.Visits != 2 || sum.Pageviews != 4 || sum.BounceRate != 50 || sum.VisitDuration != 90 || sum.ViewsPerVisit != 2 {
		t.Fatalf("summary %+v", sum)
	}
	hours, _ := f.rep.Timeseries(ctx, q, "hour")
	if len(hours) != 24 || hours[14].Bucket != "2026-11-02T14" || hours[14].Visits != 2 {
		t.Fatalf("hour 14 in New York: %+v (of %d)", hours[14], len(hours))
	}
	check := func(dim string, want ...string) {
		t.Helper()
		rows, err := f.rep.Breakdown(ctx, q, dim, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.Value)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v; want %v", dim, got, want)
		}
	}
	check("sources", "Twitter", "news")
	check("referrers", "google.com", "t.co")
	check("campaigns", "", "nov")
	check("devices", "desktop", "mobile")
	check("browsers", "Chrome", "Safari")
	check("os", "Windows", "iOS")
	check("languages", "", "fr-FR")
	check("entry_pages", "/", "/billing")
	check("exit_pages", "/billing", "/checkout")
	if _, err := f.rep.Breakdown(ctx, q, "passwords", 10); err == nil {
		t.Error("an unknown dimension was accepted")
	}
	props, _ := f.rep.EventProperties(ctx, q, "signup", 10)
	if len(props) != 2 || props[0].Value != "plan=green" || props[1].Value != "trial=true" {
		t.Errorf("signup properties %+v", props)
	}
	goals, _ := f.rep.Goals(ctx, q, []Goal{{Event: "signup"}, {Page: "/billing"}, {Page: "/nowhere"}})
	if goals[0].Visitors != 1 || goals[0].ConversionRate != 50 || goals[1].Visitors != 1 || goals[2].Visitors != 0 {
		t.Errorf("goals %+v", goals)
	}
	mobile, _ := f.rep.Summary(ctx, Query{SiteID: "site1", From: q.From, To: q.To, Device: "mobile"})
	if mobile.Visitors != 1 || mobile.Pageviews != 1 {
		t.Errorf("mobile filter %+v", mobile)
	}
	viaPricing, _ := f.rep.Summary(ctx, Query{SiteID: "site1", From: q.From, To: q.To, Page: "/pricing"})
	if viaPricing.Visits != 1 || viaPricing.Pageviews != 3 {
		t.Errorf("page filter %+v", viaPricing)
	}
	// Any visit dimension filters, alone or with others.
	safari, _ := f.rep.Summary(ctx, Query{SiteID: "site1", From: q.From, To: q.To, Match: map[string]string{"browser": "Safari"}})
	if safari.Visits != 1 || safari.Visitors != 1 {
		t.Errorf("browser filter %+v", safari)
	}
	both, _ := f.rep.Breakdown(ctx, Query{SiteID: "site1", From: q.From, To: q.To, Device: "mobile", Match: map[string]string{"os": "Windows"}}, "browsers", 10)
	if len(both) != 0 {
		t.Errorf("mobile Windows visits: %+v", both)
	}
	noCampaign, _ := f.rep.Summary(ctx, Query{SiteID: "site1", From: q.From, To: q.To, Match: map[string]string{"utm_campaign": ""}})
	if noCampaign.Visits != 1 {
		t.Errorf("visits without a campaign %+v", noCampaign)
	}
	direct, _ := f.rep.Summary(ctx, Query{SiteID: "site1", From: q.From, To: q.To, Source: "news"})
	if direct.Visits != 1 {
		t.Errorf("source filter %+v", direct)
	}
	rt, _ := f.rep.Realtime(ctx, "site1", at.Add(12*time.Minute))
	if rt.Visitors != 1 || rt.Pages[0].Value != "/billing" {
		t.Errorf("realtime %+v", rt)
	}
	other, _ := f.rep.Summary(ctx, Query{SiteID: "site2", From: q.From, To: q.To})
	if other.Visits != 0 {
		t.Error("another site's report sees this site's visits")
	}
}

func TestEraseAndRetention(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	now := time.Now()
	page := Event{Type: "pageview", URL: "https://shop.test/"}
	ident := Event{Type: "identify", URL: "https://shop.test/", User: &Identity{ID: "u7"}, Hash: IdentityHash("s3cret", "u7")}
	track := Event{Type: "event", Name: "buy", URL: "https://shop.test/", Props: map[string]any{"sku": "x"}}
	f.accept(t, &Batch{Site: "shop", Visitor: "phone", Visit: "p1", Events: []Event{page, ident, track}}, iphoneUA, now)
	f.accept(t, &Batch{Site: "shop", Visitor: "laptop", Visit: "l1", Events: []Event{page, ident}}, chromeUA, now)
	f.accept(t, &Batch{Site: "shop", Visitor: "other", Visit: "o1", Events: []Event{page, track}}, chromeUA, now)
	f.flush(t)
	n, err := Erase(ctx, f.db, "site1", "u7")
	if err != nil || n != 5 {
		t.Fatalf("Erase = %d, %v; want the 5 events of both devices", n, err)
	}
	for _, table := range []string{"events", "event_log", "visits"} {
		var left, others int
		f.db.R.QueryRow(`SELECT COUNT(*) FROM ` + table + ` WHERE visitor IN ('phone', 'laptop')`).Scan(&left)
		f.db.R.QueryRow(`SELECT COUNT(*) FROM ` + table + ` WHERE visitor = 'other'`).Scan(&others)
		if left != 0 || others == 0 {
			t.Errorf("%s: %d rows of the erased visitor left, %d of the other", table, left, others)
		}
	}
	if n, _ := Erase(ctx, f.db, "site1", "other"); n != 2 {
		t.Errorf("erase by visitor id: %d", n)
	}
	old := now.Add(-40 * 24 * time.Hour)
	f.accept(t, &Batch{Site: "shop", Visitor: "v", Visit: "old", Sent: now.UnixMilli(), Events: []Event{{Type: "pageview", URL: "https://shop.test/", TS: old.UnixMilli()}}}, chromeUA, now)
	f.accept(t, &Batch{Site: "shop", Visitor: "v", Visit: "new", Events: []Event{page}}, chromeUA, now)
	f.flush(t)
	// The browser's clock is trusted for at most a day back.
	var oldest int64
	f.db.R.QueryRow(`SELECT MIN(ts) FROM events`).Scan(&oldest)
	if now.UnixMilli()-oldest > 24*3600*1000+1000 {
		t.Fatalf("an event was dated %v back", time.Duration(now.UnixMilli()-oldest)*time.Millisecond)
	}
	if err := f.db.PrepareDays(ctx, old); err != nil { // PostgreSQL: the day's table
		t.Fatal(err)
	}
	f.db.W.Exec(`UPDATE event_log SET ts = ? WHERE visit = 'old'`, old.UnixMilli())
	if n, err := DropEventsBefore(ctx, f.db, "site1", now.Add(-30*24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("retention dropped %d, %v", n, err)
	}
	var visits int
	f.db.R.QueryRow(`SELECT COUNT(*) FROM visits WHERE visit = 'old'`).Scan(&visits)
	if visits != 1 {
		t.Fatal("retention dropped a rollup")
	}
}

func TestQueueIsBounded(t *testing.T) {
	f := newFixture(t, Options{MaxQueued: 3, MaxWait: -1})
	if _, _, err := f.db.site(context.Background(), f.site.ID, true); err != nil {
		t.Fatal(err)
	}
	// Hold the writer: an open write transaction blocks its commits.
	tx, err := f.db.W.Begin()
	if err != nil {
		t.Fatal(err)
	}
	page := Event{Type: "pageview", URL: "https://shop.test/"}
	var full int
	for i := range 10 {
		_, err := f.in.Accept(context.Background(), f.site, &Batch{Site: "shop", Visitor: "v", Visit: fmt.Sprint("s", i), Events: []Event{page}},
			Meta{IP: "1.2.3.4", UserAgent: chromeUA, Now: time.Now()})
		if errors.Is(err, ErrFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if full < 6 || f.in.Queued() > 4 {
		t.Fatalf("%d refused, %d queued; want the queue bounded near 3", full, f.in.Queued())
	}
	tx.Rollback()
	f.flush(t)
	if f.in.Queued() != 0 {
		t.Fatalf("%d still queued after flush", f.in.Queued())
	}
	f.in.Close()
	if _, err := f.in.Accept(context.Background(), f.site, &Batch{Site: "shop", Visitor: "v", Visit: "z", Events: []Event{page}},
		Meta{UserAgent: chromeUA, Now: time.Now()}); !errors.Is(err, ErrClosed) {
		t.Fatalf("accept after close = %v", err)
	}
}

func TestCloseCommitsWhatIsQueued(t *testing.T) {
	path := testDB(t)
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	in := NewIngester(db, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	site := &store.Site{ID: "s", TimeZone: "UTC", Settings: store.DefaultSiteSettings}
	for i := range 50 {
		in.Accept(context.Background(), site, &Batch{Site: "k", Visitor: "v", Visit: fmt.Sprint("x", i),
			Events: []Event{{Type: "pageview", URL: "https://a.test/"}}}, Meta{UserAgent: chromeUA, Now: time.Now()})
	}
	in.Close()
	var n int
	db.R.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n)
	db.Close()
	if n != 50 {
		t.Fatalf("%d of 50 events committed at close", n)
	}
}

// The writer waits a moment for more events to commit at once, but never
// when asked to flush or to close: neither waits for the linger.
func TestLingerDelaysNeitherFlushNorClose(t *testing.T) {
	path := testDB(t)
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	in := NewIngester(db, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Linger: 24 * time.Hour})
	site := &store.Site{ID: "s", TimeZone: "UTC", Settings: store.DefaultSiteSettings}
	accept := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := in.Accept(context.Background(), site, &Batch{Site: "k", Visitor: "v", Visit: fmt.Sprint("x", i),
				Events: []Event{{Type: "pageview", URL: "https://a.test/", Title: fmt.Sprint("page ", i)}}}, Meta{UserAgent: chromeUA, Now: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func() (n int) {
		db.R.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n)
		return n
	}
	accept(0, 3)
	if err := in.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d of 3 events committed after Flush", n)
	}
	accept(3, 5)
	in.Close()
	if n := count(); n != 5 {
		t.Fatalf("%d of 5 events committed after Close", n)
	}
	var titles []string
	rows, err := db.R.Query(`SELECT title FROM events ORDER BY visit`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		rows.Scan(&s)
		titles = append(titles, s)
	}
	if want := []string{"page 0", "page 1", "page 2", "page 3", "page 4"}; !slices.Equal(titles, want) {
		t.Fatalf("titles %q, want %q (a reused batch must carry nothing of the one before)", titles, want)
	}
}

// The queue is bounded in bytes too: large events are refused before they
// take the process's memory, and nothing is counted twice.
func TestQueueIsBoundedInBytes(t *testing.T) {
	f := newFixture(t, Options{MaxQueuedBytes: 64 << 10, MaxWait: -1})
	if _, _, err := f.db.site(context.Background(), f.site.ID, true); err != nil {
		t.Fatal(err)
	}
	tx, err := f.db.W.Begin() // hold the writer
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()                   // before the fixture's cleanup waits for the writer
	f.site.Settings.MaxEventBytes = 16384 // this big event is not dropped as too large
	big := Event{Type: "event", URL: "https://shop.test/", Name: "big", Props: map[string]any{}}
	for i := range 15 {
		big.Props[fmt.Sprint("k", i)] = strings.Repeat("x", 250)
	}
	var full int
	for i := range 40 {
		_, err := f.in.Accept(context.Background(), f.site, &Batch{Site: "shop", Visitor: "v", Visit: fmt.Sprint("s", i), Events: []Event{big}},
			Meta{IP: "1.2.3.4", UserAgent: chromeUA, Now: time.Now()})
		if errors.Is(err, ErrFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if full == 0 || f.in.QueuedBytes() > 64<<10 || f.in.QueuedBytes() < 32<<10 {
		t.Fatalf("%d refused, %d bytes queued; want the queue bounded near 64 KiB", full, f.in.QueuedBytes())
	}
	tx.Rollback()
	f.flush(t)
	if f.in.QueuedBytes() != 0 || f.in.Queued() != 0 {
		t.Fatalf("%d bytes, %d events still queued after flush", f.in.QueuedBytes(), f.in.Queued())
	}
}

// RecentVisits gives the latest visits with the facts an offer rule would
// have seen at their last page, newest first, and nothing of another site.
func TestRecentVisits(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	now := time.Now()
	f.accept(t, &Batch{Site: "shop", Visitor: "a", Visit: "a1", VisitN: 3, Lang: "de-CH", Events: []Event{
		{Type: "pageview", URL: "https://shop.test/?utm_source=news&utm_campaign=nov", Title: "Home"},
		{Type: "pageview", URL: "https://shop.test/billing", Title: "Billing"},
		{Type: "event", Name: "signup", URL: "https://shop.test/billing"},
		{Type: "event", Name: "signup", URL: "https://shop.test/billing"},
	}}, chromeUA, now.Add(-time.Minute))
	f.accept(t, &Batch{Site: "shop", Visitor: "b", Visit: "b1", VisitN: 1, Events: []Event{{Type: "pageview", URL: "https://shop.test/", Title: "Home"}}}, iphoneUA, now)
	f.flush(t)
	got, err := f.rep.RecentVisits(ctx, "site1", 10)
	if err != nil || len(got) != 2 || got[0].Visit != "b1" {
		t.Fatalf("recent visits %+v, %v", got, err)
	}
	a := got[1].Facts
	for k, want := range map[string]any{"page.path": "/billing", "page.title": "Billing", "visit.pageviews": int64(2), "visit.number": int64(3),
		"visitor.returning": true, "visitor.identified": false, "visitor.browser": "chrome", "visitor.device": "desktop",
		"visitor.language": "de-CH", "utm.source": "news", "utm.campaign": "nov", "events.signup": int64(2)} {
		if a[k] != want {
			t.Errorf("%s = %#v; want %#v (all: %v)", k, a[k], want, a)
		}
	}
	if _, ok := a["utm.medium"]; ok {
		t.Error("an empty UTM field is a fact")
	}
	if b := got[0].Facts; b["visitor.device"] != "mobile" || b["visitor.browser"] != "safari" || b["visitor.returning"] != false {
		t.Errorf("the phone's facts %v", b)
	}
	if other, _ := f.rep.RecentVisits(ctx, "site2", 10); len(other) != 0 {
		t.Error("another site's visits")
	}
}

func mustZone(t testing.TB, name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A batch that finds the queue full waits for the writer to free room and is
// accepted then, so that a client is slowed down rather than refused; one
// that would take the waiting batches past their bytes is refused at once.
func TestFullQueueWaitsForRoom(t *testing.T) {
	f := newFixture(t, Options{MaxQueued: 2, MaxWait: time.Hour, MaxWaitingBytes: 4000})
	if _, _, err := f.db.site(context.Background(), f.site.ID, true); err != nil {
		t.Fatal(err)
	}
	tx, err := f.db.W.Begin() // hold the writer
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	send := func(visit string, ev Event) error {
		_, err := f.in.Accept(context.Background(), f.site, &Batch{Site: "shop", Visitor: "v", Visit: visit, Events: []Event{ev}},
			Meta{IP: "1.2.3.4", UserAgent: chromeUA, Now: time.Now()})
		return err
	}
	page := Event{Type: "pageview", URL: "https://shop.test/"}
	for i := range 2 {
		if err := send(fmt.Sprint("s", i), page); err != nil {
			t.Fatal(err)
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- send("late", page) }()
	for f.in.waiting.Load() == 0 {
		runtime.Gosched()
	}
	f.site.Settings.MaxEventBytes = 16384 // this big event is not dropped as too large
	big := Event{Type: "event", URL: "https://shop.test/", Name: "big", Props: map[string]any{}}
	for i := range 15 {
		big.Props[fmt.Sprint("k", i)] = strings.Repeat("x", 250)
	}
	if err := send("big", big); !errors.Is(err, ErrFull) {
		t.Fatalf("a batch past the waiting bytes: %v; want ErrFull at once", err)
	}
	select {
	case err := <-waited:
		t.Fatalf("the waiting batch returned %v while the writer was held", err)
	default:
	}
	tx.Rollback()
	if err := <-waited; err != nil {
		t.Fatalf("the waiting batch: %v", err)
	}
	f.flush(t)
	var n int
	f.db.R.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n)
	if n != 3 || f.in.waiting.Load() != 0 || f.in.Stats.Full.Load() != 1 {
		t.Fatalf("%d events stored, %d bytes waiting, %d refused; want 3, 0, 1", n, f.in.waiting.Load(), f.in.Stats.Full.Load())
	}
}

// A page that keeps only a visitor id gets its visits from the server: one
// visit for activity in any tab, a new one after 30 minutes idle, numbered,
// and continued from the file by an ingester that starts after a restart.
func TestServerKeepsVisitsOfPagesWithoutVisitIDs(t *testing.T) {
	f := newFixture(t, Options{})
	at := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)
	send := func(in *Ingester, visitor string, now time.Time) {
		t.Helper()
		if _, err := in.Accept(context.Background(), f.site, &Batch{Site: "shop", Visitor: visitor, Events: []Event{{Type: "pageview", URL: "https://shop.test/"}}},
			Meta{IP: "1.2.3.4", UserAgent: chromeUA, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	send(f.in, "ann", at)
	send(f.in, "ann", at.Add(10*time.Minute)) // another tab
	send(f.in, "bob", at.Add(11*time.Minute))
	send(f.in, "ann", at.Add(41*time.Minute)) // 31 minutes idle
	f.flush(t)
	visits := func() []string {
		rows, _ := f.db.R.Query(`SELECT visitor, visit_n, pageviews FROM visits ORDER BY visitor, visit_n`)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v string
			var n, pv int
			rows.Scan(&v, &n, &pv)
			out = append(out, fmt.Sprint(v, n, "/", pv))
		}
		return out
	}
	if got, want := visits(), []string{"ann1/2", "ann2/1", "bob1/1"}; !slices.Equal(got, want) {
		t.Fatalf("visits %v; want %v", got, want)
	}
	// A restart: a new ingester knows the visits from the file only.
	f.in.Close()
	in := NewIngester(f.db, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	defer in.Close()
	send(in, "ann", at.Add(50*time.Minute)) // the second visit goes on
	send(in, "bob", at.Add(80*time.Minute)) // a new visit, number 2
	if err := in.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := visits(), []string{"ann1/2", "ann2/2", "bob1/1", "bob2/1"}; !slices.Equal(got, want) {
		t.Fatalf("after a restart: visits %v; want %v", got, want)
	}
}

// A batch that names no language takes the first of the request's
// Accept-Language; one that names it keeps its own.
func TestLanguageFromTheRequest(t *testing.T) {
	f := newFixture(t, Options{})
	now := time.Now()
	for i, tc := range []struct{ lang, header string }{{"", "de-CH,de;q=0.9,en;q=0.8"}, {"fr-FR", "de-CH"}, {"", "*"}, {"", ""}} {
		if _, err := f.in.Accept(context.Background(), f.site, &Batch{Site: "shop", Visitor: fmt.Sprint("v", i), Lang: tc.lang,
			Events: []Event{{Type: "pageview", URL: "https://shop.test/"}}}, Meta{UserAgent: chromeUA, Language: tc.header, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	f.flush(t)
	rows, _ := f.db.R.Query(`SELECT language FROM visits ORDER BY visitor`)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var l string
		rows.Scan(&l)
		got = append(got, l)
	}
	if want := []string{"de-CH", "fr-FR", "", ""}; !slices.Equal(got, want) {
		t.Errorf("languages %q; want %q", got, want)
	}
}

// A site stores at most its daily budget of events and none longer than its
// event limit; what it drops is counted (metrics, the dashboard's days), and
// the budget holds across a restart.
func TestSiteStorageBudget(t *testing.T) {
	f := newFixture(t, Options{})
	f.site.Settings.EventsPerDay = 1000
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	batch := func(visit string, n int) *Batch {
		b := &Batch{Site: "shop", Visitor: "v", Visit: visit}
		for i := range n {
			b.Events = append(b.Events, Event{Type: "event", URL: "https://shop.test/", Name: fmt.Sprint("e", i)})
		}
		return b
	}
	accepted, dropped := 0, 0
	for i := range 12 {
		res := f.accept(t, batch(fmt.Sprint("s", i), 100), chromeUA, now)
		accepted, dropped = accepted+res.Accepted, dropped+res.Dropped
	}
	if accepted != 1000 || dropped != 200 || f.in.Stats.OverBudget.Load() != 200 {
		t.Fatalf("accepted %d dropped %d (metric %d); want 1000, 200", accepted, dropped, f.in.Stats.OverBudget.Load())
	}
	long := Event{Type: "event", URL: "https://shop.test/", Name: "long", Props: map[string]any{}}
	for i := range 20 {
		long.Props[fmt.Sprint("k", i)] = strings.Repeat("x", 250)
	}
	f.site.Settings.EventsPerDay = 2000
	if res := f.accept(t, &Batch{Site: "shop", Visitor: "v", Visit: "long", Events: []Event{long, {Type: "pageview", URL: "https://shop.test/"}}}, chromeUA, now); res.Accepted != 1 || res.Dropped != 1 {
		t.Fatalf("an event over 4 KiB: %+v", res)
	}
	if f.in.Stats.TooLarge.Load() != 1 {
		t.Fatal("the too-large event is counted")
	}
	f.flush(t)
	var stored int
	f.db.R.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&stored)
	if stored != 1001 {
		t.Fatalf("%d events stored; want 1001", stored)
	}
	day := now.In(mustZone(t, "America/New_York")).Format(time.DateOnly)
	if n, err := f.rep.Dropped(context.Background(), Query{SiteID: "site1", From: day, To: day}); err != nil || n != 201 {
		t.Fatalf("dropped that day: %d %v", n, err)
	}

	// After a restart the day's budget is what is left of it.
	f.in.Close()
	again := NewIngester(f.db, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	t.Cleanup(func() { again.Close() }) // before the file closes
	f.in = again
	if res := f.accept(t, batch("after", 100), chromeUA, now); res.Accepted != 100 {
		t.Fatalf("within the raised budget after a restart: %+v", res)
	}
	f.site.Settings.EventsPerDay = 1000
	if res := f.accept(t, batch("after2", 100), chromeUA, now); res.Accepted != 0 || res.Dropped != 100 {
		t.Fatalf("past the budget after a restart: %+v", res)
	}
	// The next day starts afresh.
	if res := f.accept(t, batch("tomorrow", 100), chromeUA, now.Add(24*time.Hour)); res.Accepted != 100 {
		t.Fatalf("the next day: %+v", res)
	}
	f.flush(t)
}

// TestRefusedBatchesDoNotSpendTheBudget: a batch refused because the queue
// is full (503: the page sends it again) leaves the day's budget as it was,
// so that a flood's refusals cannot keep the site's real events out.
func TestRefusedBatchesDoNotSpendTheBudget(t *testing.T) {
	f := newFixture(t, Options{MaxQueued: 50, MaxWait: -1})
	f.site.Settings.EventsPerDay = 100
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	batch := func(visit string, n int) *Batch {
		b := &Batch{Site: "shop", Visitor: "v", Visit: visit, Sent: now.UnixMilli()}
		for i := range n {
			b.Events = append(b.Events, Event{Type: "event", URL: "https://shop.test/", Name: fmt.Sprint("e", i)})
		}
		return b
	}
	for i := range 3 {
		if _, err := f.in.Accept(context.Background(), f.site, batch(fmt.Sprint("big", i), 60), Meta{IP: "203.0.113.9", UserAgent: chromeUA, Now: now}); !errors.Is(err, ErrFull) {
			t.Fatalf("a batch larger than the queue: %v", err)
		}
	}
	accepted := 0
	for i := range 2 {
		accepted += f.accept(t, batch(fmt.Sprint("s", i), 50), chromeUA, now).Accepted
		f.flush(t)
	}
	if accepted != 100 || f.in.Stats.OverBudget.Load() != 0 {
		t.Fatalf("accepted %d, %d over budget; want the whole budget, 100, after the refusals", accepted, f.in.Stats.OverBudget.Load())
	}
}

// A visit's pages are kept in the order first viewed, whatever the batches,
// with the time engaged on each: the agent reads them as the visitor's path.
func TestAVisitsPagesKeepTheirOrder(t *testing.T) {
	f := newFixture(t, Options{})
	now := time.Now().Add(-time.Hour)
	var want []string
	for batch := range 3 {
		b := &Batch{Site: "shop", Visitor: "v1", Visit: "s1", VisitN: 1}
		for i := range 6 {
			p := fmt.Sprintf("/step-%d-%d", batch, i)
			want = append(want, p)
			ts := now.Add(time.Duration(batch*6+i) * time.Second).UnixMilli()
			b.Events = append(b.Events, Event{Type: "pageview", URL: "https://shop.test" + p, TS: ts},
				Event{Type: "leave", URL: "https://shop.test" + p, TS: ts + 900, EngagedMS: int64(1000 * (i + 1))})
		}
		// A page seen again later keeps its first place.
		b.Events = append(b.Events, Event{Type: "pageview", URL: "https://shop.test/step-0-0", TS: now.Add(time.Duration(batch*6+6) * time.Second).UnixMilli()})
		f.accept(t, b, chromeUA, now.Add(time.Duration(batch*6+7)*time.Second))
	}
	f.flush(t)
	v, ok, err := f.rep.CurrentVisit(context.Background(), f.site.ID, "v1")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	var got []string
	for _, p := range v.Pages {
		got = append(got, p.Path)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages %v, want %v", got, want)
	}
	if v.Pages[0].Views != 4 || v.Pages[2].Seconds != 3 {
		t.Fatalf("counts: %+v", v.Pages[:3])
	}
}

// Who is on the site now: each visitor once, with their latest visit (its
// page, pages, whether an offer was shown in it), the latest active first.
func TestLiveVisitorsShowEachVisitorsLatestVisit(t *testing.T) {
	f := newFixture(t, Options{})
	now := time.Now()
	view := func(visitor, visit, path string, at time.Time, offer bool) {
		b := &Batch{Site: "shop", Visitor: visitor, Visit: visit, VisitN: 2, Events: []Event{{Type: "pageview", URL: "https://shop.test" + path, TS: at.UnixMilli()}}}
		if offer {
			b.Events = append(b.Events, Event{Type: "offer", URL: "https://shop.test" + path, TS: at.UnixMilli(), Offer: &Offer{Rule: "push", Variant: "offer", Stage: "shown"}})
		}
		f.accept(t, b, chromeUA, at)
	}
	view("ann", "a1", "/old", now.Add(-4*time.Minute), false)
	view("ann", "a2", "/cart", now.Add(-time.Minute), true)
	view("bob", "b1", "/", now.Add(-2*time.Minute), false)
	view("gone", "g1", "/", now.Add(-10*time.Minute), false)
	f.flush(t)
	live, err := f.rep.LiveVisitors(context.Background(), f.site.ID, now, 10)
	if err != nil || len(live) != 2 {
		t.Fatalf("%+v %v", live, err)
	}
	if live[0].Visitor != "ann" || live[0].Page != "/cart" || !live[0].OfferShown || !live[0].Returning || live[1].Visitor != "bob" || live[1].OfferShown {
		t.Fatalf("%+v", live)
	}
}
