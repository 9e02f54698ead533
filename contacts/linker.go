package contacts

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Linker records sightings in the background, many to a transaction, so
// that the paths that see identities (a page's /collect, a chat's start)
// never wait for the store. A sighting that finds the queue full is
// dropped and counted: the next page of the same visitor brings it again.
type Linker struct {
	book *Book
	log  *slog.Logger

	mu      sync.RWMutex // guards queue against Close
	closed  bool
	queue   chan linkReq
	done    chan struct{}
	Dropped atomic.Int64 // sightings dropped on a full queue
	Failed  atomic.Int64 // sightings the store refused
}

type linkReq struct {
	s     Sighting
	flush chan struct{} // a Flush's marker: closed once what came before is stored
}

// maxBatch bounds the sightings of one transaction.
const maxBatch = 500

// NewLinker starts a linker of queue sightings at most over book.
func NewLinker(book *Book, log *slog.Logger, queue int) *Linker {
	l := &Linker{book: book, log: log, queue: make(chan linkReq, max(queue, 1)), done: make(chan struct{})}
	go l.run()
	return l
}

// See queues a sighting; it never blocks.
func (l *Linker) See(s Sighting) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return
	}
	select {
	case l.queue <- linkReq{s: s}:
	default:
		l.Dropped.Add(1)
	}
}

// ErrClosed means the linker is shutting down.
var ErrClosed = errors.New("contacts: the linker is closed")

// Flush waits until every sighting queued before it is stored.
func (l *Linker) Flush(ctx context.Context) error {
	done := make(chan struct{})
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	select {
	case l.queue <- linkReq{flush: done}:
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	}
	l.mu.RUnlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stores what is queued and stops.
func (l *Linker) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	<-l.done
}

func (l *Linker) run() {
	defer close(l.done)
	batch := make([]Sighting, 0, maxBatch)
	var flushes []chan struct{}
	for req := range l.queue {
		batch, flushes = batch[:0], flushes[:0]
		add := func(r linkReq) {
			if r.flush != nil {
				flushes = append(flushes, r.flush)
			} else {
				batch = append(batch, r.s)
			}
		}
		add(req)
	more:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-l.queue:
				if !ok {
					break more
				}
				add(r)
			default:
				break more
			}
		}
		if len(batch) > 0 {
			l.store(batch)
		}
		for _, f := range flushes {
			close(f)
		}
	}
}

// store links a batch; when the batch fails, each sighting is tried alone,
// so that one bad sighting does not lose the others.
func (l *Linker) store(batch []Sighting) {
	ctx := context.Background()
	if _, err := l.book.Link(ctx, batch...); err == nil {
		return
	}
	for _, s := range batch {
		if _, err := l.book.Link(ctx, s); err != nil {
			l.Failed.Add(1)
			l.log.Warn("contacts: a verified visitor was not linked", "tenant", s.Tenant, "site", s.Site, "err", err)
		}
	}
}
