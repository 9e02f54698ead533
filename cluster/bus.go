package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Bus is this node's connection to the others, over NATS: what one node
// changes that the others keep in memory (a site's page configuration, a
// tenant's chat settings) is announced on it, so that every node forgets
// its copy at once instead of when the copy's time runs out. It reconnects
// by itself, however long NATS is away; what was announced meanwhile is
// lost, which the caches' own short lives bound.
type Bus struct {
	nc   *nats.Conn
	node string
	log  *slog.Logger

	mu    sync.Mutex
	subs  []*nats.Subscription
	pipes map[*Pipe]struct{} // open pipe ends
}

// subject of the announcements of a kind of change.
func invalidationSubject(kind string) string { return "nudge.changed." + kind }

// nodeHeader names the node that published a message.
const nodeHeader = "Nudge-Node"

// Connect connects to the NATS server at url as node. It waits for the
// first connection no longer than timeout.
func Connect(url, node string, timeout time.Duration, log *slog.Logger) (*Bus, error) {
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{node: node, log: log, pipes: map[*Pipe]struct{}{}}
	nc, err := nats.Connect(url, nats.Name("nudge "+node), nats.Timeout(timeout),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond), nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("cluster: the bus is down", "err", err)
			}
			b.shutPipes()
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("cluster: the bus is back") }))
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to %s: %w", url, err)
	}
	b.nc = nc
	return b, nil
}

// Node is this node's id.
func (b *Bus) Node() string { return b.node }

// Announce tells the other nodes that key of a kind changed. A bus that is
// down drops it (the caller has changed the store already: the others'
// copies age out).
func (b *Bus) Announce(kind, key string) {
	m := nats.NewMsg(invalidationSubject(kind))
	m.Header.Set(nodeHeader, b.node)
	m.Data = []byte(key)
	if err := b.nc.PublishMsg(m); err != nil {
		b.log.Debug("cluster: announce a change", "kind", kind, "err", err)
	}
}

// OnChange runs fn with the key of every change of a kind that another
// node announces, one at a time.
func (b *Bus) OnChange(kind string, fn func(key string)) error {
	sub, err := b.nc.Subscribe(invalidationSubject(kind), func(m *nats.Msg) {
		if m.Header.Get(nodeHeader) == b.node {
			return
		}
		fn(string(m.Data))
	})
	if err != nil {
		return fmt.Errorf("cluster: listen to %s changes: %w", kind, err)
	}
	b.mu.Lock()
	b.subs = append(b.subs, sub)
	b.mu.Unlock()
	return nil
}

// Flush waits until the server has what this node published so far.
func (b *Bus) Flush(timeout time.Duration) error { return b.nc.FlushTimeout(timeout) }

// Ready tells whether the bus is connected now.
func (b *Bus) Ready() error {
	if s := b.nc.Status(); s != nats.CONNECTED {
		return fmt.Errorf("cluster: the bus is %s", s)
	}
	return nil
}

// RTT is a round trip to the NATS server (at most a second).
func (b *Bus) RTT() (time.Duration, error) {
	if b.nc.Status() != nats.CONNECTED {
		return 0, errors.New("cluster: the bus is not connected")
	}
	start := time.Now()
	if err := b.nc.FlushTimeout(time.Second); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// Close ends the subscriptions and the connection, after what was
// published is sent.
func (b *Bus) Close() {
	b.mu.Lock()
	for _, s := range b.subs {
		s.Unsubscribe()
	}
	b.subs = nil
	b.mu.Unlock()
	b.nc.FlushTimeout(time.Second)
	b.nc.Close()
}
