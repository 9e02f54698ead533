package search

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Source is the system of record a feeder reads from.
type Source struct {
	// Replay reads back every message committed at or after since, in batches.
	Replay func(ctx context.Context, since time.Time, fn func([]Doc) error) error
	// Describe sets each doc's Conv to its conversation's state now, and
	// leaves out docs whose conversation is gone (erased); nil keeps docs
	// as they are.
	Describe func(ctx context.Context, docs []Doc) ([]Doc, error)
	// Conversation reads back a conversation's messages, described; nil
	// ignores Touch.
	Conversation func(ctx context.Context, tenant, id string) ([]Doc, error)
}

type convKey struct{ tenant, id string }

// FeederOptions shape a Feeder; zero values take the defaults.
type FeederOptions struct {
	Queue int // docs held while the index is slow or down; 100,000
	// Batch is the most docs per Index call; 10,000. A full-text index
	// writes a segment per commit and merges them later: at high rates,
	// larger batches are a fifth cheaper per message than 2,000.
	Batch int
	// Delay is how long a partial batch waits for more docs: indexing a few
	// docs at a time costs a full-text index far more per doc (one segment
	// and merge per commit) than thousands at once; 1 s.
	Delay  time.Duration
	Logger *slog.Logger
	// Margin is how far before the checkpoint a restart reads back, for
	// clock steps and the messages of a commit cut by a batch; one minute.
	Margin time.Duration
}

// Feeder hands committed messages to an index off the chat's path: Add never
// blocks, one goroutine indexes in batches and retries while the index is
// down. Nothing is lost when it falls behind: once its queue overflows it
// drops docs, and when the queue has drained it reads the missed messages
// back from the store (Replay). The index's checkpoint only moves while no
// doc is missing, so a restart reads back from there. A conversation whose
// state changed (Touch) has its messages indexed again with it.
type Feeder struct {
	ix      Index
	src     Source
	started bool
	o       FeederOptions
	ctx     context.Context
	cancel  context.CancelFunc
	// quiet is ctx without its cancellation, for the index's writes: one
	// batch is short, and a cancellable context costs the SQLite driver a
	// goroutine per statement.
	quiet context.Context
	done  chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []Doc
	gap     bool      // docs were dropped (or never indexed): replay from since
	since   time.Time // the earliest of them
	touched map[convKey]bool
	busy    bool // a batch or a replay is running
	hurry   int  // Flush callers waiting: no Delay
	closed  bool
	indexed int64
	dropped int64
	failing bool
}

// NewFeeder makes a feeder of ix; Add queues until Start.
func NewFeeder(ix Index, o FeederOptions) *Feeder {
	if o.Queue <= 0 {
		o.Queue = 100_000
	}
	if o.Batch <= 0 {
		o.Batch = 10_000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Margin <= 0 {
		o.Margin = time.Minute
	}
	if o.Delay <= 0 {
		o.Delay = time.Second
	}
	f := &Feeder{ix: ix, o: o, done: make(chan struct{}), gap: true, touched: map[convKey]bool{}}
	f.cond = sync.NewCond(&f.mu)
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.quiet = context.WithoutCancel(f.ctx)
	return f
}

// Start starts indexing. It first reads back from the store what the index
// may have missed since its checkpoint (everything, for a new index).
func (f *Feeder) Start(src Source) {
	f.mu.Lock()
	f.src, f.started = src, true
	f.mu.Unlock()
	go f.run()
}

// Touch says a conversation's state changed (an agent joined, it closed):
// its messages are indexed again, with the next batch. It never blocks.
func (f *Feeder) Touch(tenant, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.src.Conversation == nil && f.started {
		return
	}
	if len(f.touched) >= f.o.Queue {
		return // a conversation past this many waits for a reindex; the store stays right
	}
	f.touched[convKey{tenant, id}] = true
	if len(f.touched) == 1 {
		f.cond.Broadcast()
	}
}

// Add queues a committed message; it never blocks.
func (f *Feeder) Add(d Doc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if len(f.queue) >= f.o.Queue {
		f.dropped++
		if !f.gap || d.CreatedAt.Before(f.since) {
			f.gap, f.since = true, d.CreatedAt
		}
		return
	}
	f.queue = append(f.queue, d)
	if n := len(f.queue); n == 1 || n == f.o.Batch {
		f.cond.Broadcast() // the writer waits for a first doc or a full batch
	}
}

// FeederStats are counters for metrics.
type FeederStats struct {
	Queued           int
	Indexed, Dropped int64
	Failing          bool // the last attempt to index failed
	// Lag is how long the oldest message not yet indexed has waited (0: none).
	Lag time.Duration
}

// Stats returns the feeder's counters.
func (f *Feeder) Stats() FeederStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := FeederStats{Queued: len(f.queue), Indexed: f.indexed, Dropped: f.dropped, Failing: f.failing}
	oldest := time.Time{}
	if len(f.queue) > 0 {
		oldest = f.queue[0].CreatedAt
	}
	if f.gap && !f.since.IsZero() && (oldest.IsZero() || f.since.Before(oldest)) {
		oldest = f.since
	}
	if !oldest.IsZero() {
		st.Lag = max(time.Since(oldest), 0)
	}
	return st
}

// Flush waits until everything added so far is indexed, or ctx ends.
func (f *Feeder) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hurry++
	defer func() { f.hurry-- }()
	f.cond.Broadcast()
	for (len(f.queue) > 0 || len(f.touched) > 0 || f.gap || f.busy) && ctx.Err() == nil && !f.closed {
		f.cond.Wait()
	}
	return ctx.Err()
}

// Close stops the feeder after one last attempt at what is queued; what it
// could not index is read back at the next start.
func (f *Feeder) Close() {
	f.mu.Lock()
	f.closed = true
	started := f.started
	f.cond.Broadcast()
	f.mu.Unlock()
	f.cancel()
	if started {
		<-f.done
	}
}

func (f *Feeder) run() {
	defer close(f.done)
	if cp, err := retry(f, func() (time.Time, error) { return f.ix.Checkpoint(f.ctx) }); err == nil && !cp.IsZero() {
		f.mu.Lock()
		if f.gap && f.since.IsZero() {
			f.since = cp.Add(-f.o.Margin)
		}
		f.mu.Unlock()
	}
	for {
		f.mu.Lock()
		for len(f.queue) == 0 && len(f.touched) == 0 && !f.gap && !f.closed {
			f.cond.Wait()
		}
		if len(f.queue) < f.o.Batch && !f.gap && !f.closed && f.hurry == 0 {
			deadline := time.Now().Add(f.o.Delay)
			t := time.AfterFunc(f.o.Delay, func() {
				f.mu.Lock()
				f.cond.Broadcast()
				f.mu.Unlock()
			})
			for len(f.queue) < f.o.Batch && !f.closed && f.hurry == 0 && time.Now().Before(deadline) {
				f.cond.Wait()
			}
			t.Stop()
		}
		if f.closed {
			batch := f.queue
			f.queue = nil
			f.cond.Broadcast()
			f.mu.Unlock()
			if len(batch) > 0 {
				f.index(context.Background(), batch, false)
			}
			return
		}
		f.busy = true
		if len(f.queue) > 0 {
			n := min(len(f.queue), f.o.Batch)
			batch := f.queue[:n:n]
			f.queue = f.queue[n:]
			if len(f.queue) == 0 {
				f.queue = nil // let the drained backing array go
			}
			// The checkpoint waits for touched conversations too: a restart
			// reads back their notices and touches them again.
			gap := f.gap || len(f.touched) > 0
			f.mu.Unlock()
			retry(f, func() (struct{}, error) { return struct{}{}, f.index(f.quiet, batch, !gap) })
		} else if f.gap {
			since := f.since
			f.gap, f.since = false, time.Time{}
			f.mu.Unlock()
			f.readBack(since)
		} else {
			touched := f.touched
			f.touched = map[convKey]bool{}
			f.mu.Unlock()
			f.reindex(touched)
		}
		f.mu.Lock()
		f.busy = false
		f.cond.Broadcast()
		f.mu.Unlock()
	}
}

// index indexes a batch; checkpoint says whether it may record its last
// doc's time as the checkpoint (no doc before it is missing).
func (f *Feeder) index(ctx context.Context, batch []Doc, checkpoint bool) error {
	var cp time.Time
	if checkpoint {
		cp = batch[len(batch)-1].CreatedAt
	}
	docs, err := f.describe(ctx, batch)
	if err != nil {
		return err
	}
	if err := f.ix.Index(ctx, docs, cp); err != nil {
		return err
	}
	f.mu.Lock()
	f.indexed += int64(len(batch))
	f.mu.Unlock()
	return nil
}

func (f *Feeder) describe(ctx context.Context, docs []Doc) ([]Doc, error) {
	if f.src.Describe == nil || len(docs) == 0 {
		return docs, nil
	}
	return f.src.Describe(ctx, docs)
}

// reindex indexes the touched conversations' messages again; what it could
// not do (the feeder closing) is left for a reindex.
func (f *Feeder) reindex(touched map[convKey]bool) {
	for k := range touched {
		retry(f, func() (struct{}, error) {
			docs, err := f.src.Conversation(f.quiet, k.tenant, k.id)
			if err == nil {
				err = f.ix.Index(f.quiet, docs, time.Time{})
			}
			return struct{}{}, err
		})
	}
}

// readBack indexes what the store committed since, then records the time
// the reading began as the checkpoint, unless more docs were dropped
// meanwhile (then the gap stays open and is read back next).
func (f *Feeder) readBack(since time.Time) {
	began := time.Now()
	var n int
	_, err := retry(f, func() (struct{}, error) {
		return struct{}{}, f.src.Replay(f.ctx, since, func(docs []Doc) error {
			n += len(docs)
			docs, err := f.describe(f.quiet, docs)
			if err != nil {
				return err
			}
			return f.ix.Index(f.quiet, docs, time.Time{})
		})
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil { // closing: the next start reads back from the checkpoint
		f.gap = true
		return
	}
	f.indexed += int64(n)
	if n > 0 {
		f.o.Logger.Info("search: indexed messages read back from the store", "since", since, "messages", n)
	}
	if f.gap {
		return
	}
	f.mu.Unlock()
	retry(f, func() (struct{}, error) { return struct{}{}, f.ix.Index(f.quiet, nil, began) })
	f.mu.Lock()
}

// retry runs fn until it succeeds or the feeder closes, backing off from
// 100 ms to 30 s, and logs when the index fails and when it recovers.
func retry[T any](f *Feeder, fn func() (T, error)) (T, error) {
	wait := 100 * time.Millisecond
	for {
		v, err := fn()
		f.mu.Lock()
		was := f.failing
		f.failing = err != nil && f.ctx.Err() == nil
		f.mu.Unlock()
		if err == nil {
			if was {
				f.o.Logger.Info("search: index reachable again")
			}
			return v, nil
		}
		if f.ctx.Err() != nil {
			return v, err
		}
		if !was {
			f.o.Logger.Error("search: index failing; retrying", "err", err)
		}
		select {
		case <-f.ctx.Done():
			return v, err
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}
