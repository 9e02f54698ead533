package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"reflect"
	"strings"
	"testing"
)

const billing = `{"name": "Billing help", "priority": 10,
 "when": {"all": [{"fact": "page.path", "op": "starts_with", "value": "/billing"},
                  {"fact": "page.seconds", "op": "gte", "value": 30},
                  {"not": {"fact": "visitor.identified", "op": "eq", "value": true}}]},
 "action": {"type": "chat_offer", "queue": "support", "text": "Questions about your bill?",
            "metadata": {"topic": "billing"}, "max_wait_seconds": 120},
 "limits": {"per_visit": 1, "per_visitor_days": 7, "cooldown_days_after_decline": 14},
 "schedule": {"days": ["mon","tue","wed","thu","fri"], "from": "08:00", "to": "18:00"},
 "split": {"control_percent": 10}}`

func mustCompile(t testing.TB, doc string) *Compiled {
	t.Helper()
	r, err := Parse([]byte(doc), Refs{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The example is the contract: it parses as written and keeps every field.
func TestParseTheContractExample(t *testing.T) {
	r, err := Parse([]byte(billing), Refs{})
	if err != nil {
		t.Fatal(err)
	}
	want := Rule{Name: "Billing help", Priority: 10,
		Action: Action{Type: "chat_offer", Queue: "support", Text: "Questions about your bill?",
			Metadata: map[string]string{"topic": "billing"}, MaxWaitSeconds: 120},
		Limits:   Limits{PerVisit: 1, PerVisitorDays: 7, CooldownDaysAfterDecline: 14},
		Schedule: &Schedule{Days: []string{"mon", "tue", "wed", "thu", "fri"}, From: "08:00", To: "18:00"},
		Split:    &Split{ControlPercent: 10}}
	got := *r
	got.When = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", got, want)
	}
	if len(r.When.All) != 3 || r.When.All[2].Not.Fact != "visitor.identified" {
		t.Errorf("condition tree: %+v", r.When)
	}
}

// Marshalling a parsed rule and parsing it again gives the same rule: the
// console's JSON view round-trips.
func TestRoundTrip(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.Error != "" {
			continue
		}
		r, err := Parse(v.rule(), Refs{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var again Rule
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("%s: %v\n%s", v.Name, err, b)
		}
		b2, _ := json.Marshal(&again)
		if string(b) != string(b2) {
			t.Errorf("%s: round trip changed\n%s\n%s", v.Name, b, b2)
		}
	}
}

func TestParseReportsEveryProblemWithItsPath(t *testing.T) {
	_, err := Parse([]byte(`{"name": "", "when": {"any": [{"fact": "page.path", "op": "resembles", "value": 1},
		{"fact": "page.seconds", "op": "gte", "value": "30"}]}, "action": {"type": "chat_offer", "queue": "sales", "text": "Hi"},
		"limits": {"per_visit": 0}}`), Refs{Queue: func(n string) bool { return n == "support" }})
	var es Errors
	if !errors.As(err, &es) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		"name: required",
		`when.any[0].op: unknown operator "resembles"`,
		"when.any[1].value: gte compares number, not a string",
		`action.queue: no chat queue is named "sales"`,
		"limits.per_visit: want a whole number from 1 to 100",
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Error())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseRefusesBadDocuments(t *testing.T) {
	big := `{"name": "` + strings.Repeat("a", MaxRuleBytes) + `"}`
	conds := make([]string, MaxConditions+1)
	for i := range conds {
		conds[i] = `{"fact": "page.scroll", "op": "gte", "value": 1}`
	}
	many := `{"name": "x", "when": {"all": [` + strings.Join(conds, ",") + `]}, "action": {"type": "chat_offer", "queue": "q", "text": "t"}}`
	for name, c := range map[string]struct{ doc, want string }{
		"malformed":       {`{"name": `, "malformed JSON: unexpected EOF"},
		"trailing":        {`{"name": "x"} {}`, "unexpected data after the rule"},
		"invalid UTF-8":   {"{\"name\": \"\xff\"}", "not valid UTF-8"},
		"oversized":       {big, "a rule has at most 16384 bytes"},
		"too many":        {many, fmt.Sprintf("when.all[%d]: a rule has at most %d conditions", MaxConditions, MaxConditions)},
		"control char":    {`{"name": "a\u0007", "when": {"all": []}, "action": {"type": "chat_offer", "queue": "q", "text": "t"}}`, "name: control characters are not allowed"},
		"template ref":    {`{"name": "x", "when": {"all": []}, "action": {"type": "content_offer", "template": "nope"}}`, `action.template: no template has the id "nope"`},
		"queue fact ref":  {`{"name": "x", "when": {"fact": "queue.sales.agents_available", "op": "gt", "value": 0}, "action": {"type": "content_offer", "template": "t1"}}`, `when.fact: no chat queue is named "sales"`},
		"long in list":    {`{"name": "x", "when": {"fact": "page.path", "op": "in", "value": [` + strings.Repeat(`"a",`, MaxList) + `"a"]}, "action": {"type": "content_offer", "template": "t1"}}`, "when.value: in takes a list of 1 to 200 values"},
		"not an object":   {`"rule"`, "want an object"},
		"entry both ways": {`{"name": "x", "when": {"all": []}, "action": {"type": "entry_point", "label": "Help", "queue": "support", "template": "t1"}}`, "action: an entry point opens a template or a chat queue, not both"},
	} {
		_, err := Parse([]byte(c.doc), Refs{Queue: func(n string) bool { return n == "support" || n == "q" }, Template: func(id string) bool { return id == "t1" }})
		var es Errors
		if !errors.As(err, &es) || es[0].Error() != c.want {
			t.Errorf("%s: %v; want %q", name, err, c.want)
		}
	}
}

func TestExplainSaysWhyPerCondition(t *testing.T) {
	c := mustCompile(t, billing)
	f, _ := NewFacts(map[string]any{"page.path": "/billing/invoices", "page.seconds": 12.0})
	ok, steps := c.Explain(f)
	if ok {
		t.Fatal("qualified")
	}
	got := map[string]string{}
	for _, s := range steps {
		got[s.Path] = s.Result
	}
	want := map[string]string{"when": Failed, "when.all[0]": Passed, "when.all[1]": Failed,
		"when.all[2]": Passed, "when.all[2].not": Missing}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("steps %v; want %v", got, want)
	}
	if steps[2].Actual != 12.0 || steps[1].Actual != "/billing/invoices" {
		t.Errorf("actual values: %+v", steps)
	}
	f2, _ := NewFacts(map[string]any{"vars.age": "30"})
	_, steps = mustCompile(t, `{"name": "x", "when": {"fact": "vars.age", "op": "gt", "value": 18}, "action": {"type": "content_offer", "template": "t"}}`).Explain(f2)
	if steps[0].Result != Mismatch {
		t.Errorf("type mismatch explained as %s", steps[0].Result)
	}
}

func TestFactsRefuseUnknownNamesAndWrongTypes(t *testing.T) {
	for _, m := range []map[string]any{
		{"page.colour": "red"}, {"page.seconds": "30"}, {"visitor.returning": 1.0},
		{"events.signup": true}, {"queue.support.agents_available": "2"}, {"vars.x": []any{}},
	} {
		if _, err := NewFacts(m); err == nil {
			t.Errorf("accepted %v", m)
		}
	}
}

func TestBucketIsFNV1a(t *testing.T) {
	for _, c := range [][2]string{{"v1", "r1"}, {"", ""}, {"visitör-ü", "01JABC"}, {strings.Repeat("x", 64), "R"}} {
		h := fnv.New32a()
		h.Write([]byte(c[0] + "/" + c[1]))
		if got, want := Bucket(c[0], c[1]), int(h.Sum32()%100); got != want {
			t.Errorf("Bucket(%q, %q) = %d, want %d", c[0], c[1], got, want)
		}
	}
	// The split is even: 10 % of many visitors fall under 10.
	n := 0
	for i := range 100_000 {
		if Bucket(fmt.Sprintf("visitor-%d", i), "rule") < 10 {
			n++
		}
	}
	if n < 9_500 || n > 10_500 {
		t.Errorf("%d of 100,000 in the first 10 buckets", n)
	}
}

// The page's evaluator runs these buckets too (widget/test/rules.test.ts).
func TestBucketVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/buckets.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		Visitor, Rule string
		Bucket        int
	}
	if err := json.Unmarshal(b, &vs); err != nil || len(vs) == 0 {
		t.Fatal(err)
	}
	for _, v := range vs {
		if got := Bucket(v.Visitor, v.Rule); got != v.Bucket {
			t.Errorf("Bucket(%q, %q) = %d, want %d", v.Visitor, v.Rule, got, v.Bucket)
		}
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	c := mustCompile(t, `{"name": "x", "when": {"all": [{"fact": "page.path", "op": "glob", "value": "/b*g"},
		{"fact": "vars.plan", "op": "in", "value": ["pro", "team"]}, {"fact": "queue.support.agents_available", "op": "gte", "value": 1},
		{"fact": "events.add_to_cart", "op": "gte", "value": 1}, {"fact": "page.title", "op": "contains", "value": "rechnung"}]},
		"action": {"type": "content_offer", "template": "t"}}`)
	f, _ := NewFacts(map[string]any{"page.path": "/billing", "vars.plan": "Team", "queue.support.agents_available": 2.0,
		"events.add_to_cart": 1.0, "page.title": "Ihre RECHNUNG"})
	if !c.Match(f) {
		t.Fatal("no match")
	}
	if n := testing.AllocsPerRun(100, func() { c.Match(f) }); n != 0 {
		t.Errorf("%v allocations per match", n)
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{"ABC": "abc", "abc": "abc", "ÉTÉ": "été", "İ": "i", "ΟΔΟΣ": "οδοσ", "ＡＢＣ": "ＡＢＣ", "Ꭰ": "Ꭰ", "ẞ": "ß"} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCatalogueNamesEveryFact(t *testing.T) {
	for _, f := range Catalogue() {
		if f.Type == "" || f.Source == "" {
			t.Errorf("%s: no type or source", f.Name)
		}
		name := strings.NewReplacer("NAME", "x").Replace(f.Name)
		if _, _, err := parseFact(name); err != nil {
			t.Errorf("catalogue lists %s, which does not parse", f.Name)
		}
	}
}

// BenchmarkMatch100Rules is 100 typical rules (three conditions each)
// against one set of facts: the page's work after a fact changes.
func BenchmarkMatch100Rules(b *testing.B) {
	rules := make([]*Compiled, 100)
	for i := range rules {
		rules[i] = mustCompile(b, fmt.Sprintf(`{"name": "r%d", "when": {"all": [
			{"fact": "page.path", "op": "starts_with", "value": "/section%d"},
			{"fact": "page.seconds", "op": "gte", "value": %d},
			{"not": {"fact": "vars.plan", "op": "in", "value": ["pro", "team"]}}]},
			"action": {"type": "chat_offer", "queue": "support", "text": "Hi"}}`, i, i%10, i))
	}
	f, _ := NewFacts(map[string]any{"page.path": "/section5/pricing", "page.seconds": 40.0, "vars.plan": "free",
		"visitor.returning": true, "queue.support.agents_available": 1.0})
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for range b.N {
		for _, c := range rules {
			if c.Match(f) {
				n++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/rule")
	if n == 0 {
		b.Fatal("nothing matched")
	}
}

func TestParseTemplate(t *testing.T) {
	tp, err := ParseTemplate([]byte(`{"name": "Exit", "title": "Wait! <b>10 %</b> off", "body": "Code STAY10",
		"image_url": "https://cdn.example/x.png", "buttons": [{"label": "Chat", "action": "chat", "queue": "sales"},
		{"label": "Shop", "action": "link", "url": "https://shop.example/"}, {"label": "No thanks", "action": "dismiss"}]}`),
		Refs{Queue: func(n string) bool { return n == "sales" }})
	if err != nil || len(tp.Buttons) != 3 || tp.Title != "Wait! <b>10 %</b> off" {
		t.Fatalf("%+v %v", tp, err)
	}
	for doc, want := range map[string]string{
		`{"name": "x", "title": "t", "image_url": "javascript:alert(1)"}`:                                           "image_url: an absolute http or https URL",
		`{"name": "x", "title": "t", "buttons": [{"label": "a", "action": "link", "url": "data:x"}]}`:               "buttons[0].url: an absolute http or https URL",
		`{"name": "x", "title": "t", "buttons": [{"label": "a", "action": "popup"}]}`:                               "buttons[0].action: one of chat, link, dismiss",
		`{"name": "x", "title": "t", "buttons": [{"label": "a", "action": "chat", "queue": "nope"}]}`:               `buttons[0].queue: no chat queue is named "nope"`,
		`{"name": "x", "title": "t", "buttons": [{"label": "a", "action": "dismiss", "url": "https://x.example"}]}`: "buttons[0].url: only a link has a url",
		`{"name": "x", "title": "t", "buttons": [{}, {}, {}, {}]}`:                                                  "buttons: a list of at most 3 buttons",
		`{"name": "x"}`: "title: required",
		`{"name": "x", "title": "t", "html": "<p>"}`: "html: unknown field",
	} {
		_, err := ParseTemplate([]byte(doc), Refs{Queue: func(n string) bool { return n == "sales" }})
		var es Errors
		if !errors.As(err, &es) || es[0].Error() != want {
			t.Errorf("%s: %v; want %q", doc, err, want)
		}
	}
}

// docs/rules.md is the contract: it names every fact and every operator.
func TestDocsNameEveryFactAndOperator(t *testing.T) {
	b, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, f := range Catalogue() {
		if !strings.Contains(doc, "`"+f.Name+"`") {
			t.Errorf("docs/rules.md does not list the fact %s", f.Name)
		}
	}
	for _, op := range OpNames() {
		if !strings.Contains(doc, "`"+op+"`") {
			t.Errorf("docs/rules.md does not list the operator %s", op)
		}
	}
}
