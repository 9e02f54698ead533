package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/search"
)

// A reindex fills an index from the store; interrupted, it goes on from
// where it stopped; done, it moves the checkpoint.
func TestReindex(t *testing.T) {
	t.Parallel()
	searchBackends(t, func(t *testing.T, edit func(*Config)) {
		h := newHarness(t)
		f := newChatFixture(h, "Acme")
		_, _, conv := f.acceptedChat()
		// More than one page of the store (500) in one conversation, written
		// straight to the log: a visitor may send only 10 frames a second.
		const n = 1100
		ctx := t.Context()
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := h.srv.chat.Log().Append(ctx, f.tn.ID, chat.Message{ConversationID: conv, Sender: chat.Sender{Kind: "visitor", ID: "visitor-1"},
					Kind: chat.KindText, Audience: chat.AudienceAll, Text: fmt.Sprintf("stored message %d", i)}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()

		cfg := h.srv.cfg
		cfg.DataDir = t.TempDir() // a new index beside the running server's
		edit(&cfg)
		stopAt := errors.New("stop here")
		cctx, cancel := context.WithCancelCause(ctx)
		err := ops.Reindex(cctx, cfg.Config, h.st, time.Time{}, false, h.srv.log, func(p ops.ReindexProgress) {
			if p.Done >= 500 {
				cancel(stopAt)
			}
		})
		if err == nil {
			t.Fatal("the interrupted reindex says it finished")
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "reindex.position")); err != nil {
			t.Fatalf("no position after the interruption: %v", err)
		}
		var first, last ops.ReindexProgress
		err = ops.Reindex(ctx, cfg.Config, h.st, time.Time{}, false, h.srv.log, func(p ops.ReindexProgress) {
			if first.Total == 0 {
				first = p
			}
			last = p
		})
		if err != nil {
			t.Fatal(err)
		}
		if !first.Resumed || first.Done < 500 || last.Done != last.Total || last.Total < n {
			t.Fatalf("progress: first %+v, last %+v", first, last)
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "reindex.position")); !os.IsNotExist(err) {
			t.Fatalf("the position is left: %v", err)
		}
		ring, err := keys.OpenRing(ctx, cfg.MasterKeyFile, h.st)
		if err != nil {
			t.Fatal(err)
		}
		ix, err := ops.OpenSearch(ctx, cfg.Config, ring, h.srv.log)
		if err != nil {
			t.Fatal(err)
		}
		defer ix.Close()
		for deadline := time.Now().Add(30 * time.Second); ; {
			c, err := ix.Count(ctx, f.tn.ID)
			if err == nil && c == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("count %d, %v; want %d", c, err, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		r, err := ix.Search(ctx, search.Query{Tenant: f.tn.ID, Text: `"stored message 1099"`})
		if err != nil || len(r.Hits) != 1 {
			t.Fatalf("message 1099: %+v, %v", r, err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; {
			cp, err := ix.Checkpoint(ctx)
			if err == nil && !cp.IsZero() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("checkpoint %v, %v", cp, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
