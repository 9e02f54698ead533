package analytics

import (
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/store"
)

func TestVisitListsMerge(t *testing.T) {
	var a, b []byte
	a = appendEntry(a, docKey(nil, "/"), 3, [3]int64{2, 100, 40})
	a = appendEntry(a, docKey(nil, "/pricing"), 3, [3]int64{1, 0, 10})
	b = appendEntry(b, docKey(nil, "/pricing"), 3, [3]int64{0, 50, 90})
	b = appendEntry(b, docKey(nil, "/help"), 3, [3]int64{1, 0, 0})
	got := map[string][3]int64{}
	eachEntry(pagesDoc.merge(a, b), 3, func(key []byte, n [3]int64) bool {
		got[string(key)] = n
		return true
	})
	want := map[string][3]int64{"/": {2, 100, 40}, "/pricing": {1, 50, 90}, "/help": {1, 0, 0}}
	if len(got) != 3 || got["/"] != want["/"] || got["/pricing"] != want["/pricing"] || got["/help"] != want["/help"] {
		t.Fatalf("merged pages %v; want views and engagement added, the deepest scroll", got)
	}
	if m := pagesDoc.merge(nil, b); string(m) != string(b) {
		t.Error("merge into an empty list")
	}
	// A visit past its entry limit keeps counting the keys it has.
	var full []byte
	for i := range maxVisitEvs {
		full = appendEntry(full, docKey(nil, "e", string(rune('a'+i%26)), string(rune('a'+i/26))), 1, [3]int64{1})
	}
	more := appendEntry(nil, docKey(nil, "new"), 1, [3]int64{1})
	more = appendEntry(more, docKey(nil, "e", "a", "a"), 1, [3]int64{5})
	n, first := 0, int64(0)
	eachEntry(evsDoc.merge(full, more), 1, func(key []byte, c [3]int64) bool {
		n++
		if string(key) == "new" {
			t.Error("a key past the limit was kept")
		}
		if n == 1 {
			first = c[0]
		}
		return true
	})
	if n != maxVisitEvs || first != 6 {
		t.Errorf("%d entries, first counted %d; want %d and 6", n, first, maxVisitEvs)
	}
	if clean("a\x00b\x01c\td\x7fé") != "abcdé" || clean("plain") != "plain" {
		t.Errorf("clean: %q", clean("a\x00b\x01c\td\x7fé"))
	}
}

// The raw events kept for a batch are valid JSON whatever the text holds, and
// the events view shows them as rows.
func TestEventLogKeepsEventsAsJSON(t *testing.T) {
	f := newFixture(t, Options{})
	now := time.Now()
	title := "quote \" backslash \\ tab \t nul \x00 line\nend é 😀"
	f.accept(t, &Batch{Site: "shop", Visitor: "v", Visit: "s", Events: []Event{
		{Type: "pageview", URL: "https://shop.test/a%00b%01c", Title: title},
		{Type: "event", Name: "buy\x01x", URL: "https://shop.test/", Props: map[string]any{"k\x00": "v\x01\"", "n": 2.5, "ok": true}},
	}}, chromeUA, now)
	f.flush(t)
	var data string
	if err := f.db.R.QueryRow(`SELECT data FROM event_log`).Scan(&data); err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	if err := json.Unmarshal([]byte(data), &evs); err != nil || len(evs) != 2 {
		t.Fatalf("event_log data %q: %v", data, err)
	}
	if evs[0]["title"] != strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(title, "\x00", ""), "\t", ""), "\n", "") || evs[0]["path"] != "/abc" {
		t.Errorf("first event %v", evs[0])
	}
	var path, name, props string
	f.db.R.QueryRow(`SELECT path FROM events WHERE type = 'pageview'`).Scan(&path)
	if err := f.db.R.QueryRow(`SELECT name, props FROM events WHERE type = 'event'`).Scan(&name, &props); err != nil {
		t.Error(err)
	}
	if path != "/abc" || name != "buyx" || !strings.Contains(props, `"n":2.5`) {
		t.Errorf("events view: %q %q %q", path, name, props)
	}
	q := Query{SiteID: "site1", From: now.In(mustLoc(f.site.TimeZone)).Format(time.DateOnly)}
	q.To = q.From
	rows, err := f.rep.EventProperties(context.Background(), q, "buyx", 10)
	var got []string
	for _, r := range rows {
		got = append(got, r.Value)
	}
	if err != nil || !slices.Equal(got, []string{"k=v\"", "n=2.5", "ok=true"}) {
		t.Errorf("properties %q, %v", got, err)
	}
}

// An analytics file from before visit lists (migration 00008) keeps every
// event, visit, page, event and property, and reports the same.
func TestOldFilesMoveToVisitLists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "analytics.db")
	sub, _ := fs.Sub(migrations, "migrations")
	old, err := store.OpenDB(context.Background(), path, store.DBOptions{Migrations: sub, Version: 7, Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	day := "2026-11-02"
	ts := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC).UnixMilli()
	for _, q := range []string{
		`INSERT INTO sites (site, site_id) VALUES (1, 'site1')`,
		`INSERT INTO events (site, ts, visitor, visit, type, path, title, ref_host) VALUES
			(1, ` + itoa(ts) + `, 'ann', 'a1', 'pageview', '/', 'Home', 'google.com'),
			(1, ` + itoa(ts+1000) + `, 'ann', 'a1', 'pageview', '/pricing', 'Pricing', ''),
			(1, ` + itoa(ts+2000) + `, 'bob', 'b1', 'pageview', '/', 'Home', '')`,
		`INSERT INTO events (site, ts, visitor, visit, type, path, name, props) VALUES
			(1, ` + itoa(ts+1500) + `, 'ann', 'a1', 'event', '/pricing', 'signup', '{"plan":"green"}')`,
		`INSERT INTO visits (site, visit, visitor, day, hour, start_ts, end_ts, pageviews, events, entry_path, exit_path, source, browser, device) VALUES
			(1, 'a1', 'ann', '` + day + `', 10, ` + itoa(ts) + `, ` + itoa(ts+1500) + `, 2, 1, '/', '/pricing', 'Google', 'Chrome', 'desktop'),
			(1, 'b1', 'bob', '` + day + `', 10, ` + itoa(ts+2000) + `, ` + itoa(ts+2000) + `, 1, 0, '/', '/', '', 'Safari', 'mobile')`,
		`INSERT INTO page_visits (site, visit, path, visitor, day, views, engaged_ms, scroll) VALUES
			(1, 'a1', '/', 'ann', '` + day + `', 1, 500, 20), (1, 'a1', '/pricing', 'ann', '` + day + `', 1, 0, 0), (1, 'b1', '/', 'bob', '` + day + `', 1, 0, 0)`,
		`INSERT INTO event_visits (site, visit, name, visitor, day, count) VALUES (1, 'a1', 'signup', 'ann', '` + day + `', 1)`,
		`INSERT INTO event_props (site, visit, name, key, value, visitor, day, count) VALUES (1, 'a1', 'signup', 'plan', 'green', 'ann', '` + day + `', 1)`,
	} {
		if _, err := old.W.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep := NewReports(db)
	ctx := context.Background()
	q := Query{SiteID: "site1", From: day, To: day}
	sum, _ := rep.Summary(ctx, q)
	pages, _ := rep.Pages(ctx, q, 10)
	events, _ := rep.Events(ctx, q, 10)
	props, _ := rep.EventProperties(ctx, q, "signup", 10)
	viaPricing, _ := rep.Summary(ctx, Query{SiteID: "site1", From: day, To: day, Page: "/pricing", Device: "desktop"})
	if sum.Visits != 2 || sum.Visitors != 2 || sum.Pageviews != 3 || len(pages) != 2 || pages[0].Value != "/" || pages[0].Pageviews != 2 ||
		len(events) != 1 || events[0].Count != 1 || len(props) != 1 || props[0].Value != "plan=green" || viaPricing.Visits != 1 {
		t.Fatalf("after the migration: %+v %+v %+v %+v %+v", sum, pages, events, props, viaPricing)
	}
	var n int
	var title string
	db.R.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n)
	db.R.QueryRow(`SELECT exit_title FROM visits WHERE visit = 'a1'`).Scan(&title)
	if n != 4 || title != "Pricing" {
		t.Errorf("%d events, exit title %q; want 4 and Pricing", n, title)
	}
	if erased, err := Erase(ctx, db, "site1", "ann"); err != nil || erased != 3 {
		t.Errorf("erase after the migration: %d, %v", erased, err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
