package contacts

import (
	"context"
	"errors"
	"log/slog"
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

	rmu    sync.Mutex
	recent map[recentKey]seen

	mu      sync.RWMutex // guards queue against Close
	closed  bool
	queue   chan linkReq
	done    chan struct{}
	Dropped atomic.Int64 // sightings dropped on a full queue
	Failed  atomic.Int64 // sightings the store refused
}

// recentKey is a visitor of a site seen as an external id.
type recentKey struct{ tenant, site, visitor, external string }

// seen is what was queued last of a visitor's sighting, and when.
type seen struct {
	email, name, by string
	at              time.Time
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

// See queues a sighting; it never blocks. A repeat is dropped here, before
// the queue: waking the writer for each cost more than the writes it saved.
func (l *Linker) See(s Sighting) {
	k := recentKey{s.Tenant, s.Site, s.Visitor, s.ExternalID}
	if !l.fresh(k, s) {
		return
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return
	}
	select {
	case l.queue <- linkReq{s: s}:
	default:
		l.Dropped.Add(1)
		l.forget(k)
	}
}

// fresh says whether a sighting says something new: a visitor not queued in
// the last minute, or a change of what they are called (a sighting with
// attributes always is).
func (l *Linker) fresh(k recentKey, s Sighting) bool {
	at := s.At
	if at.IsZero() {
		at = time.Now()
	}
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if l.recent == nil || len(l.recent) >= maxRecent {
		l.recent = make(map[recentKey]seen, 1024)
	}
	r, ok := l.recent[k]
	if ok && len(s.Attributes) == 0 && r.email == s.Email && r.name == s.Name && r.by == s.VerifiedBy &&
		at.Sub(r.at) < refreshEvery && !at.Before(r.at) {
		return false
	}
	l.recent[k] = seen{email: s.Email, name: s.Name, by: s.VerifiedBy, at: at}
	return true
}

// forget makes the next sighting of a visitor fresh again.
func (l *Linker) forget(k recentKey) {
	l.rmu.Lock()
	delete(l.recent, k)
	l.rmu.Unlock()
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
			l.store(batch)
		}
		if len(flushes) > 0 {
			l.rmu.Lock()
			clear(l.recent)
			l.rmu.Unlock()
		}
		for _, f := range flushes {
			close(f)
		}
	}
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
			l.forget(recentKey{s.Tenant, s.Site, s.Visitor, s.ExternalID})
			l.Failed.Add(1)
			l.log.Warn("contacts: a verified visitor was not linked", "tenant", s.Tenant, "site", s.Site, "err", err)
		}
	}
}
