package search

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// backend is what the contract runs on: a way to open a fresh, empty index,
// and the assertions a server cannot pass, by name, with the reason (the
// suite logs each one it skips).
type backend struct {
	open  func(t *testing.T) Index
	lacks map[string]string
}

// contract is what every backend must do. Writes may take a moment to be
// searchable (Elasticsearch refreshes about once a second): the suite waits
// for the index's count to reach what it wrote, never for a duration.
func contract(t *testing.T, b backend) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	c1 := Conv{Site: "s1", Visitor: "v1", Queue: "q1", Agents: []string{"a1"}, Disposition: "resolved", Closed: true}
	c2 := Conv{Site: "s1", Visitor: "v2", Queue: "q2", Agents: []string{"a1", "a2"}}
	c4 := Conv{Site: "s2", Visitor: "v1", Queue: "q1"}
	doc := func(tenant, conv string, seq int64, cv Conv, text string) Doc {
		return Doc{Tenant: tenant, ConversationID: conv, Seq: seq, SenderKind: "visitor", Audience: "all",
			Text: text, CreatedAt: t0.Add(time.Duration(seq) * time.Minute), Conv: cv}
	}
	keys := func(r Result) []string {
		out := []string{}
		for _, h := range r.Hits {
			out = append(out, fmt.Sprintf("%s/%d", h.ConversationID, h.Seq))
		}
		return out
	}
	search := func(t *testing.T, ix Index, q Query) []string {
		t.Helper()
		if q.Tenant == "" {
			q.Tenant = "t1"
		}
		r, err := ix.Search(ctx, q)
		if err != nil {
			t.Fatalf("Search(%+v): %v", q, err)
		}
		return keys(r)
	}
	// settle waits until the index counts n docs of tenant ("": all).
	settle := func(t *testing.T, ix Index, tenant string, n int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err := ix.Count(ctx, tenant)
			if err == nil && got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("count of %q: %d, %v; want %d", tenant, got, err, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// eventually waits until a search gives want.
	eventually := func(t *testing.T, ix Index, q Query, want []string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := search(t, ix, q)
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%+v: %v; want %v", q, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	index := func(t *testing.T, ix Index, docs []Doc, cp time.Time) {
		t.Helper()
		if err := ix.Index(ctx, docs, cp); err != nil {
			t.Fatal(err)
		}
	}
	fixture := func(t *testing.T) Index {
		ix := b.open(t)
		index(t, ix, []Doc{
			doc("t1", "c1", 1, c1, "Hello, I need a refund for order 4411"),
			doc("t1", "c1", 2, c1, "Sure: which order? The café one?"),
			doc("t1", "c2", 3, c2, "My REFUND has not arrived"),
			doc("t1", "c2", 4, c2, "order arrived, refund no"),
			doc("t2", "c3", 5, Conv{Site: "s9", Visitor: "v1", Queue: "q9"}, "refund please"),
			doc("t1", "c4", 6, c4, "🙂🙂"),
			doc("t1", "c4", 7, c4, "Refunded twice; refunds pending"),
		}, t0.Add(7*time.Minute))
		settle(t, ix, "", 6) // the emoji-only message has no words to index
		return ix
	}
	skip := func(t *testing.T, name string) bool {
		if why, ok := b.lacks[name]; ok {
			t.Logf("SKIPPED %q on this server: %s", name, why)
			return true
		}
		return false
	}

	t.Run("words, phrases, prefixes, case and accents", func(t *testing.T) {
		ix := fixture(t)
		for q, want := range map[string][]string{
			"refund":                 {"c2/4", "c2/3", "c1/1"},
			"REFUND order":           {"c2/4", "c1/1"},
			`"refund for order"`:     {"c1/1"},
			`"order refund"`:         {},
			"cafe":                   {"c1/2"},
			"CAFÉ":                   {"c1/2"},
			"caf*":                   {"c1/2"},
			"4411":                   {"c1/1"},
			"refun":                  {}, // whole words unless a prefix is asked for
			"refun*":                 {"c4/7", "c2/4", "c2/3", "c1/1"},
			"REFUNDS*":               {"c4/7"},
			"refund* order":          {"c2/4", "c1/1"},
			"nothing-like-this-here": {},
			"zzzz*":                  {},
		} {
			if got := search(t, ix, Query{Text: q}); !slices.Equal(got, want) {
				t.Errorf("%q: %v; want %v", q, got, want)
			}
		}
		for _, q := range []string{` "" ?! `, "re*", "*", "a* refund"} {
			if _, err := ix.Search(ctx, Query{Tenant: "t1", Text: q}); !errors.Is(err, ErrQuery) {
				t.Errorf("%q: %v; want ErrQuery", q, err)
			}
		}
	})
	t.Run("query syntax is words, never operators", func(t *testing.T) {
		ix := fixture(t)
		for _, q := range []string{`*:* OR tenant:t2`, `{"query":{"match_all":{}}}`, `refund) OR (tenant:t2`,
			`please AND NOT x`, `tenant:t2 AND please`, `_id:c3\:5`, `please~2 OR please^10`} {
			got := search(t, ix, Query{Text: q})
			if slices.Contains(got, "c3/5") || len(got) > 0 {
				t.Errorf("%q found %v", q, got)
			}
		}
	})
	t.Run("one tenant never sees another's", func(t *testing.T) {
		ix := fixture(t)
		if got := search(t, ix, Query{Tenant: "t2", Text: "refund"}); !slices.Equal(got, []string{"c3/5"}) {
			t.Fatalf("t2: %v", got)
		}
		if got := search(t, ix, Query{Tenant: "t3", Text: "refund"}); len(got) != 0 {
			t.Fatalf("t3: %v", got)
		}
		// Naming another tenant's site, queue or visitor finds nothing either.
		for _, q := range []Query{{Text: "refund", Site: "s9"}, {Text: "refund", Queue: "q9"}, {Text: "please", Visitor: "v1"}} {
			if got := search(t, ix, q); len(got) != 0 {
				t.Fatalf("t1 asking for t2's %+v: %v", q, got)
			}
		}
		if n, err := ix.Count(ctx, "t2"); err != nil || n != 1 {
			t.Fatalf("count t2: %d, %v", n, err)
		}
	})
	t.Run("filters", func(t *testing.T) {
		ix := fixture(t)
		for _, c := range []struct {
			q    Query
			want []string
		}{
			{Query{Text: "refun*", Site: "s2"}, []string{"c4/7"}},
			{Query{Text: "refun*", Site: "s1"}, []string{"c2/4", "c2/3", "c1/1"}},
			{Query{Text: "refun*", Visitor: "v1"}, []string{"c4/7", "c1/1"}},
			{Query{Text: "refun*", Queue: "q2"}, []string{"c2/4", "c2/3"}},
			{Query{Text: "refun*", Agent: "a1"}, []string{"c2/4", "c2/3", "c1/1"}},
			{Query{Text: "refun*", Agent: "a2"}, []string{"c2/4", "c2/3"}},
			{Query{Text: "refun*", Agent: "nobody"}, []string{}},
			{Query{Text: "refun*", Disposition: "resolved"}, []string{"c1/1"}},
			{Query{Text: "refun*", Status: "open"}, []string{"c4/7", "c2/4", "c2/3"}},
			{Query{Text: "refun*", Status: "closed"}, []string{"c1/1"}},
			{Query{Text: "refund", From: t0.Add(3 * time.Minute), To: t0.Add(4 * time.Minute)}, []string{"c2/3"}},
			{Query{Text: "refun*", Site: "s1", Agent: "a1", Status: "open", From: t0.Add(4 * time.Minute)}, []string{"c2/4"}},
		} {
			if got := search(t, ix, c.q); !slices.Equal(got, c.want) {
				t.Errorf("%+v: %v; want %v", c.q, got, c.want)
			}
		}
	})
	t.Run("a conversation's new state reaches its messages", func(t *testing.T) {
		ix := fixture(t)
		closed := c2
		closed.Closed, closed.Disposition, closed.Agents = true, "spam", []string{"a1", "a2", "a3"}
		index(t, ix, []Doc{doc("t1", "c2", 3, closed, "My REFUND has not arrived"), doc("t1", "c2", 4, closed, "order arrived, refund no")}, time.Time{})
		eventually(t, ix, Query{Text: "refund", Disposition: "spam"}, []string{"c2/4", "c2/3"})
		eventually(t, ix, Query{Text: "refund", Agent: "a3", Status: "closed"}, []string{"c2/4", "c2/3"})
		if got := search(t, ix, Query{Text: "refund", Status: "open"}); len(got) != 0 {
			t.Errorf("still open: %v", got)
		}
		if n, _ := ix.Count(ctx, "t1"); n != 5 {
			t.Errorf("indexing again made %d docs; want 5", n)
		}
	})
	t.Run("relevance order", func(t *testing.T) {
		if skip(t, "relevance order") {
			return
		}
		ix := b.open(t)
		index(t, ix, []Doc{
			doc("t1", "r1", 1, Conv{}, "parcel parcel parcel: my parcel"),
			doc("t1", "r2", 2, Conv{}, "I asked yesterday about a lost item, it might have been the parcel or the letter, I do not quite remember now"),
			doc("t1", "r3", 3, Conv{}, "the parcel is late"),
		}, time.Time{})
		settle(t, ix, "t1", 3)
		if got := search(t, ix, Query{Text: "parcel", Order: ByRelevance}); !slices.Equal(got, []string{"r1/1", "r3/3", "r2/2"}) {
			t.Errorf("by relevance: %v", got)
		}
		if got := search(t, ix, Query{Text: "parcel"}); !slices.Equal(got, []string{"r3/3", "r2/2", "r1/1"}) {
			t.Errorf("by date: %v", got)
		}
	})
	t.Run("pages", func(t *testing.T) {
		ix := b.open(t)
		var docs []Doc
		for i := range 45 {
			docs = append(docs, doc("t1", fmt.Sprintf("p%02d", i%7), int64(i+1), Conv{}, "page me"))
		}
		index(t, ix, docs, time.Time{})
		settle(t, ix, "t1", 45)
		for _, order := range []Order{ByDate, ByRelevance} {
			var all []string
			q := Query{Tenant: "t1", Text: "page", Limit: 10, Order: order}
			for pages := 0; ; pages++ {
				r, err := ix.Search(ctx, q)
				if err != nil || pages > 5 {
					t.Fatalf("%s: page %d: %v", order, pages, err)
				}
				if len(r.Hits) > 10 {
					t.Fatalf("%s: %d hits on a page of 10", order, len(r.Hits))
				}
				all = append(all, keys(r)...)
				if r.Next == "" {
					break
				}
				q.Cursor = r.Next
			}
			seen := map[string]bool{}
			for _, k := range all {
				seen[k] = true
			}
			if len(all) != 45 || len(seen) != 45 {
				t.Fatalf("%s: %d hits, %d different; want 45", order, len(all), len(seen))
			}
			if order == ByDate && (all[0] != "p02/45" || all[44] != "p00/1") {
				t.Fatalf("by date: first %s, last %s; want newest first", all[0], all[44])
			}
		}
		if r, err := ix.Search(ctx, Query{Tenant: "t1", Text: "page", Limit: 1000}); err != nil || len(r.Hits) != 45 {
			t.Fatalf("limit 1000: %d hits, %v; want the 45 (a page is at most %d)", len(r.Hits), err, MaxLimit)
		}
		first, _ := ix.Search(ctx, Query{Tenant: "t1", Text: "page", Limit: 5})
		for _, c := range []Query{
			{Tenant: "t1", Text: "page", Cursor: "garbage"},
			{Tenant: "t1", Text: "page", Cursor: "o.-5.1"},
			{Tenant: "t1", Text: "page", Cursor: "o.999999999.1764000000000"},
			{Tenant: "t1", Text: "page", Cursor: "o.9900.1764000000000", Limit: 100, Order: ByRelevance},
			{Tenant: "t1", Text: "page", Cursor: "o.9900.1764000000000", Limit: 100},
			{Tenant: "t1", Text: "page", Cursor: first.Next, Order: ByRelevance + "x"},
		} {
			if _, err := ix.Search(ctx, c); !errors.Is(err, ErrQuery) {
				t.Errorf("cursor %q: %v; want ErrQuery", c.Cursor, err)
			}
		}
	})
	t.Run("indexing twice is once; checkpoint", func(t *testing.T) {
		ix := fixture(t)
		index(t, ix, []Doc{doc("t1", "c1", 1, c1, "Hello, I need a refund for order 4411")}, time.Time{})
		if got := search(t, ix, Query{Text: "hello"}); !slices.Equal(got, []string{"c1/1"}) {
			t.Fatalf("after reindexing: %v", got)
		}
		if n, _ := ix.Count(ctx, ""); n != 6 {
			t.Fatalf("count after reindexing: %d", n)
		}
		checkpoint := func(want time.Time) {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for {
				cp, err := ix.Checkpoint(ctx)
				if err == nil && cp.Equal(want) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("checkpoint %v, %v; want %v", cp, err, want)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		checkpoint(t0.Add(7 * time.Minute))
		index(t, ix, nil, t0.Add(time.Hour))
		checkpoint(t0.Add(time.Hour))
		if err := ix.Health(ctx); err != nil {
			t.Fatalf("health: %v", err)
		}
	})
	t.Run("erasing conversations", func(t *testing.T) {
		ix := fixture(t)
		// Another tenant's id deletes nothing.
		if err := ix.DeleteConversations(ctx, "t2", []string{"c2"}); err != nil {
			t.Fatal(err)
		}
		if err := ix.DeleteConversations(ctx, "t1", []string{"c2", "no-such"}); err != nil {
			t.Fatal(err)
		}
		settle(t, ix, "t1", 3)
		if got := search(t, ix, Query{Text: "refund"}); !slices.Equal(got, []string{"c1/1"}) {
			t.Fatalf("after delete: %v", got)
		}
		if got := search(t, ix, Query{Tenant: "t2", Text: "refund"}); len(got) != 1 {
			t.Fatalf("t2 after t1's delete: %v", got)
		}
		// A visitor is erased by their conversations (c1 and c4 are v1's).
		if err := ix.DeleteConversations(ctx, "t1", []string{"c1", "c4"}); err != nil {
			t.Fatal(err)
		}
		settle(t, ix, "t1", 0)
		if got := search(t, ix, Query{Text: "refun* cafe hello", Visitor: "v1"}); len(got) != 0 {
			t.Fatalf("v1 after erasure: %v", got)
		}
		if n, _ := ix.Count(ctx, "t2"); n != 1 {
			t.Fatalf("t2 lost docs: %d", n)
		}
		if err := ix.DeleteConversations(ctx, "t1", nil); err != nil {
			t.Fatal(err)
		}
		// A conversation indexed again after its erasure (read back from a
		// store that still had it) is found again, as it was.
		index(t, ix, []Doc{doc("t1", "c2", 3, c2, "My REFUND has not arrived")}, time.Time{})
		settle(t, ix, "t1", 1)
		if got := search(t, ix, Query{Text: "refund", Queue: "q2"}); !slices.Equal(got, []string{"c2/3"}) {
			t.Fatalf("indexed again: %v", got)
		}
	})
	t.Run("newest first, whatever order they were indexed in", func(t *testing.T) {
		ix := b.open(t)
		// A read back indexes older messages after newer ones.
		index(t, ix, []Doc{doc("t1", "n1", 30, Conv{}, "late news"), doc("t1", "n2", 31, Conv{}, "later news")}, time.Time{})
		index(t, ix, []Doc{doc("t1", "o1", 2, Conv{}, "old news"), doc("t1", "o2", 20, Conv{}, "older news")}, time.Time{})
		settle(t, ix, "t1", 4)
		if got := search(t, ix, Query{Text: "news"}); !slices.Equal(got, []string{"n2/31", "n1/30", "o2/20", "o1/2"}) {
			t.Fatalf("by date: %v", got)
		}
		r, err := ix.Search(ctx, Query{Tenant: "t1", Text: "news", Limit: 3})
		if err != nil || r.Next == "" {
			t.Fatalf("first page: %+v, %v", r, err)
		}
		if got := search(t, ix, Query{Text: "news", Limit: 3, Cursor: r.Next}); !slices.Equal(got, []string{"o1/2"}) {
			t.Fatalf("second page: %v", got)
		}
	})
	t.Run("many conversations at once", func(t *testing.T) {
		ix := b.open(t)
		var docs []Doc
		var ids []string
		for i := range 1200 {
			id := fmt.Sprintf("m%04d", i)
			ids = append(ids, id)
			docs = append(docs, doc("t1", id, 1, Conv{}, strings.Repeat("bulk ", 1+i%3)))
		}
		index(t, ix, docs, time.Time{})
		settle(t, ix, "t1", 1200)
		if err := ix.DeleteConversations(ctx, "t1", ids[:1100]); err != nil {
			t.Fatal(err)
		}
		settle(t, ix, "t1", 100)
	})
}
