package rules

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

type op uint8

const (
	opEq op = iota
	opNeq
	opLt
	opLte
	opGt
	opGte
	opIn
	opNotIn
	opContains
	opStartsWith
	opEndsWith
	opGlob
	opExists
)

var opByName = map[string]op{
	"eq": opEq, "neq": opNeq, "lt": opLt, "lte": opLte, "gt": opGt, "gte": opGte,
	"in": opIn, "not_in": opNotIn, "contains": opContains, "starts_with": opStartsWith,
	"ends_with": opEndsWith, "glob": opGlob, "exists": opExists,
}

const (
	kAll uint8 = iota
	kAny
	kNot
	kTest
)

// cnode is one node of the compiled tree, in preorder: a group's children
// follow it up to end.
type cnode struct {
	kind uint8
	end  int32
	test int32
	path string
}

type test struct {
	ref  ref
	op   op
	v    Value   // the value; for in/not_in only its type
	set  []Value // in, not_in
	glob []rune  // the folded pattern: star and one stand for * and ?
	node *Node
}

const (
	star rune = -1
	one  rune = -2
)

// Compiled is a rule ready to evaluate: facts resolved to slots, strings
// folded, globs parsed. Evaluating it allocates nothing.
type Compiled struct {
	Rule  *Rule
	nodes []cnode
	tests []test
	// schedule
	days         uint8 // bit per weekday, Sunday = bit 0; 0 is every day
	from, to     int   // minutes of the day; -1 without hours
	start, until string
}

// Compile prepares a rule that Parse accepted.
func Compile(r *Rule) (*Compiled, error) {
	c := &Compiled{Rule: r, from: -1, to: -1}
	if r.When == nil {
		return nil, fmt.Errorf("rules: compile %q: no condition", r.Name)
	}
	if err := c.add(r.When, "when"); err != nil {
		return nil, fmt.Errorf("rules: compile %q: %w", r.Name, err)
	}
	if s := r.Schedule; s != nil {
		for _, d := range s.Days {
			for i, w := range weekdays {
				if w == d {
					c.days |= 1 << i
				}
			}
		}
		if s.From != "" {
			c.from, c.to = minutes(s.From), minutes(s.To)
		}
		c.start, c.until = s.StartDate, s.EndDate
	}
	return c, nil
}

func minutes(hhmm string) int {
	return int(hhmm[0]-'0')*600 + int(hhmm[1]-'0')*60 + int(hhmm[3]-'0')*10 + int(hhmm[4]-'0')
}

func (c *Compiled) add(n *Node, path string) error {
	if n == nil {
		return fmt.Errorf("%s: empty condition", path)
	}
	i := len(c.nodes)
	c.nodes = append(c.nodes, cnode{path: path, test: -1})
	switch n.kind {
	case "all", "any":
		kids, kind := n.All, kAll
		if n.kind == "any" {
			kids, kind = n.Any, kAny
		}
		c.nodes[i].kind = kind
		for j, k := range kids {
			if err := c.add(k, fmt.Sprintf("%s.%s[%d]", path, n.kind, j)); err != nil {
				return err
			}
		}
	case "not":
		c.nodes[i].kind = kNot
		if err := c.add(n.Not, path+".not"); err != nil {
			return err
		}
	case "test":
		t, err := compileTest(n)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		c.nodes[i].kind, c.nodes[i].test = kTest, int32(len(c.tests))
		c.tests = append(c.tests, t)
	default:
		return fmt.Errorf("%s: not a parsed condition", path)
	}
	c.nodes[i].end = int32(len(c.nodes))
	return nil
}

func compileTest(n *Node) (test, error) {
	r, _, err := parseFact(n.Fact)
	if err != nil {
		return test{}, err
	}
	o, ok := opByName[n.Op]
	if !ok {
		return test{}, fmt.Errorf("unknown operator %q", n.Op)
	}
	t := test{ref: r, op: o, node: n}
	switch x := n.Value.(type) {
	case []any:
		for _, e := range x {
			v, ok := valueOf(e)
			if !ok {
				return test{}, fmt.Errorf("bad list value %v", e)
			}
			t.set = append(t.set, v)
		}
		if len(t.set) > 0 {
			t.v.typ = t.set[0].typ
		}
	default:
		v, ok := valueOf(x)
		if !ok {
			return test{}, fmt.Errorf("bad value %v", x)
		}
		t.v = v
	}
	if o == opGlob {
		escaped := false
		for _, r := range t.v.s {
			switch {
			case escaped:
				t.glob = append(t.glob, r)
				escaped = false
			case r == '\\':
				escaped = true
			case r == '*':
				t.glob = append(t.glob, star)
			case r == '?':
				t.glob = append(t.glob, one)
			default:
				t.glob = append(t.glob, r)
			}
		}
	}
	return t, nil
}

// Match reports whether the facts satisfy the rule's condition.
func (c *Compiled) Match(f *Facts) bool {
	return c.eval(f, 0)
}

func (c *Compiled) eval(f *Facts, i int) bool {
	n := &c.nodes[i]
	switch n.kind {
	case kAll:
		for j := i + 1; j < int(n.end); j = int(c.nodes[j].end) {
			if !c.eval(f, j) {
				return false
			}
		}
		return true
	case kAny:
		for j := i + 1; j < int(n.end); j = int(c.nodes[j].end) {
			if c.eval(f, j) {
				return true
			}
		}
		return false
	case kNot:
		return !c.eval(f, i+1)
	}
	ok, _ := c.tests[n.test].eval(f)
	return ok
}

// Outcomes of one test, for explanations.
const (
	Passed   = "passed"
	Failed   = "failed"
	Missing  = "missing"
	Mismatch = "type_mismatch"
)

// eval tests one condition. A missing fact, or one of another type than
// the value, fails every operator but exists.
func (t *test) eval(f *Facts) (bool, string) {
	v, ok := f.get(t.ref)
	if t.op == opExists {
		return ok == t.v.b, outcome(ok == t.v.b)
	}
	if !ok {
		return false, Missing
	}
	if v.typ != t.v.typ {
		return false, Mismatch
	}
	var r bool
	switch t.op {
	case opEq:
		r = equal(v, t.v)
	case opNeq:
		r = !equal(v, t.v)
	case opLt:
		r = v.n < t.v.n
	case opLte:
		r = v.n <= t.v.n
	case opGt:
		r = v.n > t.v.n
	case opGte:
		r = v.n >= t.v.n
	case opIn, opNotIn:
		for i := range t.set {
			if equal(v, t.set[i]) {
				r = true
				break
			}
		}
		r = r == (t.op == opIn)
	case opContains:
		r = strings.Contains(v.s, t.v.s)
	case opStartsWith:
		r = strings.HasPrefix(v.s, t.v.s)
	case opEndsWith:
		r = strings.HasSuffix(v.s, t.v.s)
	case opGlob:
		r = globMatch(t.glob, v.s)
	}
	return r, outcome(r)
}

func outcome(ok bool) string {
	if ok {
		return Passed
	}
	return Failed
}

func equal(a, b Value) bool {
	switch a.typ {
	case String:
		return a.s == b.s
	case Number:
		return a.n == b.n
	}
	return a.b == b.b
}

// globMatch matches a whole string: star is any run of characters (none
// included), one is exactly one character; the rest is literal.
func globMatch(p []rune, s string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		r, size := utf8.DecodeRuneInString(s[si:])
		switch {
		case pi < len(p) && (p[pi] == one || p[pi] == r):
			pi++
			si += size
		case pi < len(p) && p[pi] == star:
			starP, starS = pi, si
			pi++
		case starP >= 0:
			_, sz := utf8.DecodeRuneInString(s[starS:])
			starS += sz
			pi, si = starP+1, starS
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == star {
		pi++
	}
	return pi == len(p)
}

// Step is the outcome of one node of a rule's condition.
type Step struct {
	Path   string `json:"path"`
	Fact   string `json:"fact,omitempty"`
	Op     string `json:"op,omitempty"`
	Value  any    `json:"value,omitempty"`
	Actual any    `json:"actual,omitempty"`
	// Result is passed, failed, missing (the fact is not known) or type_mismatch.
	Result string `json:"result"`
}

// Explain evaluates every node, without short cuts, and says how each came out.
func (c *Compiled) Explain(f *Facts) (bool, []Step) {
	steps := make([]Step, len(c.nodes))
	return c.explain(f, 0, steps), steps
}

func (c *Compiled) explain(f *Facts, i int, steps []Step) bool {
	n := &c.nodes[i]
	var r bool
	switch n.kind {
	case kAll, kAny:
		r = n.kind == kAll
		for j := i + 1; j < int(n.end); j = int(c.nodes[j].end) {
			k := c.explain(f, j, steps)
			if n.kind == kAll {
				r = r && k
			} else {
				r = r || k
			}
		}
		steps[i] = Step{Path: n.path, Result: outcome(r)}
	case kNot:
		r = !c.explain(f, i+1, steps)
		steps[i] = Step{Path: n.path, Result: outcome(r)}
	default:
		t := &c.tests[n.test]
		var res string
		r, res = t.eval(f)
		s := Step{Path: n.path, Fact: t.node.Fact, Op: t.node.Op, Value: t.node.Value, Result: res}
		if v, ok := f.get(t.ref); ok {
			s.Actual = v.Raw()
		}
		steps[i] = s
	}
	return r
}

// InSchedule reports whether local, a time in the site's time zone, is
// within the rule's schedule.
func (c *Compiled) InSchedule(local time.Time) bool {
	if c.start != "" || c.until != "" {
		d := local.Format(time.DateOnly)
		if (c.start != "" && d < c.start) || (c.until != "" && d > c.until) {
			return false
		}
	}
	day := func(wd time.Weekday) bool { return c.days == 0 || c.days&(1<<wd) != 0 }
	wd := local.Weekday()
	if c.from < 0 {
		return day(wd)
	}
	m := local.Hour()*60 + local.Minute()
	if c.from < c.to {
		return day(wd) && m >= c.from && m < c.to
	}
	// The window spans midnight and belongs to the day it starts on.
	return (day(wd) && m >= c.from) || (day((wd+6)%7) && m < c.to)
}

// History is what the page remembers of one rule for one visitor.
type History struct {
	ShownVisit    int   `json:"shown_visit"`    // shown (or held back as control) in this visit
	DeclinedVisit bool  `json:"declined_visit"` // declined in this visit
	LastShown     int64 `json:"last_shown"`     // Unix ms; 0 never
	LastDeclined  int64 `json:"last_declined"`  // Unix ms; 0 never
}

const dayLen = 24 * time.Hour

// Allowed reports whether the rule's caps let it be shown now.
func (c *Compiled) Allowed(h History, now time.Time) bool {
	l := c.Rule.Limits
	ms := now.UnixMilli()
	switch {
	case h.ShownVisit >= max(l.PerVisit, 1), h.DeclinedVisit:
		return false
	case l.PerVisitorDays > 0 && h.LastShown > 0 && ms-h.LastShown < int64(l.PerVisitorDays)*dayLen.Milliseconds():
		return false
	case l.CooldownDaysAfterDecline > 0 && h.LastDeclined > 0 && ms-h.LastDeclined < int64(l.CooldownDaysAfterDecline)*dayLen.Milliseconds():
		return false
	}
	return true
}

// Bucket places a visitor in 0…99 for a rule: FNV-1a (32 bits) of the
// visitor id, a slash and the rule id, modulo 100. The page computes the same.
func Bucket(visitor, ruleID string) int {
	h := uint32(2166136261)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint32(s[i])
			h *= 16777619
		}
	}
	add(visitor)
	add("/")
	add(ruleID)
	return int(h % 100)
}

// Variant is "control" when the visitor is in the rule's control group, else "offer".
func (c *Compiled) Variant(visitor, ruleID string) string {
	if s := c.Rule.Split; s != nil && Bucket(visitor, ruleID) < s.ControlPercent {
		return "control"
	}
	return "offer"
}
