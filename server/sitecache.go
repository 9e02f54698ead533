package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nudgehq/nudge/store"
)

// siteCache keeps sites by public key for the page-side routes, which look a
// site up on every request. Entries live a few seconds; changes made through
// this server forget them at once.
type siteCache struct {
	st  *store.Store
	ttl time.Duration

	mu sync.Mutex
	m  map[string]cachedSite
}

type cachedSite struct {
	site    *store.Site // nil: no such key (cached too, so unknown keys cost no query)
	expires time.Time
}

func newSiteCache(st *store.Store) *siteCache {
	return &siteCache{st: st, ttl: 10 * time.Second, m: map[string]cachedSite{}}
}

// get returns the site with key, or nil when there is none.
func (c *siteCache) get(ctx context.Context, key string) (*store.Site, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.site, nil
	}
	st, err := c.st.SiteByKey(ctx, key)
	var site *store.Site
	switch {
	case err == nil:
		site = &st
	case !isNotFound(err):
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) > 10_000 {
		clear(c.m)
	}
	c.m[key] = cachedSite{site: site, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return site, nil
}

func (c *siteCache) forget(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
