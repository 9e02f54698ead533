package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nudgehq/nudge/strictjson"
)

// Limits on one rule, so that a page's evaluation stays cheap.
const (
	MaxRuleBytes  = 16 << 10
	MaxDepth      = 6   // nesting of all/any/not
	MaxConditions = 64  // {fact, op, value} leaves
	MaxList       = 200 // values of in / not_in
	MaxString     = 1000
	MaxMetadata   = 20
)

// Rule is a marketer's rule: when a visitor qualifies, and what they are
// offered. Its JSON is the contract documented in docs/rules.md.
type Rule struct {
	Name     string    `json:"name"`
	Priority int       `json:"priority"`
	When     *Node     `json:"when"`
	Action   Action    `json:"action"`
	Limits   Limits    `json:"limits"`
	Schedule *Schedule `json:"schedule,omitempty"`
	Split    *Split    `json:"split,omitempty"`
}

// Node is a condition: exactly one of all, any, not, or a {fact, op, value} test.
type Node struct {
	All   []*Node
	Any   []*Node
	Not   *Node
	Fact  string
	Op    string
	Value any // string, float64, bool, or []any of them
	kind  string
}

// MarshalJSON writes the node's one form.
func (n *Node) MarshalJSON() ([]byte, error) {
	switch n.kind {
	case "all":
		return json.Marshal(map[string]any{"all": nonNil(n.All)})
	case "any":
		return json.Marshal(map[string]any{"any": nonNil(n.Any)})
	case "not":
		return json.Marshal(map[string]any{"not": n.Not})
	}
	return json.Marshal(struct {
		Fact  string `json:"fact"`
		Op    string `json:"op"`
		Value any    `json:"value"`
	}{n.Fact, n.Op, n.Value})
}

func nonNil(ns []*Node) []*Node {
	if ns == nil {
		return []*Node{}
	}
	return ns
}

// Action is what a qualifying visitor is offered.
type Action struct {
	// Type is chat_offer, content_offer or entry_point.
	Type string `json:"type"`
	// Queue is the chat queue, by name (chat_offer; entry_point opening the chat).
	Queue string `json:"queue,omitempty"`
	// Title, Text, AcceptLabel and DeclineLabel are a chat offer's words.
	Title        string `json:"title,omitempty"`
	Text         string `json:"text,omitempty"`
	AcceptLabel  string `json:"accept_label,omitempty"`
	DeclineLabel string `json:"decline_label,omitempty"`
	// Metadata is shown to the agent who answers.
	Metadata map[string]string `json:"metadata,omitempty"`
	// MaxWaitSeconds withholds a chat offer while the estimated wait is longer (0: no limit).
	MaxWaitSeconds int `json:"max_wait_seconds,omitempty"`
	// Template is the content shown (content_offer; entry_point opening a template).
	Template string `json:"template,omitempty"`
	// Label and Position are an entry point's tab: its words and the edge of the window it sits on (left or right).
	Label    string `json:"label,omitempty"`
	Position string `json:"position,omitempty"`
}

// Limits are a rule's frequency caps, kept by the page.
type Limits struct {
	// PerVisit is how many times the offer may be shown in one visit (1–100; 1 when omitted).
	PerVisit int `json:"per_visit"`
	// PerVisitorDays: after being shown, not again for this many days (0: no cap).
	PerVisitorDays int `json:"per_visitor_days,omitempty"`
	// CooldownDaysAfterDecline: after a decline, not again for this many days (0: the visit only).
	CooldownDaysAfterDecline int `json:"cooldown_days_after_decline,omitempty"`
}

// Schedule limits a rule to days and hours in the site's time zone.
type Schedule struct {
	// Days are mon … sun; empty is every day.
	Days []string `json:"days,omitempty"`
	// From and To are HH:MM; To is excluded; From after To spans midnight
	// (the span belongs to the day it starts on). Both or neither.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// StartDate and EndDate (YYYY-MM-DD, both included) bound a campaign.
	StartDate string `json:"start_date,omitempty"`
	EndDate   string `json:"end_date,omitempty"`
}

// Split holds back a share of qualifying visitors as a control group: they
// qualify and are counted, but see nothing.
type Split struct {
	ControlPercent int `json:"control_percent"`
}

// UnmarshalJSON parses and validates, without checking references: a rule
// decoded from anywhere is a valid rule.
func (r *Rule) UnmarshalJSON(data []byte) error {
	parsed, err := Parse(data, Refs{})
	if err != nil {
		return err
	}
	*r = *parsed
	return nil
}

// Error is one invalid node of a rule, named by its JSON path.
type Error struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	// JSON: the document is not acceptable JSON at all (malformed, or
	// against the JSON policy: a name twice, NUL, a lone surrogate).
	JSON bool `json:"-"`
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// Errors are every problem of one rule, in document order.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// ErrInvalid is matched by every validation error (errors.Is).
var ErrInvalid = errors.New("rules: invalid rule")

// Is makes errors.Is(err, ErrInvalid) true.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

// Refs are what a rule may refer to outside itself; nil functions accept anything.
type Refs struct {
	Queue    func(name string) bool
	Template func(id string) bool
}

// Parse decodes and validates a rule. Errors name the JSON path of each bad
// node: `when.all[1].op: unknown operator "resembles"`.
func Parse(data []byte, refs Refs) (*Rule, error) {
	doc, err := decode(data, "rule")
	if err != nil {
		return nil, err
	}
	p := &parser{refs: refs}
	r := p.rule(doc)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return r, nil
}

// decode reads one JSON document of at most MaxRuleBytes (a rule or a
// template, what names it in errors), numbers kept exact for the walk.
func decode(data []byte, what string) (any, error) {
	if len(data) > MaxRuleBytes {
		return nil, Errors{{Message: fmt.Sprintf("a %s has at most %d bytes", what, MaxRuleBytes)}}
	}
	if !utf8.Valid(data) {
		return nil, Errors{{Message: "not valid UTF-8"}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, Errors{{Message: "malformed JSON: " + strings.TrimPrefix(err.Error(), "json: "), JSON: true}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, Errors{{Message: "unexpected data after the " + what, JSON: true}}
	}
	// The one JSON policy of what clients send: no name twice, no NUL or
	// lone surrogate (encoding/json keeps the last of two names and turns a
	// lone surrogate into U+FFFD).
	if err := strictjson.CheckValue(data); err != nil {
		var je *strictjson.Error
		if errors.As(err, &je) {
			return nil, Errors{{Path: je.Field, Message: je.Message, JSON: true}}
		}
		return nil, Errors{{Message: err.Error(), JSON: true}}
	}
	return doc, nil
}

type parser struct {
	refs  Refs
	errs  Errors
	conds int
}

func (p *parser) fail(path, format string, args ...any) {
	if len(p.errs) < 50 {
		p.errs = append(p.errs, &Error{Path: path, Message: fmt.Sprintf(format, args...)})
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// object checks that x is an object with only the allowed keys, reported in order.
func (p *parser) object(path string, x any, allowed ...string) map[string]any {
	m, ok := x.(map[string]any)
	if !ok {
		p.fail(path, "want an object")
		return nil
	}
	var unknown []string
	for k := range m {
		if !contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		p.fail(join(path, k), "unknown field")
	}
	return m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) str(path string, x any, max int, required bool) string {
	if x == nil {
		if required {
			p.fail(path, "required")
		}
		return ""
	}
	s, ok := x.(string)
	switch {
	case !ok:
		p.fail(path, "want a string")
	case required && strings.TrimSpace(s) == "":
		p.fail(path, "required")
	case len(s) > max:
		p.fail(path, "at most %d bytes", max)
	case strings.ContainsFunc(s, isControl):
		p.fail(path, "control characters are not allowed")
	default:
		return s
	}
	return ""
}

func isControl(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }

func (p *parser) integer(path string, x any, min, max, def int) int {
	if x == nil {
		return def
	}
	n, ok := x.(json.Number)
	i, err := n.Int64()
	if !ok || err != nil || i < int64(min) || i > int64(max) {
		p.fail(path, "want a whole number from %d to %d", min, max)
		return def
	}
	return int(i)
}

func (p *parser) rule(doc any) *Rule {
	m := p.object("", doc, "name", "priority", "when", "action", "limits", "schedule", "split")
	if m == nil {
		return nil
	}
	r := &Rule{
		Name:     p.str("name", m["name"], 120, true),
		Priority: p.integer("priority", m["priority"], -1000, 1000, 0),
	}
	if m["when"] == nil {
		p.fail("when", "required (a condition; {\"all\": []} is always true)")
	} else {
		r.When = p.node("when", m["when"], 1)
	}
	if m["action"] == nil {
		p.fail("action", "required")
	} else {
		r.Action = p.action("action", m["action"])
	}
	r.Limits = p.limits("limits", m["limits"])
	if m["schedule"] != nil {
		r.Schedule = p.schedule("schedule", m["schedule"])
	}
	if m["split"] != nil {
		if sm := p.object("split", m["split"], "control_percent"); sm != nil {
			r.Split = &Split{ControlPercent: p.integer("split.control_percent", sm["control_percent"], 0, 90, 0)}
		}
	}
	return r
}

func (p *parser) node(path string, x any, depth int) *Node {
	m, ok := x.(map[string]any)
	if !ok {
		p.fail(path, "want a condition object")
		return nil
	}
	if depth > MaxDepth {
		p.fail(path, "conditions nest at most %d deep", MaxDepth)
		return nil
	}
	_, isAll := m["all"]
	_, isAny := m["any"]
	_, isNot := m["not"]
	n := &Node{}
	switch {
	case isAll || isAny:
		key := "all"
		if isAny && !isAll {
			key = "any"
		}
		if p.object(path, m, key) == nil || (isAll && isAny) {
			return nil
		}
		list, ok := m[key].([]any)
		if !ok {
			p.fail(join(path, key), "want a list of conditions")
			return nil
		}
		kids := make([]*Node, 0, len(list))
		for i, c := range list {
			kids = append(kids, p.node(fmt.Sprintf("%s.%s[%d]", path, key, i), c, depth+1))
		}
		n.kind = key
		if isAll {
			n.All = kids
		} else {
			n.Any = kids
		}
	case isNot:
		if p.object(path, m, "not") == nil {
			return nil
		}
		n.kind, n.Not = "not", p.node(path+".not", m["not"], depth+1)
	default:
		if p.object(path, m, "fact", "op", "value") == nil {
			return nil
		}
		p.conds++
		if p.conds == MaxConditions+1 {
			p.fail(path, "a rule has at most %d conditions", MaxConditions)
		}
		n.kind = "test"
		p.test(path, m, n)
	}
	return n
}

// ops are the operators and the fact types each accepts.
var ops = map[string][]Type{
	"eq": {String, Number, Bool}, "neq": {String, Number, Bool},
	"lt": {Number}, "lte": {Number}, "gt": {Number}, "gte": {Number},
	"in": {String, Number}, "not_in": {String, Number},
	"contains": {String}, "starts_with": {String}, "ends_with": {String}, "glob": {String},
	"exists": {String, Number, Bool},
}

// Operators are the operators and the fact types each takes, for editors.
func Operators() map[string][]string {
	out := make(map[string][]string, len(ops))
	for op, ts := range ops {
		out[op] = typeNames(ts)
	}
	return out
}

// OpNames are the operators, for docs and editors.
func OpNames() []string {
	names := make([]string, 0, len(ops))
	for k := range ops {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (p *parser) test(path string, m map[string]any, n *Node) {
	fact := p.str(path+".fact", m["fact"], 300, true)
	op := p.str(path+".op", m["op"], 20, true)
	if fact == "" || op == "" {
		return
	}
	n.Fact, n.Op = fact, op
	r, ft, err := parseFact(fact)
	if err != nil {
		p.fail(path+".fact", "%v", err)
		return
	}
	types, ok := ops[op]
	if !ok {
		p.fail(path+".op", "unknown operator %q", op)
		return
	}
	if r.kind == refQueue && p.refs.Queue != nil && !p.refs.Queue(queueName(fact)) {
		p.fail(path+".fact", "no chat queue is named %q", queueName(fact))
	}
	vpath := path + ".value"
	raw, present := m["value"]
	if op == "exists" {
		if !present {
			n.Value = true
			return
		}
		b, ok := raw.(bool)
		if !ok {
			p.fail(vpath, "exists takes true or false")
		}
		n.Value = b
		return
	}
	if !present {
		p.fail(vpath, "required")
		return
	}
	if op == "in" || op == "not_in" {
		list, ok := raw.([]any)
		if !ok || len(list) == 0 || len(list) > MaxList {
			p.fail(vpath, "%s takes a list of 1 to %d values", op, MaxList)
			return
		}
		var first Type
		vals := make([]any, len(list))
		for i, x := range list {
			v, t := p.scalar(fmt.Sprintf("%s[%d]", vpath, i), x)
			if t == None {
				return
			}
			if first == None {
				first = t
			}
			if t != first {
				p.fail(fmt.Sprintf("%s[%d]", vpath, i), "the values of a list share one type (%s)", first)
				return
			}
			vals[i] = v
		}
		p.typeCheck(path, fact, op, ft, first, types)
		n.Value = vals
		return
	}
	v, t := p.scalar(vpath, raw)
	if t == None {
		return
	}
	p.typeCheck(path, fact, op, ft, t, types)
	if op == "glob" && t == String {
		if err := checkGlob(v.(string)); err != nil {
			p.fail(vpath, "%v", err)
		}
	}
	n.Value = v
}

func (p *parser) typeCheck(path, fact, op string, factType, valueType Type, allowed []Type) {
	if !contains(typeNames(allowed), valueType.String()) {
		p.fail(path+".value", "%s compares %s, not a %s", op, strings.Join(typeNames(allowed), " or "), valueType)
		return
	}
	if factType != Any && factType != valueType {
		p.fail(path+".value", "%s is a %s: want a %s value", fact, factType, factType)
	}
}

func typeNames(ts []Type) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.String()
	}
	return out
}

// scalar accepts a string, a finite number or a boolean.
func (p *parser) scalar(path string, x any) (any, Type) {
	switch x := x.(type) {
	case string:
		if len(x) > MaxString {
			p.fail(path, "at most %d bytes", MaxString)
			return nil, None
		}
		return x, String
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			p.fail(path, "number out of range")
			return nil, None
		}
		return f, Number
	case bool:
		return x, Bool
	}
	p.fail(path, "want a string, number or boolean")
	return nil, None
}

func queueName(fact string) string {
	rest := strings.TrimPrefix(fact, "queue.")
	if q, ok := strings.CutSuffix(rest, ".agents_available"); ok {
		return q
	}
	return strings.TrimSuffix(rest, ".estimated_wait")
}

var positions = []string{"left", "right"}

func (p *parser) action(path string, x any) Action {
	m := p.object(path, x, "type", "queue", "title", "text", "accept_label", "decline_label", "metadata",
		"max_wait_seconds", "template", "label", "position")
	if m == nil {
		return Action{}
	}
	a := Action{Type: p.str(path+".type", m["type"], 20, true)}
	only := func(allowed ...string) {
		for _, k := range []string{"queue", "title", "text", "accept_label", "decline_label", "metadata", "max_wait_seconds", "template", "label", "position"} {
			if m[k] != nil && !contains(allowed, k) {
				p.fail(join(path, k), "not a field of a %s", a.Type)
			}
		}
	}
	queue := func(required bool) {
		a.Queue = p.str(path+".queue", m["queue"], 200, required)
		if a.Queue != "" && p.refs.Queue != nil && !p.refs.Queue(a.Queue) {
			p.fail(path+".queue", "no chat queue is named %q", a.Queue)
		}
	}
	template := func(required bool) {
		a.Template = p.str(path+".template", m["template"], 64, required)
		if a.Template != "" && p.refs.Template != nil && !p.refs.Template(a.Template) {
			p.fail(path+".template", "no template has the id %q", a.Template)
		}
	}
	switch a.Type {
	case "chat_offer":
		only("queue", "title", "text", "accept_label", "decline_label", "metadata", "max_wait_seconds")
		queue(true)
		a.Title = p.str(path+".title", m["title"], 120, false)
		a.Text = p.str(path+".text", m["text"], 500, true)
		a.AcceptLabel = p.str(path+".accept_label", m["accept_label"], 40, false)
		a.DeclineLabel = p.str(path+".decline_label", m["decline_label"], 40, false)
		a.Metadata = p.metadata(path+".metadata", m["metadata"])
		a.MaxWaitSeconds = p.integer(path+".max_wait_seconds", m["max_wait_seconds"], 0, 86400, 0)
	case "content_offer":
		only("template")
		template(true)
	case "entry_point":
		only("label", "position", "template", "queue", "metadata")
		a.Label = p.str(path+".label", m["label"], 40, true)
		a.Position = p.str(path+".position", m["position"], 20, false)
		if a.Position == "" {
			a.Position = "right"
		} else if !contains(positions, a.Position) {
			p.fail(path+".position", "one of %s", strings.Join(positions, ", "))
		}
		template(false)
		queue(false)
		a.Metadata = p.metadata(path+".metadata", m["metadata"])
		switch {
		case m["template"] == nil && m["queue"] == nil:
			p.fail(path, "an entry point opens a template or a chat queue: give template or queue")
		case m["template"] != nil && m["queue"] != nil:
			p.fail(path, "an entry point opens a template or a chat queue, not both")
		}
	case "":
	default:
		p.fail(path+".type", "one of chat_offer, content_offer, entry_point")
	}
	return a
}

func (p *parser) metadata(path string, x any) map[string]string {
	if x == nil {
		return nil
	}
	m, ok := x.(map[string]any)
	if !ok {
		p.fail(path, "want an object of strings")
		return nil
	}
	if len(m) > MaxMetadata {
		p.fail(path, "at most %d entries", MaxMetadata)
		return nil
	}
	out := make(map[string]string, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || len(k) > 64 {
			p.fail(join(path, k), "keys are 1 to 64 bytes")
			continue
		}
		out[k] = p.str(join(path, k), m[k], 500, false)
	}
	return out
}

func (p *parser) limits(path string, x any) Limits {
	l := Limits{PerVisit: 1}
	if x == nil {
		return l
	}
	m := p.object(path, x, "per_visit", "per_visitor_days", "cooldown_days_after_decline")
	if m == nil {
		return l
	}
	l.PerVisit = p.integer(path+".per_visit", m["per_visit"], 1, 100, 1)
	l.PerVisitorDays = p.integer(path+".per_visitor_days", m["per_visitor_days"], 0, 365, 0)
	l.CooldownDaysAfterDecline = p.integer(path+".cooldown_days_after_decline", m["cooldown_days_after_decline"], 0, 365, 0)
	return l
}

var clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

func (p *parser) schedule(path string, x any) *Schedule {
	m := p.object(path, x, "days", "from", "to", "start_date", "end_date")
	if m == nil {
		return nil
	}
	s := &Schedule{}
	if m["days"] != nil {
		list, ok := m["days"].([]any)
		if !ok || len(list) > 7 {
			p.fail(path+".days", "want a list of days: mon, tue, wed, thu, fri, sat, sun")
		}
		for i, d := range list {
			ds, ok := d.(string)
			if !ok || !contains(weekdays[:], ds) {
				p.fail(fmt.Sprintf("%s.days[%d]", path, i), "one of mon, tue, wed, thu, fri, sat, sun")
				continue
			}
			if contains(s.Days, ds) {
				p.fail(fmt.Sprintf("%s.days[%d]", path, i), "%s twice", ds)
				continue
			}
			s.Days = append(s.Days, ds)
		}
	}
	for _, f := range []struct {
		key string
		to  *string
	}{{"from", &s.From}, {"to", &s.To}} {
		if v := p.str(path+"."+f.key, m[f.key], 5, false); v != "" {
			if !clockRE.MatchString(v) {
				p.fail(path+"."+f.key, "want HH:MM, 00:00 to 23:59")
			} else {
				*f.to = v
			}
		}
	}
	if (m["from"] == nil) != (m["to"] == nil) {
		p.fail(path, "from and to go together")
	} else if s.From != "" && s.From == s.To {
		p.fail(path+".to", "to equals from: an empty window")
	}
	for _, f := range []struct {
		key string
		to  *string
	}{{"start_date", &s.StartDate}, {"end_date", &s.EndDate}} {
		if v := p.str(path+"."+f.key, m[f.key], 10, false); v != "" {
			if _, err := time.Parse(time.DateOnly, v); err != nil {
				p.fail(path+"."+f.key, "want a date, YYYY-MM-DD")
			} else {
				*f.to = v
			}
		}
	}
	if s.StartDate != "" && s.EndDate != "" && s.EndDate < s.StartDate {
		p.fail(path+".end_date", "before start_date")
	}
	return s
}

// checkGlob refuses a pattern ending in a lone backslash.
func checkGlob(pattern string) error {
	escaped := false
	for _, c := range pattern {
		escaped = !escaped && c == '\\'
	}
	if escaped {
		return errors.New(`a glob cannot end with an escaping \`)
	}
	return nil
}

// SafeURL reports whether u is an absolute http(s) URL, the only kind a
// template may link to or show.
func SafeURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "https" || p.Scheme == "http") && p.Host != "" && len(u) <= 2000
}
