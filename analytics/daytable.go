package analytics

import (
	"bytes"
	"container/list"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"
)

// A dayTable is one day of a site's visits in memory, column by column, for
// the reports day_rollups cannot answer: filtered ones (rollups hold no
// combination of values) and the days not rolled (today, dirty days). Values
// are coded per day (a dictionary per column); a visit's pages, events and
// properties are runs in shared arrays. A report reads the day's visits at
// memory speed instead of SQLite's row by row (docs/benchmarks.md).
type dayTable struct {
	visitor  []uint32 // the visitor's number, 0 when it has none yet (live days)
	ids      []string // the ids of the visitors without a number, by visit (up to the last such)
	hour     []uint8
	views    []uint32 // the visit's pageviews
	events   []uint32
	duration []uint32   // ms
	cols     [][]uint16 // per visitColumns: the value's code
	dicts    []dict     // per visitColumns
	pages    runs       // path, views
	evs      runs       // name, count
	props    runs       // name 0x01 key=value, count
	bytes    int

	mu   sync.Mutex
	sels map[string][]uint32 // selection's, by Query.filterKey
}

// dict codes a column's values; past maxCodes values the rest share Other.
type dict struct {
	values []string
	codes  map[string]uint16
}

const maxCodes = 1 << 16

// codeOf is code for a value in bytes, without a copy when it is known.
func (d *dict) codeOf(v []byte) uint16 {
	if c, ok := d.codes[string(v)]; ok {
		return c
	}
	return d.code(string(v))
}

func (d *dict) code(v string) uint16 {
	if c, ok := d.codes[v]; ok {
		return c
	}
	if len(d.values) == maxCodes-1 {
		v = Other
		if c, ok := d.codes[v]; ok {
			return c
		}
	}
	c := uint16(len(d.values))
	d.values = append(d.values, v)
	d.codes[v] = c
	return c
}

// runs are each visit's entries: visit i has code[off[i]:off[i+1]].
type runs struct {
	off   []uint32
	code  []uint16
	count []uint32
	dict  dict
}

func newRuns() runs { return runs{off: []uint32{0}, dict: dict{codes: map[string]uint16{}}} }

func (r *runs) add(key string, n int64) {
	r.code = append(r.code, r.dict.code(key))
	r.count = append(r.count, uint32(min(n, 1<<32-1)))
}

func (r *runs) end() { r.off = append(r.off, uint32(len(r.code))) }

// buildDayTable reads a day of a site's visits.
func buildDayTable(ctx context.Context, db *DB, site int64, day string) (*dayTable, error) {
	t := &dayTable{cols: make([][]uint16, len(visitColumns)), dicts: make([]dict, len(visitColumns)),
		pages: newRuns(), evs: newRuns(), props: newRuns()}
	for i := range t.dicts {
		t.dicts[i].codes = map[string]uint16{}
	}
	// The visit's columns come joined by 0x01 in one value: SQLite's
	// driver pays per column read, and a row has twenty.
	// A visit without a number (vn, written when its day is rolled) may
	// still have one from another day: looked up then.
	rows, err := db.R.QueryContext(ctx, `SELECT coalesce(v.vn, (SELECT n FROM visitor_numbers WHERE site = v.site AND visitor = v.visitor)), v.visitor,
			v.hour, v.pageviews, v.events, v.end_ts - v.start_ts,
			`+db.Dialect.Bytes("v."+strings.Join(visitColumns, ` || `+db.Dialect.Char(1)+` || v.`))+`, v.pages, v.evs, v.props
		FROM visits v`+db.Dialect.IndexedBy("visits_day")+` WHERE v.site = ? AND v.day = ?`, site, day)
	if err != nil {
		return nil, fmt.Errorf("analytics: day %s: %w", day, err)
	}
	defer rows.Close()
	var v visitRow
	var n sql.NullInt64
	var visitor string
	var dims sql.RawBytes
	var pages, evs, props sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&n, &visitor, &v.hour, &v.pageviews, &v.events, &v.duration, &dims, &pages, &evs, &props); err != nil {
			return nil, fmt.Errorf("analytics: day %s: %w", day, err)
		}
		if n.Valid {
			t.visitor = append(t.visitor, uint32(n.Int64))
		} else {
			for len(t.ids) < len(t.visitor) {
				t.ids = append(t.ids, "")
			}
			t.ids = append(t.ids, visitor)
			t.visitor = append(t.visitor, 0)
		}
		t.hour = append(t.hour, uint8(v.hour))
		t.views = append(t.views, uint32(v.pageviews))
		t.events = append(t.events, uint32(v.events))
		t.duration = append(t.duration, uint32(min(max(v.duration, 0), 1<<32-1)))
		for i := range visitColumns {
			value := dims
			if j := bytes.IndexByte(dims, 1); j >= 0 {
				value, dims = dims[:j], dims[j+1:]
			} else {
				dims = nil
			}
			t.cols[i] = append(t.cols[i], t.dicts[i].codeOf(value))
		}
		v.pages, v.evs, v.props = pages, evs, props
		v.eachPage(func(path string, views int64) { t.pages.add(path, views) })
		v.eachEvent(func(name string, count int64) { t.evs.add(name, count) })
		v.eachProp("", func(name, kv string, count int64) { t.props.add(name+"\x01"+kv, count) })
		t.pages.end()
		t.evs.end()
		t.props.end()
	}
	err = rows.Err()
	if err != nil {
		return nil, fmt.Errorf("analytics: day %s: %w", day, err)
	}
	t.bytes = len(t.visitor)*(4+1+4+4+4+2*len(visitColumns)+3*4) + 6*(len(t.pages.code)+len(t.evs.code)+len(t.props.code)) + 16*len(t.ids)
	for _, d := range append(t.dicts, t.pages.dict, t.evs.dict, t.props.dict) {
		for _, v := range d.values {
			t.bytes += len(v) + 40
		}
	}
	return t, nil
}

// visitorOf counts visit i's visitor into s.
func (t *dayTable) visitorOf(s *stat, i int) {
	if n := t.visitor[i]; n != 0 {
		s.addNumber(n)
	} else if i < len(t.ids) {
		s.addVisitor(sql.NullInt64{}, t.ids[i])
	}
}

// addVisit adds visit i to s as addTo adds a visit row.
func (t *dayTable) addVisit(s *stat, i int) {
	s.visits++
	s.pageviews += int64(t.views[i])
	s.durationMS += int64(t.duration[i])
	if t.views[i] <= 1 && t.events[i] == 0 {
		s.bounces++
	}
	t.visitorOf(s, i)
}

// filter is a query's filters coded for one table; ok is false when no
// visit of the table can match.
type filter struct {
	cols  []int
	codes []uint16
	page  int // the page's code, -1 for none
}

func (t *dayTable) filter(q Query) (f filter, ok bool) {
	f.page = -1
	want := map[string]string{}
	if q.Source != "" {
		src := q.Source
		if src == "(direct)" {
			src = ""
		}
		want["source"] = src
	}
	if q.Device != "" {
		want["device"] = q.Device
	}
	for name, v := range q.Match {
		if col, ok := FilterColumns[name]; ok {
			want[col] = v
		}
	}
	for i, col := range visitColumns {
		v, has := want[col]
		if !has {
			continue
		}
		c, found := t.dicts[i].codes[v]
		if !found {
			return f, false
		}
		f.cols, f.codes = append(f.cols, i), append(f.codes, c)
	}
	if q.Page != "" {
		c, found := t.pages.dict.codes[q.Page]
		if !found {
			return f, false
		}
		f.page = int(c)
	}
	return f, true
}

// selection returns the visits of the table that pass q's filters, reading
// the table once per set of filters (a dashboard asks some twenty reports
// with the same ones); ok is false when none can.
func (t *dayTable) selection(q Query) (sel []uint32, ok bool) {
	key := q.filterKey()
	t.mu.Lock()
	sel, ok = t.sels[key]
	t.mu.Unlock()
	if ok {
		return sel, sel != nil
	}
	if f, can := t.filter(q); can {
		sel = make([]uint32, 0, len(t.visitor)/4)
		for i := range t.visitor {
			if t.match(&f, i) {
				sel = append(sel, uint32(i))
			}
		}
	}
	t.mu.Lock()
	if t.sels == nil || len(t.sels) >= 16 {
		t.sels = map[string][]uint32{}
	}
	t.sels[key] = sel
	t.mu.Unlock()
	return sel, sel != nil
}

// match reports whether visit i passes the filter.
func (t *dayTable) match(f *filter, i int) bool {
	for k, col := range f.cols {
		if t.cols[col][i] != f.codes[k] {
			return false
		}
	}
	if f.page < 0 {
		return true
	}
	for j := t.pages.off[i]; j < t.pages.off[i+1]; j++ {
		if int(t.pages.code[j]) == f.page && t.pages.count[j] > 0 {
			return true
		}
	}
	return false
}

// collect adds the visits of the table that match q to out, by dim as
// Reports.collect does; only, if set, keeps one value.
func (t *dayTable) collect(q Query, dim, only string, out map[string]*stat) error {
	sel, ok := t.selection(q)
	if !ok {
		return nil
	}
	local := make([]*stat, t.codes(dim)) // by code
	get := func(code int) *stat {
		s := local[code]
		if s == nil {
			s = newStat()
			local[code] = s
		}
		return s
	}
	var values []string
	switch {
	case dim == "page":
		values = t.pages.dict.values
		onlyCode := -1
		if only != "" {
			c, found := t.pages.dict.codes[only]
			if !found {
				return nil
			}
			onlyCode = int(c)
		}
		for _, i := range sel {
			for j := t.pages.off[i]; j < t.pages.off[i+1]; j++ {
				c := int(t.pages.code[j])
				if t.pages.count[j] == 0 || (onlyCode >= 0 && c != onlyCode) {
					continue
				}
				s := get(c)
				s.visits++
				s.pageviews += int64(t.pages.count[j])
				s.count += int64(t.views[i])
				s.durationMS += int64(t.duration[i])
				if t.views[i] <= 1 && t.events[i] == 0 {
					s.bounces++
				}
				t.visitorOf(s, int(i))
			}
		}
	case dim == "event" || len(dim) > 5 && dim[:5] == "prop:":
		r, prefix := &t.evs, ""
		if dim != "event" {
			r, prefix = &t.props, dim[5:]+"\x01"
		}
		values = r.dict.values
		keep := make([]bool, len(values))
		for c, v := range values {
			keep[c] = (prefix == "" || len(v) > len(prefix) && v[:len(prefix)] == prefix) && (only == "" || v[len(prefix):] == only)
		}
		for _, i := range sel {
			if t.events[i] == 0 {
				continue
			}
			for j := r.off[i]; j < r.off[i+1]; j++ {
				c := int(r.code[j])
				if !keep[c] {
					continue
				}
				s := get(c)
				s.visits++
				s.count += int64(r.count[j])
				t.visitorOf(s, int(i))
			}
		}
		if prefix != "" {
			trimmed := make([]string, len(values))
			for c, v := range values {
				if keep[c] {
					trimmed[c] = v[len(prefix):]
				}
			}
			values = trimmed
		}
	case dim == "" || dim == "hour":
		for _, i := range sel {
			c := 0
			if dim == "hour" {
				c = int(t.hour[i])
			}
			t.addVisit(get(c), int(i))
		}
		values = []string{""}
		if dim == "hour" {
			values = make([]string, 24)
			for h := range values {
				values[h] = fmt.Sprintf("%02d", h)
			}
		}
	default:
		col := -1
		for i, c := range visitColumns {
			if c == dim {
				col = i
			}
		}
		if col < 0 {
			return fmt.Errorf("analytics: no dimension %q", dim)
		}
		values = t.dicts[col].values
		codes := t.cols[col]
		for _, i := range sel {
			t.addVisit(get(int(codes[i])), int(i))
		}
	}
	for c, s := range local {
		if s == nil {
			continue
		}
		v := values[c]
		if only != "" && dim != "page" && v != only {
			continue
		}
		if o := out[v]; o != nil {
			o.merge(s)
		} else {
			out[v] = s
		}
	}
	return nil
}

// codes is how many codes dim's values have in the table.
func (t *dayTable) codes(dim string) int {
	switch {
	case dim == "page":
		return len(t.pages.dict.values)
	case dim == "event":
		return len(t.evs.dict.values)
	case len(dim) > 5 && dim[:5] == "prop:":
		return len(t.props.dict.values)
	case dim == "hour":
		return 24
	case dim == "":
		return 1
	}
	for i, c := range visitColumns {
		if c == dim {
			return len(t.dicts[i].values)
		}
	}
	return 0
}

// merge adds s2 into s.
func (s *stat) merge(s2 *stat) {
	s.visits += s2.visits
	s.pageviews += s2.pageviews
	s.bounces += s2.bounces
	s.durationMS += s2.durationMS
	s.count += s2.count
	s.settle()
	s2.settle()
	s.numbered.Or(s2.numbered)
	for v := range s2.unnumbered {
		if s.unnumbered == nil {
			s.unnumbered = map[string]struct{}{}
		}
		s.unnumbered[v] = struct{}{}
	}
}

// dayTables keeps the tables reports read, the least recently used going
// first past a memory budget. A rolled day's table lasts until the day is
// rolled again; a live day's is read again when older than liveAge.
type dayTables struct {
	mu      sync.Mutex
	liveAge time.Duration
	budget  int
	used    int
	lru     *list.List // of *tableEntry, most recent first
	entries map[tableKey]*list.Element
	warming bool
}

// liveTableAge is how long a live day's table serves after a commit changed
// the site's visits: reports then read it again. Unchanged, it lasts. Today's
// figures are at most this late, and a site under constant ingestion costs
// one reading a second to the first report that asks.
const liveTableAge = time.Second

// dayTableBudget is the memory the day tables may hold, in bytes.
const dayTableBudget = 512 << 20

type tableKey struct {
	site int64
	day  string
}

type tableEntry struct {
	gen      int64 // the site's generation when it was read (live days)
	key      tableKey
	version  int64 // rolled_at of a rolled day; 0 for a live one
	removals int64 // the DB's removals when it was read
	built    time.Time
	once     sync.Once
	t        *dayTable
	err      error
}

func newDayTables(budget int) *dayTables {
	return &dayTables{liveAge: liveTableAge, budget: budget, lru: list.New(), entries: map[tableKey]*list.Element{}}
}

// get returns the table of a day, building it once for concurrent callers.
// version is the day's rolled_at, or 0 for a live day.
func (d *dayTables) get(ctx context.Context, db *DB, site int64, day string, version int64) (*dayTable, error) {
	k := tableKey{site, day}
	d.mu.Lock()
	el := d.entries[k]
	if el != nil {
		e := el.Value.(*tableEntry)
		changed := version == 0 && e.gen != db.generation(site) && time.Since(e.built) > d.liveAge
		if e.version != version || e.removals != db.removals.Load() || e.err != nil || changed {
			d.remove(el)
			el = nil
		} else {
			d.lru.MoveToFront(el)
		}
	}
	if el == nil {
		el = d.lru.PushFront(&tableEntry{key: k, version: version, gen: db.generation(site), removals: db.removals.Load(), built: time.Now()})
		d.entries[k] = el
	}
	e := el.Value.(*tableEntry)
	d.mu.Unlock()
	e.once.Do(func() {
		t, err := buildDayTable(ctx, db, site, day)
		d.mu.Lock()
		defer d.mu.Unlock()
		e.t, e.err = t, err
		if err == nil && d.entries[k] == el {
			d.used += t.bytes
			for d.used > d.budget && d.lru.Len() > 1 {
				d.remove(d.lru.Back())
			}
		}
	})
	return e.t, e.err
}

// warm reads the tables of days in the background, one warmer at a time: an
// unfiltered dashboard (answered from the rollups) readies what a filter
// will need.
func (d *dayTables) warm(db *DB, site int64, days []string, version map[string]int64) {
	d.mu.Lock()
	if d.warming || len(days) == 0 {
		d.mu.Unlock()
		return
	}
	d.warming = true
	d.mu.Unlock()
	go func() {
		defer func() { d.mu.Lock(); d.warming = false; d.mu.Unlock() }()
		for _, day := range days {
			if _, err := d.get(context.Background(), db, site, day, version[day]); err != nil {
				return
			}
		}
	}()
}

func (d *dayTables) remove(el *list.Element) {
	e := el.Value.(*tableEntry)
	if e.t != nil {
		d.used -= e.t.bytes
	}
	d.lru.Remove(el)
	if d.entries[e.key] == el {
		delete(d.entries, e.key)
	}
}
