package analytics

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nudgehq/nudge/store"
)

func TestPathsWithIDsAreNormalised(t *testing.T) {
	rules := pathRules{}
	for path, want := range map[string]string{
		"/":                     "/",
		"/pricing":              "/pricing",
		"/orders/83412":         "/orders/:id",
		"/orders/83412/":        "/orders/:id/",
		"/orders/83412/items/7": "/orders/:id/items/:id",
		"/u/550e8400-e29b-41d4-a716-446655440000/settings": "/u/:id/settings",
		"/u/550E8400E29B41D4A716446655440000":              "/u/:id",
		"/o/5f0c2b1e9a7d4c3b2a1f0e9d":                      "/o/:id", // a 24-hex object id
		"/blog/2026-11-30-release":                         "/blog/2026-11-30-release",
		"/v2/docs":                                         "/v2/docs",
		"/deadbeefdeadbeefcafe":                            "/deadbeefdeadbeefcafe", // hex letters only: a word
		"/p/red-shoes-42":                                  "/p/red-shoes-42",
		"//x":                                              "//x",
	} {
		if got := rules.normalise(path); got != want {
			t.Errorf("normalise(%q) = %q; want %q", path, got, want)
		}
	}
	keep := pathRules{keepIDs: true}
	if got := keep.normalise("/orders/83412"); got != "/orders/83412" {
		t.Errorf("a site that keeps ids: %q", got)
	}
	var c pathRuleCache
	site := c.get("s", []string{"/products/:slug", "/docs/*", "/a/:x/b"}, false)
	for path, want := range map[string]string{
		"/products/red-shoes":     "/products/:slug",
		"/products/red-shoes/buy": "/products/red-shoes/buy",
		"/products/":              "/products/",
		"/docs":                   "/docs",
		"/docs/":                  "/docs/*",
		"/docs/api/v1/auth":       "/docs/*",
		"/a/q/b":                  "/a/:x/b",
		"/a/q/c/9":                "/a/q/c/:id",
		"/orders/12":              "/orders/:id",
	} {
		if got := site.normalise(path); got != want {
			t.Errorf("with patterns, normalise(%q) = %q; want %q", path, got, want)
		}
	}
	if again := c.get("s", []string{"/products/:slug", "/docs/*", "/a/:x/b"}, false); again != site {
		t.Error("the same settings were compiled again")
	}
	if changed := c.get("s", []string{"/products/:slug"}, false); changed.normalise("/docs/x") != "/docs/x" {
		t.Error("changed patterns were not recompiled")
	}
	if got := NormalisePath(store.SiteSettings{PagePatterns: []string{"/orders/:order"}}, "/orders/9"); got != "/orders/:order" {
		t.Errorf("NormalisePath = %q", got)
	}
}

func TestPagePatternsAreChecked(t *testing.T) {
	for _, p := range []string{"/products/:slug", "/docs/*", "/", "/a/b/", "/:lang/about"} {
		if err := store.CheckPagePattern(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	for _, p := range []string{"", "products/:slug", "/docs/*/x", "/a/:", "/a/:b-c", "/a?b", "/a#b", "/a*b", "/" + string(make([]byte, 300))} {
		if err := store.CheckPagePattern(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

// TestReportsKeepNormalisedPaths: an id in a path never reaches the tables,
// every report groups the pages of one kind, and a goal or a filter naming a
// page with its id means the normalised page.
func TestReportsKeepNormalisedPaths(t *testing.T) {
	f := newFixture(t, Options{})
	f.site.Settings.PagePatterns = []string{"/products/:slug"}
	f.site.Settings.Goals = []store.SiteGoal{{Page: "/thanks/1"}}
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 19, 0, 0, 0, time.UTC)
	for i := range 5 {
		f.accept(t, &Batch{Site: "shop", Visitor: fmt.Sprint("v", i), Visit: fmt.Sprint("s", i), Events: []Event{
			{Type: "pageview", URL: fmt.Sprintf("https://shop.test/orders/%d", 1000+i), TS: at.UnixMilli()},
			{Type: "pageview", URL: fmt.Sprintf("https://shop.test/products/shoe-%c", 'a'+i), TS: at.Add(time.Second).UnixMilli()},
			{Type: "pageview", URL: fmt.Sprintf("https://shop.test/thanks/%d", 50+i), TS: at.Add(2 * time.Second).UnixMilli()},
		}}, chromeUA, at.Add(3*time.Second))
	}
	f.flush(t)
	var raw int
	f.db.R.QueryRow(`SELECT COUNT(*) FROM events WHERE path LIKE '/orders/1%' OR path LIKE '/products/shoe%'`).Scan(&raw)
	if raw != 0 {
		t.Errorf("%d events kept a path with its id", raw)
	}
	check := func(name string) {
		t.Helper()
		q := Query{SiteID: "site1", From: "2026-11-02", To: "2026-11-02"}
		pages, err := f.rep.Pages(ctx, q, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range pages {
			got = append(got, fmt.Sprint(p.Value, " ", p.Visitors))
		}
		if want := []string{"/orders/:id 5", "/products/:slug 5", "/thanks/:id 5"}; !slices.Equal(got, want) {
			t.Errorf("%s: pages %v; want %v", name, got, want)
		}
		entries, _ := f.rep.Breakdown(ctx, q, "entry_pages", 10)
		if len(entries) != 1 || entries[0].Value != "/orders/:id" || entries[0].Visits != 5 {
			t.Errorf("%s: entry pages %+v", name, entries)
		}
		q.Page = NormalisePath(f.site.Settings, "/products/shoe-z")
		if s, _ := f.rep.Summary(ctx, q); s.Visits != 5 {
			t.Errorf("%s: filtered by a product page: %+v", name, s)
		}
		goals, _ := f.rep.Goals(ctx, q, []Goal{{Page: NormalisePath(f.site.Settings, "/thanks/1")}})
		if goals[0].Visitors != 5 {
			t.Errorf("%s: goal /thanks/1: %+v", name, goals)
		}
	}
	check("live")
	if _, err := Roll(ctx, f.db, "site1", mustLoc(f.site.TimeZone), at.AddDate(0, 0, 3)); err != nil {
		t.Fatal(err)
	}
	check("rolled")
}

// TestRolledDayKeepsTheMostVisitedValues: past MaxDayValues values of a
// dimension, a rolled day adds the rest up in one Other row, whose visitors
// are the union of theirs; totals do not change.
func TestRolledDayKeepsTheMostVisitedValues(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)
	n := MaxDayValues + 10
	for i := range n {
		evs := []Event{{Type: "pageview", URL: fmt.Sprintf("https://shop.test/p/item-%04d", i), TS: at.UnixMilli()}}
		if i < 5 { // five pages every visit sees, so that they rank first
			for j := range 3 {
				evs = append(evs, Event{Type: "pageview", URL: fmt.Sprintf("https://shop.test/top/%c", 'a'+j), TS: at.Add(time.Second).UnixMilli()})
			}
		}
		f.accept(t, &Batch{Site: "shop", Visitor: fmt.Sprint("v", i%700), Visit: fmt.Sprint("s", i), Events: evs}, chromeUA, at.Add(2*time.Second))
	}
	f.flush(t)
	q := Query{SiteID: "site1", From: "2026-11-02", To: "2026-11-02"}
	before, _ := f.rep.Summary(ctx, q)
	livePages, _ := f.rep.Pages(ctx, q, 2000)
	if len(livePages) != n+3 {
		t.Fatalf("live pages: %d", len(livePages))
	}
	if _, err := Roll(ctx, f.db, "site1", mustLoc(f.site.TimeZone), at.AddDate(0, 0, 3)); err != nil {
		t.Fatal(err)
	}
	var rows int
	f.db.R.QueryRow(`SELECT COUNT(*) FROM day_rollups WHERE dim = 'page'`).Scan(&rows)
	if rows != MaxDayValues+1 {
		t.Errorf("%d page rows in the rolled day; want %d", rows, MaxDayValues+1)
	}
	after, _ := f.rep.Summary(ctx, q)
	if after != before {
		t.Errorf("summary changed by the cap: %+v, was %+v", after, before)
	}
	pages, _ := f.rep.Pages(ctx, q, 2000)
	if len(pages) != MaxDayValues+1 || pages[1].Value != "/top/a" || pages[1].Visits != 5 {
		t.Fatalf("rolled pages: %d, second %+v", len(pages), pages[1])
	}
	var other *Row
	var views int64
	for i, p := range pages {
		views += p.Pageviews
		if p.Value == Other {
			other = &pages[i]
		}
	}
	if other == nil || other.Visits != 13 || other.Visitors != 13 {
		t.Errorf("other row %+v; want the 13 least visited pages' visits", other)
	}
	if views != before.Pageviews {
		t.Errorf("pageviews of the pages: %d; want %d", views, before.Pageviews)
	}
	// Dimensions with few values are not touched.
	browsers, _ := f.rep.Breakdown(ctx, q, "browsers", 10)
	if len(browsers) != 1 || browsers[0].Value != "Chrome" || browsers[0].Visits != int64(n) {
		t.Errorf("browsers %+v", browsers)
	}
}
