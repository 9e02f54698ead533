package search

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// source stands for the store: every doc ever committed, in order.
type source struct {
	mu   sync.Mutex
	docs []Doc
	read atomic.Int64 // docs handed out by replays
}

func (s *source) commit(d Doc) {
	s.mu.Lock()
	s.docs = append(s.docs, d)
	s.mu.Unlock()
}

func (s *source) replay(ctx context.Context, since time.Time, fn func([]Doc) error) error {
	s.mu.Lock()
	var out []Doc
	for _, d := range s.docs {
		if !d.CreatedAt.Before(since) {
			out = append(out, d)
		}
	}
	s.mu.Unlock()
	for len(out) > 0 {
		n := min(len(out), 7)
		if err := fn(out[:n]); err != nil {
			return err
		}
		s.read.Add(int64(n))
		out = out[n:]
	}
	return ctx.Err()
}

// flaky fails Index while down is set, as a backend that went away does.
type flaky struct {
	*Embedded
	down atomic.Bool
}

func (f *flaky) Index(ctx context.Context, docs []Doc, cp time.Time) error {
	if f.down.Load() {
		return errors.New("connection refused")
	}
	return f.Embedded.Index(ctx, docs, cp)
}

func countHits(t *testing.T, ix Index, text string) int {
	t.Helper()
	n := 0
	q := Query{Tenant: "t1", Text: text, Limit: MaxLimit}
	for {
		r, err := ix.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		n += len(r.Hits)
		if r.Next == "" {
			return n
		}
		q.Cursor = r.Next
	}
}

func flush(t *testing.T, f *Feeder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.Flush(ctx); err != nil {
		t.Fatalf("flush: %v (%+v)", err, f.Stats())
	}
}

func TestFeederLosesNothingWhenTheIndexIsDownOrSlow(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "search.db")
	emb, err := OpenEmbedded(ctx, path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	ix := &flaky{Embedded: emb}
	src := &source{}
	f := NewFeeder(ix, FeederOptions{Queue: 10, Batch: 4})
	f.Start(Source{Replay: src.replay})
	seq := int64(0)
	send := func(n int) {
		for range n {
			seq++
			d := Doc{Tenant: "t1", ConversationID: fmt.Sprintf("c%d", seq%3), Seq: seq, Text: "word", CreatedAt: time.Now()}
			src.commit(d)
			f.Add(d)
		}
	}
	// A new index reads back what the store already holds.
	send(5)
	flush(t, f)
	if n := countHits(t, ix, "word"); n != 5 {
		t.Fatalf("%d hits; want 5", n)
	}

	// The index goes away: the queue fills, overflows, and once the index is
	// back the dropped docs are read back from the store.
	ix.down.Store(true)
	send(100)
	for deadline := time.Now().Add(10 * time.Second); !f.Stats().Failing && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if st := f.Stats(); st.Dropped == 0 || !st.Failing {
		t.Fatalf("stats while down: %+v", st)
	}
	read := src.read.Load()
	ix.down.Store(false)
	flush(t, f)
	if n := countHits(t, ix, "word"); n != 105 {
		t.Fatalf("%d hits after the outage; want 105", n)
	}
	if src.read.Load() == read {
		t.Fatal("nothing was read back from the store")
	}
	cp, _ := emb.Checkpoint(ctx)
	if cp.IsZero() {
		t.Fatal("no checkpoint after catching up")
	}

	// Live docs move the checkpoint without reading back.
	read, dropped := src.read.Load(), f.Stats().Dropped
	send(3)
	flush(t, f)
	if st := f.Stats(); src.read.Load() != read || st.Dropped != dropped {
		t.Fatalf("read %d more, stats %+v", src.read.Load()-read, st)
	}
	if cp2, _ := emb.Checkpoint(ctx); !cp2.After(cp) {
		t.Fatalf("checkpoint %v did not move past %v", cp2, cp)
	}
	f.Close()

	// Committed while no feeder ran (a crash between commit and index): the
	// next start reads back from its checkpoint, not from the beginning.
	for range 4 {
		seq++
		src.commit(Doc{Tenant: "t1", ConversationID: "c9", Seq: seq, Text: "word", CreatedAt: time.Now()})
	}
	read = src.read.Load()
	f = NewFeeder(ix, FeederOptions{Margin: 2 * time.Millisecond})
	f.Start(Source{Replay: src.replay})
	defer f.Close()
	flush(t, f)
	if n := countHits(t, ix, "word"); n != 112 {
		t.Fatalf("%d hits after restart; want 112", n)
	}
	if n := src.read.Load() - read; n > 10 {
		t.Fatalf("the restart read back %d docs; want only those after the checkpoint", n)
	}
}

// A partial batch is indexed once its delay has passed, without a Flush.
func TestFeederIndexesAPartialBatchAfterItsDelay(t *testing.T) {
	ix := openEmbedded(t)
	f := NewFeeder(ix, FeederOptions{Delay: 20 * time.Millisecond})
	f.Start(Source{Replay: (&source{}).replay})
	defer f.Close()
	flush(t, f) // the first read back of the new index
	f.Add(Doc{Tenant: "t1", ConversationID: "c1", Seq: 1, Text: "late word", CreatedAt: time.Now()})
	for deadline := time.Now().Add(10 * time.Second); f.Stats().Indexed == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("a lone doc was never indexed: %+v", f.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := countHits(t, ix, "late"); n != 1 {
		t.Fatalf("%d hits; want 1", n)
	}
}
