package auth

import (
	"sync"
	"time"
)

// Limiter counts failures per key (an account, an IP) in a fixed window and
// refuses a key once it reaches max, until the window ends.
type Limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu sync.Mutex
	m  map[string]*window
}

type window struct {
	start    time.Time
	failures int
}

// NewLimiter allows max failures per key per window.
func NewLimiter(max int, per time.Duration) *Limiter {
	return &Limiter{max: max, window: per, now: time.Now, m: map[string]*window{}}
}

// Check returns 0 when key may try, or how long it must wait.
func (l *Limiter) Check(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.m[key]
	if !ok {
		return 0
	}
	now := l.now()
	if now.Sub(w.start) >= l.window {
		delete(l.m, key)
		return 0
	}
	if w.failures >= l.max {
		return w.start.Add(l.window).Sub(now)
	}
	return 0
}

// Fail records one failure for key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.m) > 100_000 {
		l.sweep(now)
	}
	w, ok := l.m[key]
	if !ok || now.Sub(w.start) >= l.window {
		w = &window{start: now}
		l.m[key] = w
	}
	w.failures++
}

// Reset forgets key's failures (after a success).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}

// sweep drops ended windows, then arbitrary ones if a spray of keys still
// fills the map: memory stays bounded, at the price of forgetting some keys.
func (l *Limiter) sweep(now time.Time) {
	for k, w := range l.m {
		if now.Sub(w.start) >= l.window {
			delete(l.m, k)
		}
	}
	for k := range l.m {
		if len(l.m) <= 50_000 {
			break
		}
		delete(l.m, k)
	}
}

// Backoff slows repeated failures of one key (an account from one address)
// with growing delays instead of a lock: the first Free failures cost
// nothing; then each further attempt must wait Base, 2×Base, 4×Base … up to
// Max. A key quiet for Max is forgotten.
type Backoff struct {
	Free      int
	Base, Max time.Duration
	now       func() time.Time

	mu sync.Mutex
	m  map[string]*backoffState
}

type backoffState struct {
	failures int
	last     time.Time
	next     time.Time // no attempt before
}

// NewBackoff makes a Backoff; see its fields.
func NewBackoff(free int, base, max time.Duration) *Backoff {
	return &Backoff{Free: free, Base: base, Max: max, now: time.Now, m: map[string]*backoffState{}}
}

// Check returns 0 when key may try now, or how long it must wait.
func (b *Backoff) Check(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.m[key]
	if !ok {
		return 0
	}
	now := b.now()
	if now.Sub(s.last) >= b.Max {
		delete(b.m, key)
		return 0
	}
	return max(s.next.Sub(now), 0)
}

// Fail records a failure of key and sets its next delay.
func (b *Backoff) Fail(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if len(b.m) > 100_000 {
		for k, s := range b.m {
			if now.Sub(s.last) >= b.Max || len(b.m) > 50_000 {
				delete(b.m, k)
			}
		}
	}
	s, ok := b.m[key]
	if !ok || now.Sub(s.last) >= b.Max {
		s = &backoffState{}
		b.m[key] = s
	}
	s.failures++
	s.last = now
	if over := s.failures - b.Free; over > 0 {
		d := b.Max
		if over <= 30 {
			d = min(b.Base<<(over-1), b.Max)
		}
		s.next = now.Add(d)
	}
}

// Reset forgets key (after a success).
func (b *Backoff) Reset(key string) {
	b.mu.Lock()
	delete(b.m, key)
	b.mu.Unlock()
}
