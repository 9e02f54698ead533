package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/search"
	"github.com/nudgehq/nudge/store"
)

// ReindexProgress is how far a reindex has come.
type ReindexProgress struct {
	Done, Total int64
	Resumed     bool // it went on from where an earlier run stopped
}

// reindexPosition is what a reindex writes after each page, so that an
// interrupted one goes on from there.
type reindexPosition struct {
	Target       string    `json:"target"` // the index it fills
	Since        time.Time `json:"since"`
	Began        time.Time `json:"began"`
	Conversation string    `json:"conversation"`
	Seq          int64     `json:"seq"`
	Done         int64     `json:"done"`
}

// Reindex rebuilds cfg's search index from the store: every message
// committed at or after since (zero: all), each with its conversation's
// state now. It records its position in the data folder after each page and
// goes on from there when run again (restart: from the beginning). When it
// has read everything the index's checkpoint was waiting for, it moves the
// checkpoint, so the server's feeder does not read it all back again.
func Reindex(ctx context.Context, cfg Config, st *store.Store, since time.Time, restart bool, log *slog.Logger, progress func(ReindexProgress)) error {
	ring, err := keys.OpenRing(ctx, cfg.MasterKeyFile, st)
	if err != nil {
		return err
	}
	ix, err := OpenSearch(ctx, cfg, ring, log)
	if err != nil {
		return err
	}
	defer ix.Close()
	if err := ix.Health(ctx); err != nil {
		return err
	}
	target := "embedded " + cfg.SearchPath()
	if cfg.SearchURL != "" {
		target = RedactURL(cfg.SearchURL) + " " + cfg.SearchPrefix
	}
	posFile := filepath.Join(cfg.DataDir, "reindex.position")
	pos := reindexPosition{Target: target, Since: since, Began: time.Now()}
	resumed := false
	if b, err := os.ReadFile(posFile); err == nil && !restart {
		var old reindexPosition
		if json.Unmarshal(b, &old) == nil && old.Target == target && old.Since.Equal(since) {
			pos, resumed = old, true
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reindex position: %w", err)
	}
	total, err := st.CountMessagesSince(ctx, since)
	if err != nil {
		return err
	}
	chatLog := chat.NewLog(st, ring, nil)
	defer chatLog.Close()
	src := SearchSource(st, chatLog, nil)
	save := func() error {
		b, _ := json.Marshal(pos)
		tmp := posFile + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return fmt.Errorf("reindex position: %w", err)
		}
		return os.Rename(tmp, posFile)
	}
	progress(ReindexProgress{Done: pos.Done, Total: total, Resumed: resumed})
	err = chatLog.ReplayAfter(ctx, since, pos.Conversation, pos.Seq, func(tenant string, ms []chat.Message) error {
		docs := make([]search.Doc, 0, len(ms))
		for _, m := range ms {
			if d, ok := searchDoc(tenant, m); ok {
				docs = append(docs, d)
			}
		}
		docs, err := src.Describe(ctx, docs)
		if err != nil {
			return err
		}
		if err := ix.Index(ctx, docs, time.Time{}); err != nil {
			return err
		}
		last := ms[len(ms)-1]
		pos.Conversation, pos.Seq, pos.Done = last.ConversationID, last.Seq, pos.Done+int64(len(ms))
		if err := save(); err != nil {
			return err
		}
		progress(ReindexProgress{Done: pos.Done, Total: max(total, pos.Done), Resumed: resumed})
		return nil
	})
	if err != nil {
		return fmt.Errorf("reindex (run it again to go on from message %d): %w", pos.Done, err)
	}
	// Everything since `since` up to when this reindex first began is in the
	// index; the checkpoint may move there if nothing before since is missing.
	cp, err := ix.Checkpoint(ctx)
	if err != nil {
		return err
	}
	if (since.IsZero() || !cp.Before(since)) && cp.Before(pos.Began) {
		if err := ix.Index(ctx, nil, pos.Began); err != nil {
			return err
		}
	}
	return os.Remove(posFile)
}
