// Command centrifugo-pairs measures one-to-one delivery through a Centrifugo
// server, for the comparison in docs/benchmarks.md (compare.sh builds and
// starts the server): pairs of connections, one publishing into a channel
// only the other is subscribed to, each message carrying the time it was
// sent. It is its own module so that nudge does not depend on Centrifugo's
// client.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/centrifugal/centrifuge-go"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:8000/connection/websocket", "Centrifugo's WebSocket endpoint")
	pairs := flag.Int("pairs", 1000, "publisher/subscriber pairs")
	interval := flag.Duration("interval", 20*time.Second, "between two messages of a pair")
	duration := flag.Duration("duration", 60*time.Second, "how long messages flow")
	flag.Parse()

	var mu sync.Mutex
	hist := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	var received, sent, failed atomic.Int64
	connect := func() *centrifuge.Client {
		c := centrifuge.NewJsonClient(*url, centrifuge.Config{})
		if err := c.Connect(); err != nil {
			log.Fatal(err)
		}
		return c
	}
	pubs := make([]*centrifuge.Client, *pairs)
	for i := range *pairs {
		sub := connect()
		s, err := sub.NewSubscription(fmt.Sprint("pair", i))
		if err != nil {
			log.Fatal(err)
		}
		ready := make(chan struct{})
		s.OnSubscribed(func(centrifuge.SubscribedEvent) { close(ready) })
		s.OnPublication(func(e centrifuge.PublicationEvent) {
			ns, _ := strconv.ParseInt(string(e.Data), 10, 64)
			at := time.Unix(0, ns)
			mu.Lock()
			hist.RecordValue(time.Since(at).Microseconds())
			mu.Unlock()
			received.Add(1)
		})
		if err := s.Subscribe(); err != nil {
			log.Fatal(err)
		}
		<-ready
		pubs[i] = connect()
	}
	log.Printf("%d pairs connected; sending for %s, one message per pair every %s", *pairs, *duration, *interval)
	ctx, stop := context.WithTimeout(context.Background(), *duration)
	defer stop()
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the pairs over the interval, as nudge loadgen chat does.
			first := time.Duration(i) * *interval / time.Duration(len(pubs))
			t := time.NewTimer(first)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				// The send time, a JSON number (the JSON client's data is JSON).
				msg := strconv.AppendInt(nil, time.Now().UnixNano(), 10)
				if _, err := p.Publish(ctx, fmt.Sprint("pair", i), msg); err != nil && ctx.Err() == nil {
					failed.Add(1)
				}
				sent.Add(1)
				t.Reset(*interval)
			}
		}()
	}
	wg.Wait()
	time.Sleep(time.Second) // the last messages in flight
	mu.Lock()
	defer mu.Unlock()
	fmt.Printf("centrifugo: %d sent, %d received, %d failed; pub → sub p50 %s p99 %s max %s\n", sent.Load(), received.Load(), failed.Load(),
		time.Duration(hist.ValueAtQuantile(50))*time.Microsecond, time.Duration(hist.ValueAtQuantile(99))*time.Microsecond,
		time.Duration(hist.Max())*time.Microsecond)
}
