package search

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// contract is what every backend must do; each backend's test opens a fresh,
// empty index and runs it.
func contract(t *testing.T, open func(t *testing.T) Index) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	doc := func(tenant, conv string, seq int64, text string) Doc {
		return Doc{Tenant: tenant, ConversationID: conv, Seq: seq, SenderKind: "visitor", Audience: "all",
			Text: text, CreatedAt: t0.Add(time.Duration(seq) * time.Minute)}
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
	fixture := func(t *testing.T) Index {
		ix := open(t)
		docs := []Doc{
			doc("t1", "c1", 1, "Hello, I need a refund for order 4411"),
			doc("t1", "c1", 2, "Sure: which order? The café one?"),
			doc("t1", "c2", 3, "My REFUND has not arrived"),
			doc("t1", "c2", 4, "order arrived, refund no"),
			doc("t2", "c3", 5, "refund please"),
			doc("t1", "c4", 6, "🙂🙂"),
		}
		if err := ix.Index(ctx, docs, t0.Add(6*time.Minute)); err != nil {
			t.Fatal(err)
		}
		return ix
	}

	t.Run("words, phrases, case and accents", func(t *testing.T) {
		ix := fixture(t)
		for q, want := range map[string][]string{
			"refund":                 {"c2/4", "c2/3", "c1/1"},
			"REFUND order":           {"c2/4", "c1/1"},
			`"refund for order"`:     {"c1/1"},
			`"order refund"`:         {},
			"cafe":                   {"c1/2"},
			"CAFÉ":                   {"c1/2"},
			"4411":                   {"c1/1"},
			"refun":                  {}, // whole words
			"nothing-like-this-here": {},
		} {
			if got := search(t, ix, Query{Text: q}); !slices.Equal(got, want) {
				t.Errorf("%q: %v; want %v", q, got, want)
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
		// Naming another tenant's conversation finds nothing either.
		if got := search(t, ix, Query{Text: "refund", Conversations: []string{"c3"}}); len(got) != 0 {
			t.Fatalf("t1 asking for c3: %v", got)
		}
	})
	t.Run("filters", func(t *testing.T) {
		ix := fixture(t)
		if got := search(t, ix, Query{Text: "refund", Conversations: []string{"c1", "nope"}}); !slices.Equal(got, []string{"c1/1"}) {
			t.Errorf("conversations: %v", got)
		}
		if got := search(t, ix, Query{Text: "refund", Conversations: []string{}}); len(got) != 0 {
			t.Errorf("no conversations: %v", got)
		}
		if got := search(t, ix, Query{Text: "refund", From: t0.Add(3 * time.Minute), To: t0.Add(4 * time.Minute)}); !slices.Equal(got, []string{"c2/3"}) {
			t.Errorf("time range: %v", got)
		}
	})
	t.Run("pages", func(t *testing.T) {
		ix := open(t)
		var docs []Doc
		for i := range 45 {
			docs = append(docs, doc("t1", fmt.Sprintf("p%02d", i%7), int64(i+1), "page me"))
		}
		if err := ix.Index(ctx, docs, time.Time{}); err != nil {
			t.Fatal(err)
		}
		var all []string
		q := Query{Tenant: "t1", Text: "page", Limit: 10}
		for pages := 0; ; pages++ {
			r, err := ix.Search(ctx, q)
			if err != nil || pages > 5 {
				t.Fatalf("page %d: %v", pages, err)
			}
			all = append(all, keys(r)...)
			if r.Next == "" {
				break
			}
			q.Cursor = r.Next
		}
		if len(all) != 45 || all[0] != "p02/45" || all[44] != "p00/1" {
			t.Fatalf("%d hits, first %s, last %s; want 45 newest first", len(all), all[0], all[len(all)-1])
		}
		if _, err := ix.Search(ctx, Query{Tenant: "t1", Text: "page", Cursor: "garbage"}); !errors.Is(err, ErrQuery) {
			t.Fatalf("bad cursor: %v", err)
		}
		if _, err := ix.Search(ctx, Query{Tenant: "t1", Text: ` "" ?! `}); !errors.Is(err, ErrQuery) {
			t.Fatalf("no words: %v", err)
		}
	})
	t.Run("indexing twice is once; checkpoint", func(t *testing.T) {
		ix := fixture(t)
		if err := ix.Index(ctx, []Doc{doc("t1", "c1", 1, "Hello, I need a refund for order 4411")}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if got := search(t, ix, Query{Text: "hello"}); !slices.Equal(got, []string{"c1/1"}) {
			t.Fatalf("after reindexing: %v", got)
		}
		if cp, err := ix.Checkpoint(ctx); err != nil || !cp.Equal(t0.Add(6*time.Minute)) {
			t.Fatalf("checkpoint %v, %v", cp, err)
		}
		if err := ix.Index(ctx, nil, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if cp, _ := ix.Checkpoint(ctx); !cp.Equal(t0.Add(time.Hour)) {
			t.Fatalf("checkpoint %v after moving it", cp)
		}
	})
	t.Run("delete conversations", func(t *testing.T) {
		ix := fixture(t)
		// Another tenant's id deletes nothing.
		if err := ix.DeleteConversations(ctx, "t2", []string{"c2"}); err != nil {
			t.Fatal(err)
		}
		if err := ix.DeleteConversations(ctx, "t1", []string{"c2"}); err != nil {
			t.Fatal(err)
		}
		if got := search(t, ix, Query{Text: "refund"}); !slices.Equal(got, []string{"c1/1"}) {
			t.Fatalf("after delete: %v", got)
		}
		if got := search(t, ix, Query{Tenant: "t2", Text: "refund"}); len(got) != 1 {
			t.Fatalf("t2 after t1's delete: %v", got)
		}
	})
}
