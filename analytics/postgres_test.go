package analytics

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/internal/pgtest"
)

func openPG(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), pgtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PostgreSQL's merge functions (PL/pgSQL, in the migration) give what Go's
// give (visitdoc.go, which SQLite calls) for random lists: keys shared and
// not, counts summed or maxed, lists past their limit, empty and NULL.
func TestPostgresMergesAsGoDoes(t *testing.T) {
	db := openPG(t)
	rng := rand.New(rand.NewPCG(7, 27))
	keys := []string{"/", "/a", "/a/b", "/é", "/😀", "/x?y=1", `/back\slash`, `/\000`, "/a\x01b"}
	doc := func(k docKind, n int) []byte {
		var b []byte
		seen := map[string]bool{}
		for range n {
			key := keys[rng.IntN(len(keys))]
			if rng.IntN(4) == 0 {
				key = fmt.Sprintf("/p%d", rng.IntN(k.max+50))
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			var c [3]int64
			for i := range k.nums {
				c[i] = rng.Int64N(1000)
			}
			b = appendEntry(b, []byte(key), k.nums, c)
		}
		return b
	}
	for _, kind := range []struct {
		fn string
		k  docKind
	}{{"nudge_merge_pages", pagesDoc}, {"nudge_merge_evs", evsDoc}, {"nudge_merge_props", propsDoc}} {
		for round := range 60 {
			size := []int{0, 1, 5, 40, kind.k.max + 30}[round%5]
			a, b := doc(kind.k, size), doc(kind.k, rng.IntN(60))
			if round%7 == 0 {
				a = nil
			}
			want := kind.k.merge(a, b)
			var got []byte
			if err := db.R.QueryRow(`SELECT `+kind.fn+`(?, ?)`, nilIfEmpty(a), nilIfEmpty(b)).Scan(&got); err != nil {
				t.Fatalf("%s: %v", kind.fn, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s round %d:\na    %q\nb    %q\ngot  %q\nwant %q", kind.fn, round, a, b, got, want)
			}
		}
	}
	pages := appendEntry(appendEntry(nil, []byte("/seen"), 3, [3]int64{2, 10, 50}), []byte("/engaged-only"), 3, [3]int64{0, 5, 0})
	for path, want := range map[string]bool{"/seen": true, "/engaged-only": false, "/see": false, "/seen/x": false, "": false} {
		var got bool
		if err := db.R.QueryRow(`SELECT nudge_viewed(?, ?)`, pages, path).Scan(&got); err != nil || got != want {
			t.Errorf("nudge_viewed(%q) = %v, %v; want %v", path, got, err, want)
		}
	}
}

// A day's table of raw events goes once every site with data has a cutoff
// after it; a site that keeps its events for ever keeps every day.
func TestPostgresRetentionDropsDays(t *testing.T) {
	db := openPG(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, daysAgo := range []int{40, 35, 1} {
		at := now.AddDate(0, 0, -daysAgo)
		if err := db.ensurePartitions(ctx, []int64{at.UnixMilli()}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.W.Exec(`INSERT INTO event_log (site, ts, visit, visitor, n, data) VALUES (?, ?, ?, 'v', 3, '[]')`,
			mustSite(t, db, "site1"), at.UnixMilli(), fmt.Sprint("visit", daysAgo)); err != nil {
			t.Fatal(err)
		}
	}
	mustSite(t, db, "site2")
	tables := func() []string {
		rows, err := db.R.Query(`SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'event_log_%' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			out = append(out, strings.TrimPrefix(n, "event_log_"))
		}
		return out
	}
	all := tables()
	if len(all) != 3 {
		t.Fatalf("day tables %v", all)
	}
	cutoff := now.AddDate(0, 0, -30)
	if n, err := DropExpiredDays(ctx, db, map[string]time.Time{"site1": cutoff}); err != nil || n != 0 || !slices.Equal(tables(), all) {
		t.Fatalf("site2 keeps its events for ever, yet %d events went (%v): %v", n, err, tables())
	}
	if n, err := DropExpiredDays(ctx, db, map[string]time.Time{"site1": cutoff, "site2": now.AddDate(0, 0, -38)}); err != nil || n != 3 ||
		!slices.Equal(tables(), all[1:]) {
		t.Fatalf("site2 keeps 38 days: dropped %d (%v), left %v", n, err, tables())
	}
	if n, err := DropExpiredDays(ctx, db, map[string]time.Time{"site1": cutoff, "site2": cutoff}); err != nil || n != 3 || len(tables()) != 1 {
		t.Fatalf("both keep 30 days: dropped %d (%v), left %v", n, err, tables())
	}
	// A day dropped is made again when an event of that day arrives late.
	old := now.AddDate(0, 0, -40).UnixMilli()
	if err := db.ensurePartitions(ctx, []int64{old}); err != nil || len(tables()) != 2 {
		t.Fatalf("made again: %v %v", err, tables())
	}
}

func mustSite(t *testing.T, db *DB, id string) int64 {
	t.Helper()
	n, _, err := db.site(context.Background(), id, true)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The analytics tables have the same columns on both databases, at the same
// version: a migration added to one folder and not the other fails here.
func TestAnalyticsSchemasMatch(t *testing.T) {
	ctx := context.Background()
	lite, err := Open(ctx, filepath.Join(t.TempDir(), "analytics.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg := openPG(t)
	columns := func(db *DB, q string) []string {
		rows, err := db.R.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var table, col string
			rows.Scan(&table, &col)
			if !strings.HasPrefix(table, "goose_") && !strings.HasPrefix(table, "event_log_") {
				out = append(out, table+"."+col)
			}
		}
		slices.Sort(out)
		return out
	}
	l := columns(lite, `SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%'`)
	p := columns(pg, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = '`+Schema+`'`)
	if !slices.Equal(l, p) {
		t.Errorf("columns differ:\nSQLite     %v\nPostgreSQL %v", l, p)
	}
	lv, _ := lite.Version(ctx)
	pv, _ := pg.Version(ctx)
	if lv != pv {
		t.Errorf("SQLite at version %d, PostgreSQL at %d", lv, pv)
	}
}
