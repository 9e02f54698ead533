package analytics

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkIngest measures accepting and committing events: b.N events in
// batches of 20, as the analytics module sends them, over 10,000 visitors.
func BenchmarkIngest(b *testing.B) {
	f := newFixture(b, Options{})
	now := time.Now()
	batches := make([]Batch, 0, 1000)
	for i := range cap(batches) {
		v := i % 10_000
		bt := Batch{Site: "shop", Visitor: fmt.Sprint("v", v), Visit: fmt.Sprint("s", v), VisitN: 1, Lang: "en-US", Screen: "1440x900"}
		for j := range 20 {
			p := paths[(i+j)%len(paths)]
			switch j % 4 {
			case 0:
				bt.Events = append(bt.Events, Event{Type: "event", Name: "click", URL: "https://shop.test" + p, Props: map[string]any{"b": "x"}})
			case 1:
				bt.Events = append(bt.Events, Event{Type: "leave", URL: "https://shop.test" + p, EngagedMS: 1000, Scroll: 50})
			default:
				bt.Events = append(bt.Events, Event{Type: "pageview", URL: "https://shop.test" + p, Ref: "https://www.google.com/"})
			}
		}
		batches = append(batches, bt)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i += 20 {
		bt := batches[(i/20)%len(batches)]
		for {
			_, err := f.in.Accept(ctx, f.site, &bt, Meta{IP: "1.2.3.4", UserAgent: chromeUA, Now: now})
			if err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	f.flush(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

var paths = []string{"/", "/pricing", "/billing", "/checkout", "/help", "/blog/a", "/blog/b", "/about"}
