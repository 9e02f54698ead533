package ops

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/nudgehq/nudge/store"
)

// ttlCache keeps values by site key for the page-side routes, which look a
// site up on every request. Entries live a few seconds; changes made through
// this server forget them at once. A lookup that began before a forget does
// not put its stale answer back: forget moves the generation on, and an
// answer is kept only if the generation it was computed in is still current.
type ttlCache[V any] struct {
	ttl  time.Duration
	load func(ctx context.Context, key string) (V, error)

	mu  sync.Mutex
	gen uint64
	m   map[string]cached[V]
}

type cached[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[V any](ttl time.Duration, load func(context.Context, string) (V, error)) *ttlCache[V] {
	return &ttlCache[V]{ttl: ttl, load: load, m: map[string]cached[V]{}}
}

func (c *ttlCache[V]) get(ctx context.Context, key string) (V, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[key]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.v, nil
	}
	v, err := c.load(ctx, key)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.m) > 10_000 {
			clear(c.m)
		}
		// A copy: callers pass fiber's path parameters, whose bytes the next
		// request reuses; a key that changes under the map is never forgotten.
		c.m[strings.Clone(key)] = cached[V]{v: v, expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return v, nil
}

func (c *ttlCache[V]) forget(key string) {
	c.mu.Lock()
	c.gen++
	delete(c.m, key)
	c.mu.Unlock()
}

// siteCache finds sites by public key; nil is cached too, so that unknown
// keys cost no query.
type siteCache = ttlCache[*store.Site]

func newSiteCache(st *store.Store) *siteCache {
	return newTTLCache(10*time.Second, func(ctx context.Context, key string) (*store.Site, error) {
		site, err := st.SiteByKey(ctx, key)
		switch {
		case err == nil:
			return &site, nil
		case isNotFound(err):
			return nil, nil
		}
		return nil, err
	})
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
