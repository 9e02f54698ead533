package search

import (
	"bytes"
	"context"
	"crypto/sha256"
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
