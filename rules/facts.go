package rules

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Type is the type of a fact or of a condition's value.
type Type uint8

// Fact types. Any is a custom variable's: its value decides.
const (
	None Type = iota
	String
	Number
	Bool
	Any
)

func (t Type) String() string {
	return [...]string{"none", "string", "number", "boolean", "any"}[t]
}

// FactDef describes one fact a rule may test.
type FactDef struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Source string `json:"source"`
	typ    Type
}

// fixed are the facts with fixed names; vars.NAME, events.NAME and
// queue.NAME.agents_available / queue.NAME.estimated_wait come on top.
var fixed = []FactDef{
	{Name: "page.url", typ: String, Source: "the page's address, without its #fragment"},
	{Name: "page.path", typ: String, Source: "the path of the page's address"},
	{Name: "page.title", typ: String, Source: "document.title"},
	{Name: "page.referrer", typ: String, Source: "document.referrer, or the previous page after an in-app navigation; missing when empty"},
	{Name: "page.seconds", typ: Number, Source: "seconds since the page was shown (a navigation of a single-page app starts a new page)"},
	{Name: "page.scroll", typ: Number, Source: "deepest scroll of the page so far, 0 to 100 (%)"},
	{Name: "page.exit_intent", typ: Bool, Source: "true once the pointer leaves through the top of the window (desktop) or the visitor scrolls up fast after reading (touch)"},
	{Name: "page.idle_seconds", typ: Number, Source: "seconds since the last input on the page (pointer, key, scroll, touch)"},
	{Name: "visit.seconds", typ: Number, Source: "seconds since the visit began (a visit ends after 30 minutes without activity)"},
	{Name: "visit.pageviews", typ: Number, Source: "pages viewed in this visit, this one included"},
	{Name: "visit.number", typ: Number, Source: "1 for the visitor's first visit, 2 for the second…"},
	{Name: "visitor.returning", typ: Bool, Source: "visit.number > 1"},
	{Name: "visitor.identified", typ: Bool, Source: "nudge('identify', …) was called on this visit or before"},
	{Name: "visitor.language", typ: String, Source: "navigator.language, e.g. de-CH"},
	{Name: "visitor.device", typ: String, Source: "desktop, mobile or tablet, from the screen and the pointer"},
	{Name: "visitor.browser", typ: String, Source: "chrome, edge, firefox, safari, opera, samsung or other, from the user agent"},
	{Name: "visitor.country", typ: String, Source: "ISO 3166 code from a trusted proxy's country header (--country-header, e.g. CF-IPCountry); missing otherwise"},
	{Name: "utm.source", typ: String, Source: "utm_source of the visit's landing page; missing when absent"},
	{Name: "utm.medium", typ: String, Source: "utm_medium of the visit's landing page; missing when absent"},
	{Name: "utm.campaign", typ: String, Source: "utm_campaign of the visit's landing page; missing when absent"},
	{Name: "utm.term", typ: String, Source: "utm_term of the visit's landing page; missing when absent"},
	{Name: "utm.content", typ: String, Source: "utm_content of the visit's landing page; missing when absent"},
	{Name: "time.hour", typ: Number, Source: "hour of the day, 0 to 23, in the site's time zone"},
	{Name: "time.weekday", typ: String, Source: "mon, tue, wed, thu, fri, sat or sun, in the site's time zone"},
}

// Patterned facts, for the catalogue.
var patterned = []FactDef{
	{Name: "vars.NAME", typ: Any, Source: "a custom variable from nudge('set', {NAME: value}): string, number or boolean; missing until set"},
	{Name: "events.NAME", typ: Number, Source: "how many times nudge('track', 'NAME') ran in this visit; 0 until it does"},
	{Name: "queue.NAME.agents_available", typ: Number, Source: "agents of the chat queue NAME who are available and have a free slot now (a few seconds stale at most)"},
	{Name: "queue.NAME.estimated_wait", typ: Number, Source: "seconds a new chat in queue NAME would wait, estimated from its queue and handle times; missing when nobody can answer"},
}

var fixedIndex = func() map[string]int {
	m := make(map[string]int, len(fixed))
	for i, f := range fixed {
		m[f.Name] = i
	}
	return m
}()

// Catalogue lists every fact a rule may test, for docs and editors.
func Catalogue() []FactDef {
	out := make([]FactDef, 0, len(fixed)+len(patterned))
	for _, f := range append(append([]FactDef{}, fixed...), patterned...) {
		f.Type = f.typ.String()
		out = append(out, f)
	}
	return out
}

// ref says where a fact is found in Facts.
type ref struct {
	kind  uint8 // refFixed, refVar, refEvent, refQueue
	index int   // fixed fact; for a queue, 0 agents_available, 1 estimated_wait
	name  string
}

const (
	refFixed uint8 = iota
	refVar
	refEvent
	refQueue
)

const maxNameLen = 64

// parseFact resolves a fact's name.
func parseFact(name string) (ref, Type, error) {
	if i, ok := fixedIndex[name]; ok {
		return ref{kind: refFixed, index: i}, fixed[i].typ, nil
	}
	sub := func(prefix string) (string, bool) {
		rest, ok := strings.CutPrefix(name, prefix)
		return rest, ok && rest != "" && len(rest) <= maxNameLen && utf8.ValidString(rest)
	}
	if v, ok := sub("vars."); ok {
		return ref{kind: refVar, name: v}, Any, nil
	}
	if v, ok := sub("events."); ok {
		return ref{kind: refEvent, name: v}, Number, nil
	}
	if rest, ok := strings.CutPrefix(name, "queue."); ok {
		for i, field := range []string{".agents_available", ".estimated_wait"} {
			if q, ok := strings.CutSuffix(rest, field); ok && q != "" && len(q) <= 200 && utf8.ValidString(q) {
				return ref{kind: refQueue, index: i, name: Fold(q)}, Number, nil
			}
		}
	}
	return ref{}, None, fmt.Errorf("unknown fact %q", name)
}

// Value is a fact's value. Strings are kept folded for comparison.
type Value struct {
	typ Type
	s   string // folded
	raw string
	n   float64
	b   bool
}

// Type is the value's type; None when missing.
func (v Value) Type() Type { return v.typ }

// Raw is the value as given, for explanations.
func (v Value) Raw() any {
	switch v.typ {
	case String:
		return v.raw
	case Number:
		return v.n
	case Bool:
		return v.b
	}
	return nil
}

// valueOf converts a JSON scalar (string, float64, int, bool).
func valueOf(x any) (Value, bool) {
	switch x := x.(type) {
	case string:
		return Value{typ: String, s: Fold(x), raw: x}, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return Value{}, false
		}
		return Value{typ: Number, n: x}, true
	case int:
		return Value{typ: Number, n: float64(x)}, true
	case bool:
		return Value{typ: Bool, b: x}, true
	}
	return Value{}, false
}

// Facts are what is known of a visitor at one moment. Build them once per
// change and evaluate every rule against them.
type Facts struct {
	fixed  [32]Value
	vars   map[string]Value
	events map[string]float64
	queues map[string][2]Value
}

// NewFacts makes facts from a flat JSON object ({"page.path": "/x",
// "vars.plan": "pro", "queue.support.agents_available": 2}). Unknown names
// and values of the wrong type are errors, named by key.
func NewFacts(m map[string]any) (*Facts, error) {
	f := &Facts{}
	for k, v := range m {
		if err := f.Set(k, v); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Set sets one fact; nil removes it.
func (f *Facts) Set(name string, x any) error {
	r, typ, err := parseFact(name)
	if err != nil {
		return err
	}
	if x == nil {
		f.unset(r)
		return nil
	}
	v, ok := valueOf(x)
	if !ok || (typ != Any && v.typ != typ) {
		return fmt.Errorf("fact %s: want a %s", name, typ)
	}
	switch r.kind {
	case refFixed:
		f.fixed[r.index] = v
	case refVar:
		if f.vars == nil {
			f.vars = map[string]Value{}
		}
		f.vars[r.name] = v
	case refEvent:
		if f.events == nil {
			f.events = map[string]float64{}
		}
		f.events[r.name] = v.n
	case refQueue:
		if f.queues == nil {
			f.queues = map[string][2]Value{}
		}
		q := f.queues[r.name]
		q[r.index] = v
		f.queues[r.name] = q
	}
	return nil
}

func (f *Facts) unset(r ref) {
	switch r.kind {
	case refFixed:
		f.fixed[r.index] = Value{}
	case refVar:
		delete(f.vars, r.name)
	case refEvent:
		delete(f.events, r.name)
	case refQueue:
		q := f.queues[r.name]
		q[r.index] = Value{}
		f.queues[r.name] = q
	}
}

var weekdays = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// SetTime sets time.hour and time.weekday from t, which must be in the
// site's time zone.
func (f *Facts) SetTime(t time.Time) {
	f.fixed[fixedIndex["time.hour"]] = Value{typ: Number, n: float64(t.Hour())}
	d := weekdays[t.Weekday()]
	f.fixed[fixedIndex["time.weekday"]] = Value{typ: String, s: d, raw: d}
}

// get finds a fact; events are 0 until counted.
func (f *Facts) get(r ref) (Value, bool) {
	switch r.kind {
	case refFixed:
		v := f.fixed[r.index]
		return v, v.typ != None
	case refVar:
		v, ok := f.vars[r.name]
		return v, ok
	case refEvent:
		return Value{typ: Number, n: f.events[r.name]}, true
	case refQueue:
		v := f.queues[r.name][r.index]
		return v, v.typ != None
	}
	return Value{}, false
}

// Fold lower-cases the letters of the Latin, Greek, Cyrillic and Armenian
// alphabets (U+0000–U+058F and U+1E00–U+1FFF), code point by code point, and
// leaves every other character as it is. Those ranges' lower-case mappings
// are the same in Go and in every browser's JavaScript; newer scripts' are
// not (they follow each engine's Unicode version), so they compare exactly.
func Fold(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return strings.Map(foldRune, s)
		}
	}
	return s
}

func foldRune(r rune) rune {
	if r < 0x590 || (r >= 0x1E00 && r < 0x2000) {
		return unicode.ToLower(r)
	}
	return r
}
