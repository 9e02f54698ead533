package analytics

import (
	"bytes"
	"database/sql/driver"
	"strconv"
	"strings"

	"modernc.org/sqlite"
)

// A visit keeps what happened in it in three small lists stored on its row
// (visits.pages, visits.evs, visits.props) rather than in a row per page,
// event and property: an ingestion batch then writes one row per visit, and
// a report reads a visit in one place. Each list is a blob of entries, each
// entry a 0x00 byte, then fields separated by 0x01: text fields first (the
// key), then decimal counts.
//
//	pages: path, views, engaged_ms, scroll (the deepest)
//	evs:   name, count
//	props: event name, key, value, count
//
// Text never holds bytes below 0x20 (clean drops them at ingestion), so the
// separators cannot occur inside it. SQL can build the lists (the migration
// does, with group_concat) and test them (nudge_viewed).

// Entry limits of one visit's lists: a visit past them (a scraper no
// crawler list knows) stops adding keys; its counts still add up.
const (
	maxVisitPages = 500
	maxVisitEvs   = 200
	maxVisitProps = 500
)

// docKind says how a list's entries merge: how many trailing counts, and
// whether the last is a maximum rather than a sum.
type docKind struct {
	nums    int
	lastMax bool
	max     int
}

var (
	pagesDoc = docKind{nums: 3, lastMax: true, max: maxVisitPages}
	evsDoc   = docKind{nums: 1, max: maxVisitEvs}
	propsDoc = docKind{nums: 1, max: maxVisitProps}
)

func init() {
	merge := func(k docKind) func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		return func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			a, _ := args[0].([]byte)
			b, _ := args[1].([]byte)
			return k.merge(a, b), nil
		}
	}
	sqlite.MustRegisterDeterministicScalarFunction("nudge_merge_pages", 2, merge(pagesDoc))
	sqlite.MustRegisterDeterministicScalarFunction("nudge_merge_evs", 2, merge(evsDoc))
	sqlite.MustRegisterDeterministicScalarFunction("nudge_merge_props", 2, merge(propsDoc))
	// nudge_viewed(pages, path): whether a visit viewed a page.
	sqlite.MustRegisterDeterministicScalarFunction("nudge_viewed", 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		pages, _ := args[0].([]byte)
		path, _ := args[1].(string)
		found := false
		eachEntry(pages, 3, func(key []byte, n [3]int64) bool {
			if n[0] > 0 && string(key) == path {
				found = true
				return false
			}
			return true
		})
		return found, nil
	})
}

// eachEntry calls fn with each entry's key (its text fields, 0x01 between
// them) and its counts, until fn returns false.
func eachEntry(doc []byte, nums int, fn func(key []byte, n [3]int64) bool) {
	for len(doc) > 0 {
		doc = doc[1:] // the entry's 0x00
		end := bytes.IndexByte(doc, 0)
		if end < 0 {
			end = len(doc)
		}
		e := doc[:end]
		doc = doc[end:]
		var n [3]int64
		for i := nums - 1; i >= 0; i-- {
			j := bytes.LastIndexByte(e, 1)
			if j < 0 {
				return // not a list this code wrote
			}
			n[i] = parseCount(e[j+1:])
			e = e[:j]
		}
		if !fn(e, n) {
			return
		}
	}
}

func parseCount(b []byte) int64 {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return n
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// appendEntry adds one entry.
func appendEntry(doc []byte, key []byte, nums int, n [3]int64) []byte {
	doc = append(doc, 0)
	doc = append(doc, key...)
	for i := range nums {
		doc = append(doc, 1)
		doc = strconv.AppendInt(doc, n[i], 10)
	}
	return doc
}

// docKey joins text fields into an entry's key.
func docKey(buf []byte, fields ...string) []byte {
	buf = buf[:0]
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, 1)
		}
		buf = append(buf, f...)
	}
	return buf
}

// merge adds list b into list a: counts of the same key add up (or take the
// maximum), new keys follow while there is room.
func (k docKind) merge(a, b []byte) []byte {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	type entry struct {
		key []byte
		n   [3]int64
	}
	var entries []entry
	index := map[string]int{}
	add := func(key []byte, n [3]int64) bool {
		if i, ok := index[string(key)]; ok {
			e := &entries[i]
			for j := range k.nums {
				if j == k.nums-1 && k.lastMax {
					e.n[j] = max(e.n[j], n[j])
				} else {
					e.n[j] += n[j]
				}
			}
			return true
		}
		if len(entries) < k.max {
			index[string(key)] = len(entries)
			entries = append(entries, entry{key, n})
		}
		return true
	}
	eachEntry(a, k.nums, add)
	eachEntry(b, k.nums, add)
	out := make([]byte, 0, len(a)+len(b))
	for _, e := range entries {
		out = appendEntry(out, e.key, k.nums, e.n)
	}
	return out
}

// clean drops bytes below 0x20 (and DEL) from text that reaches the lists.
func clean(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return -1
				}
				return r
			}, s)
		}
	}
	return s
}
