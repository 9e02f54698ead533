package search

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// testKey gives every tenant a key of its own, as the key ring does.
func testKey(_ context.Context, tenant string) ([]byte, error) {
	k := sha256.Sum256([]byte("test key " + tenant))
	return k[:], nil
}

func openEmbedded(t testing.TB) *Embedded {
	t.Helper()
	ix, err := OpenEmbedded(context.Background(), filepath.Join(t.TempDir(), "search.db"), testKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func TestEmbeddedContract(t *testing.T) {
	contract(t, backend{open: func(t *testing.T) Index { return openEmbedded(t) }})
}

func TestEmbeddedFileHoldsNoText(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ix, err := OpenEmbedded(ctx, filepath.Join(dir, "search.db"), testKey)
	if err != nil {
		t.Fatal(err)
	}
	const marker = "zebracornflakes"
	if err := ix.Index(ctx, []Doc{{Tenant: "t1", ConversationID: "c1", Seq: 1, Text: "say " + marker + " twice " + marker, CreatedAt: time.Now()}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r, err := ix.Search(ctx, Query{Tenant: "t1", Text: marker}); err != nil || len(r.Hits) != 1 {
		t.Fatalf("marker not found: %+v, %v", r, err)
	}
	ix.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(bytes.ToLower(b), []byte(marker)) {
			t.Fatalf("%s holds the marker", f)
		}
	}
}

func TestTermsAndPhrases(t *testing.T) {
	if got := Terms("Crème brûlée, S'IL vous plaît: 42€ — ﬁn 😀"); !slices.Equal(got, []string{"creme", "brulee", "s", "il", "vous", "plait", "42", "fin"}) {
		t.Fatalf("Terms: %q", got)
	}
	got, err := ParseQuery(`refund "order 44" late* "unclosed quote`)
	want := []Part{{Words: []Term{"refund"}}, {Words: []Term{"order", "44"}}, {Words: []Term{"late"}, Prefix: true}, {Words: []Term{"unclosed", "quote"}}}
	if err != nil || !slices.EqualFunc(got, want, func(a, b Part) bool { return slices.Equal(a.Words, b.Words) && a.Prefix == b.Prefix }) {
		t.Fatalf("ParseQuery: %+v, %v", got, err)
	}
}

// By relevance, the embedded index ranks the newest relevanceWindow matches:
// a better match older than those is not on the first page.
func TestEmbeddedRanksTheNewestMatches(t *testing.T) {
	ix := openEmbedded(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	docs := []Doc{{Tenant: "t1", ConversationID: "old", Seq: 1, Text: "parcel parcel parcel", CreatedAt: t0}}
	for i := range relevanceWindow {
		docs = append(docs, Doc{Tenant: "t1", ConversationID: fmt.Sprintf("c%05d", i), Seq: 1,
			Text: "a long message that mentions the parcel once among many other words", CreatedAt: t0.Add(time.Duration(i+1) * time.Second)})
	}
	docs = append(docs, Doc{Tenant: "t1", ConversationID: "new", Seq: 1, Text: "parcel parcel", CreatedAt: t0.Add(time.Hour * 24)})
	if err := ix.Index(ctx, docs, time.Time{}); err != nil {
		t.Fatal(err)
	}
	r, err := ix.Search(ctx, Query{Tenant: "t1", Text: "parcel", Order: ByRelevance, Limit: 3})
	if err != nil || len(r.Hits) != 3 || r.Hits[0].ConversationID != "new" {
		t.Fatalf("by relevance: %+v, %v; want the newest best match first", r.Hits, err)
	}
	for _, h := range r.Hits {
		if h.ConversationID == "old" {
			t.Fatalf("a match older than the newest %d was ranked: %+v", relevanceWindow, r.Hits)
		}
	}
	// It is indexed, only not ranked.
	if n, _ := ix.Count(ctx, "t1"); n != relevanceWindow+2 {
		t.Fatalf("count %d", n)
	}
}
