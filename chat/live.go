package chat

import (
	"bytes"
	"context"
	"encoding/json"
)

// liveWatch is a tenant's live board as its supervisors follow it: their
// connections, and the state last sent to them.
type liveWatch struct {
	sinks map[Sink]bool
	last  []byte
}

// WatchLive starts (on) or stops a supervisor's connection following the
// tenant's live state: a "live" event whenever it changed, checked at every
// tick (a second), so that a busy tenant costs one computation a second
// however many supervisors watch. It returns the state now.
func (e *Engine) WatchLive(ctx context.Context, a Agent, s Sink, on bool) (Live, error) {
	if !a.Supervise {
		return Live{}, ErrForbidden
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	live, err := e.liveState(ctx, a.Tenant)
	if err != nil {
		return Live{}, err
	}
	w := e.live[a.Tenant]
	switch {
	case on && w == nil:
		e.live[a.Tenant] = &liveWatch{sinks: map[Sink]bool{s: true}}
	case on:
		w.sinks[s] = true
	case w != nil:
		delete(w.sinks, s)
	}
	return live, nil
}

// pushLive sends each watched tenant's live state to its watchers when it
// differs from what they were last sent.
func (e *Engine) pushLive() {
	type push struct {
		sinks []Sink
		ev    Event
	}
	var pushes []push
	e.mu.Lock()
	for tenant, w := range e.live {
		if len(w.sinks) == 0 {
			delete(e.live, tenant)
			continue
		}
		live, err := e.liveState(context.Background(), tenant)
		if err != nil {
			continue
		}
		b, err := json.Marshal(live)
		if err != nil || bytes.Equal(b, w.last) {
			continue
		}
		w.last = b
		p := push{ev: Event{Type: "live", Data: json.RawMessage(b)}}
		for s := range w.sinks {
			p.sinks = append(p.sinks, s)
		}
		pushes = append(pushes, p)
	}
	e.mu.Unlock()
	for _, p := range pushes {
		for _, s := range p.sinks {
			s.Send(p.ev)
		}
	}
}
