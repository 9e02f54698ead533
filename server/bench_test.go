package server

import (
	"io"
	"net/http"
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
