package analytics

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// OpenDays is how many days, today included, stay computed live from the
// visit-keyed tables. Older days are rolled into day_rollups; late events for
// them (a visit across midnight, a delayed beacon) mark them dirty, and they
// are computed live again until the next roll.
const OpenDays = 1

// visitColumns are the visit dimensions rolled per day, in a fixed order.
var visitColumns = func() []string {
	var cols []string
	for _, c := range Dimensions {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	return cols
}()

// stat is what a report row adds up: over days for rolled days, over visits
// for live ones.
type stat struct {
	visits, pageviews, bounces, durationMS, count int64
	numbered                                      *roaring.Bitmap     // visitor numbers
	pending                                       []uint32            // numbers not in numbered yet
	unnumbered                                    map[string]struct{} // live visitors not numbered yet
}

func newStat() *stat { return &stat{numbered: roaring.New()} }

// addNumber counts a visitor by number. Numbers come unsorted, and a bitmap
// takes them far faster sorted and many at once: they wait in pending.
func (s *stat) addNumber(n uint32) {
	if s.pending = append(s.pending, n); len(s.pending) == 1<<16 {
		s.settle()
	}
}

// settle puts the pending numbers in the bitmap.
func (s *stat) settle() {
	if len(s.pending) > 0 {
		slices.Sort(s.pending)
		s.numbered.AddMany(s.pending)
		s.pending = s.pending[:0]
	}
}

func (s *stat) visitors() int64 {
	s.settle()
	return int64(s.numbered.GetCardinality()) + int64(len(s.unnumbered))
}

// addVisitor counts a visitor by number, or by id when it has no number yet
// (a visitor first seen in the live days cannot be in a rolled day's bitmap).
func (s *stat) addVisitor(n sql.NullInt64, visitor string) {
	if n.Valid {
		s.addNumber(uint32(n.Int64))
		return
	}
	if s.unnumbered == nil {
		s.unnumbered = map[string]struct{}{}
	}
	s.unnumbered[visitor] = struct{}{}
}

type statKey struct{ dim, value string }

// RollAll rolls the closed days of every site with data, as of now. zone
// gives a site's time zone (nil: UTC). It returns how many days it rolled.
func RollAll(ctx context.Context, db *DB, zone func(siteID string) *time.Location, now time.Time) (int, error) {
	rows, err := db.R.QueryContext(ctx, `SELECT site_id FROM sites`)
	if err != nil {
		return 0, fmt.Errorf("analytics: roll: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	total := 0
	for _, id := range ids {
		loc := zone(id)
		if loc == nil {
			loc = time.UTC
		}
		n, err := Roll(ctx, db, id, loc, now)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Roll rolls a site's closed days that are not rolled yet or were changed
// since (dirty).
func Roll(ctx context.Context, db *DB, siteID string, loc *time.Location, now time.Time) (int, error) {
	site, ok, err := db.site(ctx, siteID, false)
	if err != nil || !ok {
		return 0, err
	}
	last := now.In(loc).AddDate(0, 0, -OpenDays).Format(time.DateOnly)
	rows, err := db.R.QueryContext(ctx, `SELECT DISTINCT day FROM visits WHERE site = ? AND day <= ?
		EXCEPT SELECT day FROM rolled_days WHERE site = ? AND ready = 1 AND dirty = 0`, site, last, site)
	if err != nil {
		return 0, fmt.Errorf("analytics: days to roll: %w", err)
	}
	var days []string
	for rows.Next() {
		var d string
		rows.Scan(&d)
		days = append(days, d)
	}
	rows.Close()
	for _, d := range days {
		if err := rollDay(ctx, db, site, d, now); err != nil {
			return 0, fmt.Errorf("analytics: roll %s of %s: %w", d, siteID, err)
		}
	}
	return len(days), nil
}

// rollDay recomputes one day's rollups. It clears the dirty mark first and
// reads afterwards, so that a change made while it reads marks the day dirty
// again rather than being lost.
func rollDay(ctx context.Context, db *DB, site int64, day string, now time.Time) error {
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rolled_days (site, day, ready, dirty, rolled_at) VALUES (?, ?, 0, 0, ?)
			ON CONFLICT (site, day) DO UPDATE SET ready = 0, dirty = 0, rolled_at = excluded.rolled_at`, site, day, now.UnixMilli()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO visitor_numbers (site, visitor)
			SELECT DISTINCT site, visitor FROM visits WHERE site = ? AND day = ? ON CONFLICT DO NOTHING`, site, day); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE visits SET vn = (SELECT n FROM visitor_numbers WHERE site = visits.site AND visitor = visits.visitor)
			WHERE site = ? AND day = ? AND vn IS NULL`, site, day)
		return err
	})
	if err != nil {
		return err
	}
	// The day's table, added up by every dimension as reports would.
	t, err := buildDayTable(ctx, db, site, day)
	if err != nil {
		return err
	}
	dims := append(append([]string{"", "hour"}, visitColumns...), "page", "event")
	seen := map[string]bool{}
	for _, v := range t.props.dict.values {
		if name, _, _ := strings.Cut(v, "\x01"); !seen[name] {
			seen[name] = true
			dims = append(dims, "prop:"+name)
		}
	}
	stats := map[statKey]*stat{}
	for _, dim := range dims {
		m := map[string]*stat{}
		if err := t.collect(Query{}, dim, "", m); err != nil {
			return err
		}
		for value, s := range m {
			stats[statKey{dim, value}] = s
		}
	}
	capValues(stats, dayValues)
	return db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM day_rollups WHERE site = ? AND day = ?`, site, day); err != nil {
			return err
		}
		ins := multiRow{tx: tx, cols: 10, head: `INSERT INTO day_rollups (site, day, dim, value, visits, pageviews, bounces, duration_ms, count, visitors) VALUES `}
		for k, s := range stats {
			s.settle()
			s.numbered.RunOptimize()
			var buf bytes.Buffer
			if _, err := s.numbered.WriteTo(&buf); err != nil {
				return err
			}
			if err := ins.add(site, day, k.dim, k.value, s.visits, s.pageviews, s.bounces, s.durationMS, s.count, buf.Bytes()); err != nil {
				return err
			}
		}
		if err := ins.flush(); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE rolled_days SET ready = 1 WHERE site = ? AND day = ?`, site, day)
		return err
	})
}

// MaxDayValues is how many values of one dimension a rolled day keeps; the
// rest are added up in one row valued Other. Without it, a dimension with
// unbounded values (paths with ids a site's patterns miss, a property holding
// an order number) would grow the rollups with every visit.
const MaxDayValues = 1000

// dayValues is MaxDayValues but for the benchmark that measures without it.
var dayValues = MaxDayValues

// Other is the value that stands for a dimension's values past MaxDayValues.
const Other = "(other)"

// capValues folds each dimension's values past the max most visited into Other.
func capValues(stats map[statKey]*stat, max int) {
	byDim := map[string][]statKey{}
	for k := range stats {
		if k.dim != "" && k.dim != "hour" {
			byDim[k.dim] = append(byDim[k.dim], k)
		}
	}
	for dim, keys := range byDim {
		if len(keys) <= max {
			continue
		}
		sort.Slice(keys, func(i, j int) bool {
			a, b := stats[keys[i]], stats[keys[j]]
			if a.visits != b.visits {
				return a.visits > b.visits
			}
			if a.count != b.count {
				return a.count > b.count
			}
			return keys[i].value < keys[j].value
		})
		other := stats[statKey{dim, Other}]
		if other == nil {
			other = newStat()
			stats[statKey{dim, Other}] = other
		}
		for _, k := range keys[max:] {
			if k.value == Other {
				continue
			}
			s := stats[k]
			s.settle()
			other.visits += s.visits
			other.pageviews += s.pageviews
			other.bounces += s.bounces
			other.durationMS += s.durationMS
			other.count += s.count
			other.numbered.Or(s.numbered)
			delete(stats, k)
		}
	}
}

// visitRow is one visit as a day table reads it.
type visitRow struct {
	hour                        int
	pageviews, events, duration int64
	pages, evs, props           []byte // the visit's lists (visitdoc.go)
}

// eachPage calls fn with each page the visit viewed and its views.
func (v *visitRow) eachPage(fn func(path string, views int64)) {
	eachEntry(v.pages, 3, func(key []byte, n [3]int64) bool {
		if n[0] > 0 {
			fn(string(key), n[0])
		}
		return true
	})
}

// eachEvent calls fn with each custom event of the visit and its count.
func (v *visitRow) eachEvent(fn func(name string, count int64)) {
	eachEntry(v.evs, 1, func(key []byte, n [3]int64) bool {
		fn(string(key), n[0])
		return true
	})
}

// eachProp calls fn with each event property value of the visit as
// "key=value" and its count; event, if set, keeps that event's.
func (v *visitRow) eachProp(event string, fn func(name, kv string, count int64)) {
	eachEntry(v.props, 1, func(key []byte, n [3]int64) bool {
		name, rest, _ := bytes.Cut(key, []byte{1})
		if event != "" && string(name) != event {
			return true
		}
		k, value, _ := bytes.Cut(rest, []byte{1})
		fn(string(name), string(k)+"="+string(value), n[0])
		return true
	})
}

// markDirty records that days of a site changed: rolled ones must be rolled again.
func markDirty(ctx context.Context, tx *sql.Tx, days map[visitKey]string) error {
	seen := map[[2]any]bool{}
	for k, d := range days {
		key := [2]any{k.site, d}
		if seen[key] {
			continue
		}
		seen[key] = true
		if _, err := tx.ExecContext(ctx, `UPDATE rolled_days SET dirty = 1 WHERE site = ? AND day = ? AND dirty = 0`, k.site, d); err != nil {
			return fmt.Errorf("mark %s dirty: %w", d, err)
		}
	}
	return nil
}
