package analytics

import (
	"slices"
	"strings"
	"sync"

	"github.com/nudgehq/nudge/store"
)

// Paths that carry ids (/orders/83412, /u/5f0c…) would give every order its
// own row in the rollups and keep the id itself. The ingester stores a page's
// path normalised instead: a site's own patterns first, then, unless the site
// keeps ids, each numeric or UUID-like segment becomes ":id".

// pathPattern is one compiled site pattern: "/products/:slug" matches any path
// of two segments whose first is "products"; a final "*" matches the rest.
type pathPattern struct {
	text     string
	segments []string // literal, ":name" or a final "*"
}

func parsePathPattern(p string) (pathPattern, error) {
	if err := store.CheckPagePattern(p); err != nil {
		return pathPattern{}, err
	}
	return pathPattern{text: p, segments: strings.Split(p[1:], "/")}, nil
}

// match reports whether path (with its leading /) fits the pattern.
func (p pathPattern) match(path string) bool {
	rest := path[1:]
	for i, seg := range p.segments {
		if seg == "*" {
			return true
		}
		var cur string
		var more bool
		cur, rest, more = strings.Cut(rest, "/")
		if strings.HasPrefix(seg, ":") {
			if cur == "" {
				return false
			}
		} else if cur != seg {
			return false
		}
		if !more {
			return i == len(p.segments)-1
		}
	}
	return false
}

// pathRules are a site's normalisation settings, compiled.
type pathRules struct {
	source   []string // the patterns they were compiled from
	patterns []pathPattern
	keepIDs  bool
}

// normalise returns path as reports keep it.
func (r *pathRules) normalise(path string) string {
	if path == "" || path[0] != '/' {
		return path
	}
	for _, p := range r.patterns {
		if p.match(path) {
			return p.text
		}
	}
	if r.keepIDs {
		return path
	}
	return replaceIDs(path)
}

// replaceIDs makes each numeric or UUID-like segment ":id", allocating only
// when one is found.
func replaceIDs(path string) string {
	var b []byte
	start := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		seg := path[start:i]
		if isID(seg) {
			if b == nil {
				b = append(make([]byte, 0, len(path)), path[:start]...)
			}
			b = append(b, ":id"...)
		} else if b != nil {
			b = append(b, seg...)
		}
		if b != nil && i < len(path) {
			b = append(b, '/')
		}
		start = i + 1
	}
	if b == nil {
		return path
	}
	return string(b)
}

// isID reports whether a path segment is an id: all digits, or at least 16
// hexadecimal digits (dashes allowed, as in a UUID) with at least one digit.
func isID(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			hex++
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	if digits == len(s) {
		return true
	}
	return digits > 0 && digits+hex >= 16
}

// pathRuleCache keeps each site's compiled rules, recompiled when its
// settings change.
type pathRuleCache struct{ m sync.Map } // site id -> *pathRules

func (c *pathRuleCache) get(siteID string, patterns []string, keepIDs bool) *pathRules {
	if v, ok := c.m.Load(siteID); ok {
		if r := v.(*pathRules); r.keepIDs == keepIDs && slices.Equal(r.source, patterns) {
			return r
		}
	}
	r := &pathRules{source: slices.Clone(patterns), keepIDs: keepIDs}
	for _, p := range patterns {
		if pp, err := parsePathPattern(p); err == nil {
			r.patterns = append(r.patterns, pp)
		}
	}
	c.m.Store(siteID, r)
	return r
}

// NormalisePath returns path as a site with these settings stores it, so that
// a report filter or a goal may name a page as its visitors see it.
func NormalisePath(s store.SiteSettings, path string) string {
	r := pathRules{keepIDs: s.KeepPathIDs}
	for _, p := range s.PagePatterns {
		if pp, err := parsePathPattern(p); err == nil {
			r.patterns = append(r.patterns, pp)
		}
	}
	return r.normalise(path)
}
