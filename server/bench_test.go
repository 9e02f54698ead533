package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkAuthorizedRead measures one authenticated, authorized API read over a
// real keep-alive connection: session lookup, casbin decision, a page of sites.
func BenchmarkAuthorizedRead(b *testing.B) {
	h := newHarness(b)
	newTenantFixture(h, "Bench")
	c := h.login("admin@bench.test", "password-admin")
	url := "http://" + h.listen() + "/api/sites"
	client := &http.Client{}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Cookie", c.cookie)
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}

// BenchmarkPageSideOffers measures what every open page of a site with rules
// asks: its availability (from memory, the chat engine's state at most 2 s
// old) and, with pushed offers on, an empty poll; over a real keep-alive
// connection with the page's Origin.
func BenchmarkPageSideOffers(b *testing.B) {
	for _, path := range []string{"/availability/shop", "/offers/shop?visitor=v1"} {
		b.Run(path[1:strings.IndexAny(path[1:], "/")+1], func(b *testing.B) {
			h, _, _ := pushFixture(b, func(c *Config) { c.CollectIPRate = 0 }) // one client address
			url := "http://" + h.listen() + path
			client := &http.Client{}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("Origin", shopOrigin)
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 && res.StatusCode != 204 {
						b.Errorf("status %d", res.StatusCode)
						return
					}
				}
			})
		})
	}
}
