package search

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// cursor is where the next page starts: the last hit's sort key, where a
// backend can page by date that way (the next page is what sorts after it,
// whatever was indexed since), or else an offset with the time of the first
// page, so that messages indexed since do not shift the pages.
type cursor struct {
	key    int64 // the last hit's sort key
	offset int   // hits already seen
	asOf   int64 // no hit newer than this (ms)
}

func (c cursor) String() string {
	if c.key == 0 {
		return fmt.Sprintf("o.%d.%d", c.offset, c.asOf)
	}
	return fmt.Sprintf("k.%d", c.key)
}

var errCursor = errors.Join(ErrQuery, errors.New("bad cursor"))

// parseCursor checks q's order and status and reads its cursor, which must
// be of q's order.
func parseCursor(q Query) (cursor, error) {
	var c cursor
	if q.Order != "" && q.Order != ByDate && q.Order != ByRelevance {
		return c, errors.Join(ErrQuery, errors.New("order is date or relevance"))
	}
	if q.Status != "" && q.Status != "open" && q.Status != "closed" {
		return c, errors.Join(ErrQuery, errors.New("status is open or closed"))
	}
	if q.Cursor == "" {
		return c, nil
	}
	kind, rest, _ := strings.Cut(q.Cursor, ".")
	switch {
	case kind == "k" && q.Order != ByRelevance:
		var err error
		if c.key, err = strconv.ParseInt(rest, 10, 64); err != nil || c.key <= 0 {
			return c, errCursor
		}
	case kind == "o":
		o, a, _ := strings.Cut(rest, ".")
		var err1, err2 error
		c.offset, err1 = strconv.Atoi(o)
		c.asOf, err2 = strconv.ParseInt(a, 10, 64)
		if err1 != nil || err2 != nil || c.offset <= 0 || c.asOf <= 0 {
			return c, errCursor
		}
		if !deepEnough(c.offset, q.limit()) {
			return c, errors.Join(ErrQuery, fmt.Errorf("pages stop at %d hits: narrow the search", MaxHits))
		}
	default:
		return c, errCursor
	}
	return c, nil
}

// deepEnough says whether a page of limit hits after offset stays within
// MaxHits, with the one more hit asked for to know whether a page follows
// (Elasticsearch refuses from+size past its window).
func deepEnough(offset, limit int) bool { return offset+limit+1 <= MaxHits }
