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
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return Live{}, err
	}
	defer e.unlock(t)
	live := e.liveState(ctx, t)
	w := t.live
	switch {
	case on && w == nil:
		t.live = &liveWatch{sinks: map[Sink]bool{s: true}}
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
	for _, t := range e.all() {
		t.mu.Lock()
		w := t.live
		if w != nil && len(w.sinks) == 0 {
			t.live = nil
		}
		if w == nil || len(w.sinks) == 0 {
			e.unlock(t)
			continue
		}
		b, err := json.Marshal(e.liveState(context.Background(), t))
		if err != nil || bytes.Equal(b, w.last) {
			e.unlock(t)
			continue
		}
		w.last = b
		p := push{ev: Event{Type: "live", Data: json.RawMessage(b)}}
		for s := range w.sinks {
			p.sinks = append(p.sinks, s)
		}
		e.unlock(t)
		pushes = append(pushes, p)
	}
	for _, p := range pushes {
		for _, s := range p.sinks {
			s.Send(p.ev)
		}
	}
}
