package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// A Pipe carries one client socket between the node that holds it (the
// relay) and the node that runs its tenant (the owner): frames both ways,
// in order, and the close. The relay opens it by asking the tenant's
// subject, which only the owner listens to (OpenPipe, ServeTenant); each
// end then publishes to a subject of the other's.

// Frame kinds on a pipe, in the kindHeader.
const (
	FrameText   = "t"
	FrameBinary = "b"
	FrameClose  = "c" // data: the close code, a space, the reason
	FramePing   = "i" // the owner asks; the relay answers FramePong while its client is there
	FramePong   = "o"
)

const kindHeader = "Nudge-Kind"

// seqHeader numbers a pipe end's frames from 1. NATS delivers at most once:
// a frame lost on the way (a server restarted, a slow consumer cut off)
// shows as a gap, and a pipe with a gap closes (1012) so that its client
// connects again and resumes, instead of waiting for an ack that will
// never come.
const seqHeader = "Nudge-Seq"

// ErrNoOwner means no node runs the tenant now (between two owners): the
// client should try again in a moment.
var ErrNoOwner = errors.New("cluster: no node runs the tenant now")

// Frame is one message through a pipe.
type Frame struct {
	Kind string
	Data []byte
}

// Pipe is one end of a relayed socket.
type Pipe struct {
	bus    *Bus
	to     string // the other end's subject
	sub    *nats.Subscription
	in     chan Frame
	closed chan struct{}
	once   sync.Once

	sendMu sync.Mutex // frames leave in the order of their numbers
	sent   uint64
	got    uint64 // only the subscription's goroutine reads and writes it
}

// pipeOpen is what a relay sends to open a pipe.
type pipeOpen struct {
	Relay string          `json:"relay"` // the relay's subject
	Hello json.RawMessage `json:"hello"` // what the socket's session needs, for the owner
}

func tenantSubject(tenant string) string { return "nudge.tenant." + tenant + ".open" }

// pipeBuffer bounds the frames a pipe end holds for a reader that is slow;
// past it the end closes (the client connects again and resumes).
const pipeBuffer = 1024

func (b *Bus) newPipe(to string) (*Pipe, error) {
	p := &Pipe{bus: b, to: to, in: make(chan Frame, pipeBuffer), closed: make(chan struct{})}
	sub, err := b.nc.Subscribe(nats.NewInbox(), p.receive)
	if err != nil {
		return nil, fmt.Errorf("cluster: open a pipe: %w", err)
	}
	sub.SetPendingLimits(-1, -1) // p.in is the bound
	p.sub = sub
	b.mu.Lock()
	b.pipes[p] = struct{}{}
	b.mu.Unlock()
	return p, nil
}

func (p *Pipe) receive(m *nats.Msg) {
	f := Frame{Kind: m.Header.Get(kindHeader), Data: m.Data}
	select {
	case <-p.closed:
		return
	default:
	}
	if seq, err := strconv.ParseUint(m.Header.Get(seqHeader), 10, 64); err != nil || seq != p.got+1 {
		p.deliver(Frame{Kind: FrameClose, Data: []byte(strconv.Itoa(closeRestart) + " frames were lost on the way: reconnect")})
		p.Close(closeRestart, "frames were lost on the way: reconnect")
		return
	}
	p.got++
	if f.Kind == FrameClose {
		p.deliver(f)
		p.shut()
		return
	}
	p.deliver(f)
}

func (p *Pipe) deliver(f Frame) {
	select {
	case p.in <- f:
	default:
		// A reader this far behind: the socket is given up, and the
		// other end told (1013: try again later), as a slow client's
		// socket is.
		p.Close(1013, "too slow: reconnect and resume")
	}
}

// closeRestart is WebSocket's 1012 (service restart): reconnect now.
const closeRestart = 1012

// OpenPipe asks the node that runs tenant for a pipe, handing it hello (the
// socket's session as the relay's upgrade found it). ErrNoOwner: nobody
// runs the tenant now.
func (b *Bus) OpenPipe(ctx context.Context, tenant string, hello []byte) (*Pipe, error) {
	p, err := b.newPipe("")
	if err != nil {
		return nil, err
	}
	req, _ := json.Marshal(pipeOpen{Relay: p.sub.Subject, Hello: hello})
	m, err := b.nc.RequestWithContext(ctx, tenantSubject(tenant), req)
	if err != nil {
		p.shut()
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, ErrNoOwner
		}
		return nil, fmt.Errorf("cluster: open a pipe to %s's node: %w", tenant, err)
	}
	if e := m.Header.Get("Nudge-Error"); e != "" {
		p.shut()
		return nil, fmt.Errorf("cluster: %s", e)
	}
	p.to = string(m.Data)
	return p, nil
}

// ServeTenant takes the pipes relays open to this node for a tenant it runs:
// accept gets each with its hello (an error refuses it). Stop it when the
// tenant goes.
func (b *Bus) ServeTenant(tenant string, accept func(p *Pipe, hello []byte) error) (stop func(), err error) {
	sub, err := b.nc.Subscribe(tenantSubject(tenant), func(m *nats.Msg) {
		var o pipeOpen
		reply := nats.NewMsg(m.Reply)
		if err := json.Unmarshal(m.Data, &o); err != nil || o.Relay == "" {
			reply.Header.Set("Nudge-Error", "a pipe opened without its relay")
			m.RespondMsg(reply)
			return
		}
		p, err := b.newPipe(o.Relay)
		if err == nil {
			err = accept(p, o.Hello)
		}
		if err != nil {
			if p != nil {
				p.shut()
			}
			reply.Header.Set("Nudge-Error", err.Error())
			m.RespondMsg(reply)
			return
		}
		reply.Data = []byte(p.sub.Subject)
		m.RespondMsg(reply)
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: serve %s: %w", tenant, err)
	}
	return func() { sub.Unsubscribe() }, nil
}

// Send sends a frame to the other end. Frames sent after a close are
// dropped.
func (p *Pipe) Send(kind string, data []byte) error {
	select {
	case <-p.closed:
		return ErrPipeClosed
	default:
	}
	m := nats.NewMsg(p.to)
	m.Header.Set(kindHeader, kind)
	m.Data = data
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.sent++
	m.Header.Set(seqHeader, strconv.FormatUint(p.sent, 10))
	return p.bus.nc.PublishMsg(m)
}

// ErrPipeClosed: a frame was sent on a closed pipe.
var ErrPipeClosed = errors.New("cluster: the pipe is closed")

// Frames are the other end's frames, in order; the channel's last one is
// FrameClose when the other end closed.
func (p *Pipe) Frames() <-chan Frame { return p.in }

// Closed is closed once the pipe is: by either end, or because its reader
// fell too far behind.
func (p *Pipe) Closed() <-chan struct{} { return p.closed }

// Close tells the other end the socket ends, with a WebSocket close code
// and reason, and closes this end.
func (p *Pipe) Close(code int, reason string) {
	p.Send(FrameClose, []byte(strconv.Itoa(code)+" "+reason))
	p.shut()
}

func (p *Pipe) shut() {
	p.once.Do(func() {
		close(p.closed)
		p.sub.Unsubscribe()
		p.bus.mu.Lock()
		delete(p.bus.pipes, p)
		p.bus.mu.Unlock()
	})
}

// shutPipes closes every pipe end of this node, without a word to the other
// ends: the bus is down, so frames may have been lost both ways. Each end
// closes when its own node loses the bus, or at its next frame's gap.
func (b *Bus) shutPipes() {
	b.mu.Lock()
	ps := make([]*Pipe, 0, len(b.pipes))
	for p := range b.pipes {
		ps = append(ps, p)
	}
	b.mu.Unlock()
	for _, p := range ps {
		p.shut()
	}
}

// CloseFrame reads a FrameClose's code and reason.
func CloseFrame(data []byte) (int, string) {
	c, reason, _ := strings.Cut(string(data), " ")
	code, err := strconv.Atoi(c)
	if err != nil {
		return 1011, ""
	}
	return code, reason
}

// callTimeout bounds a call whose context has no deadline of its own.
const callTimeout = 5 * time.Second

func callSubject(tenant string) string { return "nudge.tenant." + tenant + ".call" }

// errorHeader carries a call's error: its kind (a name both ends know) and
// its message.
const errorHeader = "Nudge-Error"

// CallError is an error a call came back with from the tenant's node.
type CallError struct {
	Kind    string // what the answering node named it (ServeCalls' kind)
	Message string
}

func (e *CallError) Error() string { return e.Message }

// Call runs op with args on the node that runs tenant and returns its
// answer. ErrNoOwner: nobody runs the tenant now.
func (b *Bus) Call(ctx context.Context, tenant, op string, args []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		// An owner that dies mid-call never answers: the caller hears
		// ErrNoOwner after a while instead of waiting for ever.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, callTimeout)
		defer cancel()
	}
	m := nats.NewMsg(callSubject(tenant))
	m.Header.Set(kindHeader, op)
	m.Data = args
	r, err := b.nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) {
			return nil, ErrNoOwner
		}
		return nil, fmt.Errorf("cluster: call %s on %s's node: %w", op, tenant, err)
	}
	if e := r.Header.Get(errorHeader); e != "" {
		kind, msg, _ := strings.Cut(e, " ")
		return nil, &CallError{Kind: kind, Message: msg}
	}
	return r.Data, nil
}

// ServeCalls answers the calls other nodes make for a tenant this node
// runs: fn's error goes back with the kind kind names it by. Stop it when
// the tenant goes.
func (b *Bus) ServeCalls(tenant string, fn func(op string, args []byte) ([]byte, error), kind func(error) string) (stop func(), err error) {
	sub, err := b.nc.Subscribe(callSubject(tenant), func(m *nats.Msg) {
		// Each call on its own goroutine: a slow one must not hold the others.
		go func() {
			out, err := fn(m.Header.Get(kindHeader), m.Data)
			r := nats.NewMsg(m.Reply)
			if err != nil {
				r.Header.Set(errorHeader, kind(err)+" "+err.Error())
			} else {
				r.Data = out
			}
			m.RespondMsg(r)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: serve %s's calls: %w", tenant, err)
	}
	return func() { sub.Unsubscribe() }, nil
}
