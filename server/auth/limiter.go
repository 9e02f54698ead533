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
