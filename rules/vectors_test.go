package rules

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vector is one case of rules/testdata/*.json, run by this test and by the
// page-side tests (widget/test/rules.test.ts) alike.
type vector struct {
	Name    string          `json:"name"`
	Rule    json.RawMessage `json:"rule"`
	When    json.RawMessage `json:"when"`
	Facts   map[string]any  `json:"facts"`
	Now     string          `json:"now"`
	Zone    string          `json:"zone"`
	History *History        `json:"history"`
	Visitor string          `json:"visitor"`
	RuleID  string          `json:"rule_id"`
	Expect  *bool           `json:"expect"`
	Variant string          `json:"variant"`
	Error   string          `json:"error"`
	file    string
}

func (v vector) rule() []byte {
	if v.Rule != nil {
		return v.Rule
	}
	return []byte(`{"name":"v","when":` + string(v.When) + `,"action":{"type":"chat_offer","queue":"support","text":"Hi"}}`)
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	files, _ := filepath.Glob("testdata/*.json")
	var all []vector
	for _, f := range files {
		if strings.HasSuffix(f, "buckets.json") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var vs []vector
		if err := json.Unmarshal(b, &vs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range vs {
			vs[i].file = filepath.Base(f)
		}
		all = append(all, vs...)
	}
	return all
}

// qualifies is the verdict a vector states: condition, schedule and caps.
func qualifies(t *testing.T, v vector) (bool, *Compiled) {
	t.Helper()
	r, err := Parse(v.rule(), Refs{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	c, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFacts(v.Facts)
	if err != nil {
		t.Fatalf("facts: %v", err)
	}
	ok := true
	if v.Now != "" {
		now, err := time.Parse(time.RFC3339, v.Now)
		if err != nil {
			t.Fatal(err)
		}
		zone := "UTC"
		if v.Zone != "" {
			zone = v.Zone
		}
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		local := now.In(loc)
		f.SetTime(local)
		ok = c.InSchedule(local)
		if v.History != nil {
			ok = ok && c.Allowed(*v.History, now)
		}
	}
	return ok && c.Match(f), c
}

func TestVectors(t *testing.T) {
	vs := loadVectors(t)
	names := map[string]bool{}
	for _, v := range vs {
		if names[v.Name] {
			t.Errorf("two vectors are named %q", v.Name)
		}
		names[v.Name] = true
		t.Run(v.file+"/"+v.Name, func(t *testing.T) {
			if v.Error != "" {
				_, err := Parse(v.rule(), Refs{})
				if err == nil {
					t.Fatalf("accepted; want %q", v.Error)
				}
				if es, ok := err.(Errors); !ok || es[0].Error() != v.Error {
					t.Fatalf("error %q; want %q first", err, v.Error)
				}
				return
			}
			if v.Expect == nil {
				t.Fatal("a vector states expect or error")
			}
			got, c := qualifies(t, v)
			if got != *v.Expect {
				t.Errorf("qualifies = %v, want %v", got, *v.Expect)
			}
			if v.Variant != "" {
				if got := c.Variant(v.Visitor, v.RuleID); got != v.Variant {
					t.Errorf("variant = %s (bucket %d), want %s", got, Bucket(v.Visitor, v.RuleID), v.Variant)
				}
			}
		})
	}
}

// TestVectorsCover keeps the vectors complete: at least 150, every operator
// passing and failing, every fact type, every action type.
func TestVectorsCover(t *testing.T) {
	vs := loadVectors(t)
	if len(vs) < 150 {
		t.Errorf("%d vectors; want at least 150", len(vs))
	}
	seen := map[string]map[bool]bool{}
	var walk func(n *Node, expect bool)
	walk = func(n *Node, expect bool) {
		if n == nil {
			return
		}
		if n.Op != "" {
			if seen[n.Op] == nil {
				seen[n.Op] = map[bool]bool{}
			}
			seen[n.Op][expect] = true
		}
		for _, k := range append(append([]*Node{n.Not}, n.All...), n.Any...) {
			walk(k, expect)
		}
	}
	types := map[Type]bool{}
	for _, v := range vs {
		if v.Expect == nil {
			continue
		}
		r, err := Parse(v.rule(), Refs{})
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if n := r.When; n.Op != "" {
			walk(n, *v.Expect) // a single test's verdict is its own
		}
		for k, x := range v.Facts {
			_, ft, _ := parseFact(k)
			if ft == Any {
				val, _ := valueOf(x)
				ft = val.typ
			}
			types[ft] = true
		}
	}
	for _, op := range OpNames() {
		if !seen[op][true] || !seen[op][false] {
			t.Errorf("operator %s needs a single-condition vector that passes and one that fails (have %v)", op, seen[op])
		}
	}
	for _, ty := range []Type{String, Number, Bool} {
		if !types[ty] {
			t.Errorf("no vector has a %s fact", ty)
		}
	}
}
