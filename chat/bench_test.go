package chat

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nudgehq/nudge/store"
)

// BenchmarkLogAppendOne: one sender waiting for each commit, with serve's
// synchronous(NORMAL): a message's way through the log when the chat is not
// busy (its part of a message's delivery latency), back to back.
func BenchmarkLogAppendOne(b *testing.B) { benchmarkAppendOne(b, 0) }

// BenchmarkLogAppendIdle: the same with the process idle for a millisecond
// before each message (the timer stopped), as a server carrying a message
// every millisecond or two is: the core's caches and clock are cold.
func BenchmarkLogAppendIdle(b *testing.B) { benchmarkAppendOne(b, time.Millisecond) }

func benchmarkAppendOne(b *testing.B, idle time.Duration) {
	f := newFixtureWith(b, 1000, store.Options{Sync: store.SyncNormal})
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if idle > 0 {
			b.StopTimer()
			time.Sleep(idle)
			b.StartTimer()
		}
		c := f.conv[i%len(f.conv)]
		if _, err := f.log.Append(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), Text: "a message of about the usual length, asking about an order"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogAppend: senders over many conversations, each waiting for its
// commit (as chat senders do), so commits group a few messages each.
func BenchmarkLogAppend(b *testing.B) {
	f := newFixture(b, 1000)
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				c := f.conv[i%int64(len(f.conv))]
				if _, err := f.log.Append(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), Text: "a message of about the usual length, asking about an order"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
