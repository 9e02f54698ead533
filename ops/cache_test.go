package ops

import (
	"context"
	"testing"
	"unsafe"
)

// The page-side routes pass fiber's path parameters as keys, whose bytes the
// next request overwrites. The cache must keep its own copy, or forget never
// finds the entry and a change is not seen (a site's removed origin kept
// passing, under load, until the entry expired).
func TestTTLCacheKeepsItsOwnKeys(t *testing.T) {
	loads := 0
	c := newTTLCache(3600e9, func(context.Context, string) (int, error) { loads++; return loads, nil })
	buf := []byte("shop")
	key := unsafe.String(&buf[0], len(buf)) // as fiber's c.Params gives it
	if v, _ := c.get(context.Background(), key); v != 1 {
		t.Fatalf("first load: %d", v)
	}
	copy(buf, "nope") // the next request reuses the buffer
	c.forget("shop")
	copy(buf, "shop") // and a later one names the same site again
	if v, _ := c.get(context.Background(), "shop"); v != 2 {
		t.Fatalf("after forget the old value is served: %d", v)
	}
}
