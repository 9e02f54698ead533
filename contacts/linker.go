package contacts

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Linker records sightings in the background, many to a transaction, so
// that the paths that see identities (a page's /collect, a chat's start)
// never wait for the store. A sighting that finds the queue full is
// dropped and counted: the next page of the same visitor brings it again.
//
// A logged-in visitor's page identifies them on every view: a sighting that
// says nothing new of a visitor stored less than a minute ago is skipped,
// so that the store sees about one write a minute per active visitor, not
// one a page (the contact's last_seen is then at most a minute behind).
type Linker struct {
	book *Book
	log  *slog.Logger

	recent map[string]seen // the writer goroutine's own

	mu      sync.RWMutex // guards queue against Close
	closed  bool
	queue   chan linkReq
	done    chan struct{}
	Dropped atomic.Int64 // sightings dropped on a full queue
	Failed  atomic.Int64 // sightings the store refused
}

// seen is what was stored last of a visitor's sighting, and when.
type seen struct {
	digest string
	at     time.Time
}

const (
	refreshEvery = time.Minute
	maxRecent    = 200_000 // about 30 MiB at most; past it, forgotten all at once
)

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

// Flush waits until every sighting queued before it is stored, and forgets
// which it skipped as repeated: after an erasure, the next sighting of the
// same visitor is stored again.
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
			l.store(l.fresh(batch))
		}
		if len(flushes) > 0 {
			clear(l.recent)
		}
		for _, f := range flushes {
			close(f)
		}
	}
}

// fresh keeps the sightings that say something new: a visitor not stored
// in the last minute, or a change of what they are called, and one of each
// visitor per batch (its latest, with the batch's changes merged by order).
func (l *Linker) fresh(batch []Sighting) []Sighting {
	if l.recent == nil || len(l.recent) >= maxRecent {
		l.recent = make(map[string]seen, 1024)
	}
	out := batch[:0]
	for _, s := range batch {
		k, d := key(s), digest(s)
		if r, ok := l.recent[k]; ok && r.digest == d && s.At.Sub(r.at) < refreshEvery && !s.At.Before(r.at) {
			continue
		}
		l.recent[k] = seen{digest: d, at: s.At}
		out = append(out, s)
	}
	return out
}

func key(s Sighting) string {
	return s.Tenant + "\x00" + s.Site + "\x00" + s.Visitor + "\x00" + s.ExternalID
}

// digest is what a sighting says of the contact besides when.
func digest(s Sighting) string {
	d := s.Email + "\x00" + s.Name + "\x00" + s.VerifiedBy
	if len(s.Attributes) > 0 {
		keys := slices.Sorted(maps.Keys(s.Attributes))
		for _, k := range keys {
			d += "\x00" + k + "=" + s.Attributes[k]
		}
	}
	return d
}

// store links a batch; when the batch fails, each sighting is tried alone,
// so that one bad sighting does not lose the others. A sighting not stored
// is forgotten, so that its next one is tried again.
func (l *Linker) store(batch []Sighting) {
	if len(batch) == 0 {
		return
	}
	ctx := context.Background()
	if _, err := l.book.save(ctx, batch); err == nil {
		return
	}
	for _, s := range batch {
		if _, err := l.book.save(ctx, []Sighting{s}); err != nil {
			delete(l.recent, key(s))
			l.Failed.Add(1)
			l.log.Warn("contacts: a verified visitor was not linked", "tenant", s.Tenant, "site", s.Site, "err", err)
		}
	}
}
