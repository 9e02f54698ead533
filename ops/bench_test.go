package ops

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/loadgen"
)

// BenchmarkChatContext is the context panel's data (GET /api/conversations/{id})
// for a customer with 1,000 visits and 100 earlier conversations: the
// contact, this visit's pages, the visit count and the earlier list.
//
//	go test -run '^$' -bench ChatContext -benchtime 200x -count 5 ./ops
func BenchmarkChatContext(b *testing.B) {
	f := newFixture(b)
	ada := &chat.Identity{ID: "cust-bench", Email: "ada@example.com", Name: "Ada", Verified: true, By: "token"}
	// 1,000 visits of the customer's browser, an hour apart.
	t0 := time.Now().Add(-1000 * time.Hour)
	for i := range 1000 {
		at := t0.Add(time.Duration(i) * time.Hour)
		var evs []analytics.Event
		for p := range 4 {
			u := fmt.Sprintf("https://shop.example.com/page-%d", p)
			evs = append(evs, analytics.Event{Type: "pageview", URL: u, TS: at.UnixMilli() + int64(p)*10_000},
				analytics.Event{Type: "leave", URL: u, TS: at.UnixMilli() + int64(p)*10_000 + 9_000, EngagedMS: 9_000})
		}
		batch := &analytics.Batch{Site: f.site.Key, Visitor: "laptop", Sent: at.UnixMilli() + 40_000, Events: evs}
		if _, err := f.s.Ingest.Accept(f.ctx, &f.site, batch, analytics.Meta{IP: "192.0.2.1", UserAgent: desktopUA, Now: at.Add(40 * time.Second)}); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.s.Ingest.Flush(f.ctx); err != nil {
		b.Fatal(err)
	}
	// 100 earlier conversations, closed.
	for range 100 {
		v, _, err := f.s.Chat.Start(f.ctx, f.site, "laptop", chat.Meta{Identity: ada})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.s.Chat.VisitorSend(f.ctx, v, chat.Message{Text: "Hello"}); err != nil {
			b.Fatal(err)
		}
		if err := f.s.Chat.VisitorClose(f.ctx, v); err != nil {
			b.Fatal(err)
		}
	}
	v, _, err := f.s.Chat.Start(f.ctx, f.site, "laptop", chat.Meta{Identity: ada})
	if err != nil {
		b.Fatal(err)
	}
	f.s.Identified(f.site, "laptop", ada, "token")
	f.s.Links.Flush(f.ctx)
	f.s.Chat.Flush()
	sup := chat.Agent{Tenant: f.tenant.ID, User: "sup", Name: "Sue", Supervise: true}
	cc, err := f.s.ChatContext(f.ctx, sup, v.Conversation)
	if err != nil || cc.Contact == nil || cc.Contact.Visits != 1000 || len(cc.Earlier) != 100 {
		b.Fatalf("%d visits, %d earlier: %v", cc.Contact.Visits, len(cc.Earlier), err)
	}
	b.Run("panel", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.s.ChatContext(f.ctx, sup, v.Conversation); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The contact's page: its 200 latest visits of 1,000, conversations, offers.
	b.Run("contact-page", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.s.Contact(f.ctx, f.tenant.ID, cc.Contact.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCollectIdentified is /collect past HTTP (decode, enrich, commit)
// when every batch identifies its visitor (a site whose visitors are logged
// in, at its worst: the page identifies on every view), with the contacts
// (the user id kept as its fingerprint, the sighting handed to the linker,
// which links the contact in the background) against the same without them
// (the hash checked, the id kept), in one run.
//
//	go test -run '^$' -bench CollectIdentified -benchtime 200000x -count 6 ./ops
func BenchmarkCollectIdentified(b *testing.B) {
	f := newFixture(b)
	bodies := loadgen.Bodies(loadgen.CollectOptions{Site: f.site.Key, Batch: 20, Visitors: 10_000, Secret: f.site.IdentitySecret}, 1000)
	run := func(b *testing.B, in *analytics.Ingester) {
		var next atomic.Int64
		now := time.Now()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				bt, err := analytics.DecodeBatch(bodies[next.Add(1)%int64(len(bodies))])
				if err != nil {
					b.Error(err)
					return
				}
				for {
					if _, err := in.Accept(f.ctx, &f.site, bt, analytics.Meta{IP: "192.0.2.1", UserAgent: desktopUA, Now: now}); err == nil {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
		})
		if err := in.Flush(f.ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N*21)/b.Elapsed().Seconds(), "events/s")
	}
	f.site.Settings.EventsPerDay = 1 << 30
	b.Run("hash-only", func(b *testing.B) {
		db, err := analytics.Open(f.ctx, filepath.Join(b.TempDir(), "analytics.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		in := analytics.NewIngester(db, slog.New(slog.NewTextHandler(io.Discard, nil)), analytics.Options{})
		defer in.Close()
		run(b, in)
	})
	b.Run("contacts", func(b *testing.B) {
		run(b, f.s.Ingest)
		if err := f.s.Links.Flush(f.ctx); err != nil {
			b.Fatal(err)
		}
	})
}
