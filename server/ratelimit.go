package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyedLimiter is one token bucket per key (an IP, a site). Idle buckets are
// swept so that a spray of keys cannot grow memory without bound.
type keyedLimiter struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

// newKeyedLimiter allows perSecond requests per key, in bursts of burst;
// perSecond <= 0 allows everything.
func newKeyedLimiter(perSecond float64, burst int) *keyedLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &keyedLimiter{limit: rate.Limit(perSecond), burst: max(burst, 1), m: map[string]*bucket{}}
}

// allow takes a token for key; false means "too many, slow down".
func (k *keyedLimiter) allow(key string, now time.Time) bool {
	if k == nil {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.m[key]
	if b == nil {
		if len(k.m) >= 100_000 {
			k.sweep(now)
		}
		b = &bucket{l: rate.NewLimiter(k.limit, k.burst)}
		k.m[key] = b
	}
	b.seen = now
	return b.l.AllowN(now, 1)
}

// sweep drops buckets idle long enough to have refilled, then arbitrary ones
// if the map is still full.
func (k *keyedLimiter) sweep(now time.Time) {
	idle := time.Duration(float64(k.burst)/float64(k.limit)*float64(time.Second)) + time.Second
	for key, b := range k.m {
		if now.Sub(b.seen) > idle {
			delete(k.m, key)
		}
	}
	for key := range k.m {
		if len(k.m) < 50_000 {
			break
		}
		delete(k.m, key)
	}
}
