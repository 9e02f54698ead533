package analytics

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A live day's table is read again once older than liveAge, and at once
// after an erasure; a rolled day's lasts until the day is rolled again.
func TestDayTablesStayTrue(t *testing.T) {
	f := newFixture(t, Options{})
	f.rep.tables.liveAge = time.Hour
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)
	send := func(visitor string) {
		f.accept(t, &Batch{Site: "shop", Visitor: visitor, Events: []Event{{Type: "pageview", URL: "https://shop.test/", TS: at.UnixMilli()}}}, iphoneUA, at)
		f.flush(t)
	}
	q := Query{SiteID: "site1", From: "2026-11-02", To: "2026-11-02", Device: "mobile"}
	visits := func() int64 {
		t.Helper()
		s, err := f.rep.Summary(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return s.Visits
	}
	send("a")
	if n := visits(); n != 1 {
		t.Fatalf("%d visits", n)
	}
	send("b")
	if n := visits(); n != 1 {
		t.Fatalf("%d visits within liveAge; want the table read before (1)", n)
	}
	f.rep.tables.liveAge = 0
	if n := visits(); n != 2 {
		t.Fatalf("%d visits once the table is old; want 2", n)
	}
	// Unchanged, a table lasts however old.
	before := f.rep.tables.entries[tableKey{1, "2026-11-02"}]
	if n := visits(); n != 2 || f.rep.tables.entries[tableKey{1, "2026-11-02"}] != before {
		t.Fatalf("%d visits; an unchanged table was read again", n)
	}
	f.rep.tables.liveAge = time.Hour
	if _, err := Erase(ctx, f.db, "site1", "a"); err != nil {
		t.Fatal(err)
	}
	if n := visits(); n != 1 {
		t.Fatalf("%d visits after an erasure; want 1 at once", n)
	}
	if _, err := Roll(ctx, f.db, "site1", mustLoc(f.site.TimeZone), at.AddDate(0, 0, 3)); err != nil {
		t.Fatal(err)
	}
	if n := visits(); n != 1 {
		t.Fatalf("%d visits after the roll", n)
	}
	send("c") // a late visit: the day is dirty, read live again
	f.rep.tables.liveAge = 0
	if n := visits(); n != 2 {
		t.Fatalf("%d visits after a late one; want 2", n)
	}
}

// Past the memory budget the least recently used tables go.
func TestDayTablesKeepToTheirBudget(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)
	for d := range 5 {
		f.accept(t, &Batch{Site: "shop", Visitor: fmt.Sprint("v", d), Events: []Event{{Type: "pageview", URL: "https://shop.test/", TS: at.AddDate(0, 0, d).UnixMilli()}}},
			chromeUA, at.AddDate(0, 0, d))
	}
	f.flush(t)
	site, _, _ := f.db.site(ctx, "site1", false)
	one, err := buildDayTable(ctx, f.db, site, "2026-11-02")
	if err != nil {
		t.Fatal(err)
	}
	tables := newDayTables(3 * one.bytes)
	for d := range 5 {
		if _, err := tables.get(ctx, f.db, site, at.AddDate(0, 0, d).Format(time.DateOnly), 1); err != nil {
			t.Fatal(err)
		}
	}
	if tables.lru.Len() > 3 || tables.used > 3*one.bytes {
		t.Fatalf("%d tables, %d bytes; budget %d", tables.lru.Len(), tables.used, 3*one.bytes)
	}
	if _, ok := tables.entries[tableKey{site, "2026-11-06"}]; !ok {
		t.Error("the latest table was dropped")
	}
}
