package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/internal/natstest"
)

func buses(t *testing.T) (*Bus, *Bus) {
	t.Helper()
	srv := natstest.Shared(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var out [2]*Bus
	for i, name := range []string{"relay", "owner"} {
		b, err := Connect(srv.URL, name, 5*time.Second, quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		out[i] = b
	}
	return out[0], out[1]
}

// A relay opens a pipe to the node that runs a tenant: frames go both ways
// in order, either end's close reaches the other with its code, and a
// tenant nobody runs is refused as such.
func TestPipesCarryFramesInOrder(t *testing.T) {
	relay, owner := buses(t)
	ctx := context.Background()
	if _, err := relay.OpenPipe(ctx, "nobody", nil); !errors.Is(err, ErrNoOwner) {
		t.Fatalf("a tenant nobody runs: %v", err)
	}
	closes := make(chan int, 4)
	stop, err := owner.ServeTenant("t1", func(p *Pipe, hello []byte) error {
		if string(hello) != `{"who":"ann"}` {
			return fmt.Errorf("hello %s", hello)
		}
		go func() {
			for f := range p.Frames() {
				switch f.Kind {
				case FrameText:
					if string(f.Data) == "leave" {
						p.Close(1012, "the chat moved")
						return
					}
					p.Send(FrameText, []byte(strings.ToUpper(string(f.Data))))
				case FrameClose:
					code, _ := CloseFrame(f.Data)
					closes <- code
					return
				}
			}
		}()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	p, err := relay.OpenPipe(ctx, "t1", []byte(`{"who":"ann"}`))
	if err != nil {
		t.Fatal(err)
	}
	// 2,000 frames, 200 at a time (a pipe end gives up on a reader more
	// than a thousand frames behind, which a loaded machine may make the
	// test's echo).
	for i := 0; i < 2000; i += 200 {
		for j := i; j < i+200; j++ {
			if err := p.Send(FrameText, fmt.Appendf(nil, "m%d", j)); err != nil {
				t.Fatal(err)
			}
		}
		for j := i; j < i+200; j++ {
			var f Frame
			select {
			case f = <-p.Frames():
			case <-p.Closed():
				t.Fatalf("the pipe closed at frame %d", j)
			}
			if want := fmt.Sprintf("M%d", j); f.Kind != FrameText || string(f.Data) != want {
				t.Fatalf("frame %d: %s %q; want %q", j, f.Kind, f.Data, want)
			}
		}
	}
	p.Close(1000, "bye")
	if code := <-closes; code != 1000 {
		t.Fatalf("the owner saw close %d", code)
	}
	// The owner ends a socket: the relay hears the code.
	q, err := relay.OpenPipe(ctx, "t1", []byte(`{"who":"ann"}`))
	if err != nil {
		t.Fatal(err)
	}
	q.Send(FrameText, []byte("leave"))
	f := <-q.Frames()
	if code, reason := CloseFrame(f.Data); f.Kind != FrameClose || code != 1012 || reason != "the chat moved" {
		t.Fatalf("the relay got %s %q", f.Kind, f.Data)
	}
	<-q.Closed()
	// A hello the owner refuses is an error at the relay.
	if _, err := relay.OpenPipe(ctx, "t1", []byte(`{"who":"eve"}`)); err == nil || !strings.Contains(err.Error(), "hello") {
		t.Fatalf("a refused hello: %v", err)
	}
	stop()
	owner.Flush(5 * time.Second)
	if _, err := relay.OpenPipe(ctx, "t1", nil); !errors.Is(err, ErrNoOwner) {
		t.Fatalf("after the owner stopped serving: %v", err)
	}
}

// NATS delivers at most once. A frame lost on the way closes the pipe at
// both ends with 1012 (the client resumes) rather than leave a gap; and a
// node that loses the bus closes its pipes at once, as do the others.
func TestPipesCloseWhenFramesMayBeLost(t *testing.T) {
	srv, err := natstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var relay, owner *Bus
	for _, b := range []**Bus{&relay, &owner} {
		if *b, err = Connect(srv.URL, "n", 5*time.Second, quiet); err != nil {
			t.Fatal(err)
		}
		defer (*b).Close()
	}
	ends := make(chan *Pipe, 4)
	stop, err := owner.ServeTenant("t1", func(p *Pipe, _ []byte) error { ends <- p; return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	owner.Flush(5 * time.Second)
	open := func() (*Pipe, *Pipe) {
		r, err := relay.OpenPipe(context.Background(), "t1", nil)
		if err != nil {
			t.Fatal(err)
		}
		return r, <-ends
	}

	r, o := open()
	o.Send(FrameText, []byte("one"))
	if f := <-r.Frames(); string(f.Data) != "one" {
		t.Fatalf("got %q", f.Data)
	}
	o.sendMu.Lock()
	o.sent++ // as if the next frame had been lost
	o.sendMu.Unlock()
	o.Send(FrameText, []byte("three"))
	f := <-r.Frames()
	if code, _ := CloseFrame(f.Data); f.Kind != FrameClose || code != 1012 {
		t.Fatalf("after a gap the relay got %s %q; want a 1012 close", f.Kind, f.Data)
	}
	<-r.Closed()
	<-o.Closed() // told by the relay

	r, o = open()
	srv.Down()
	for _, p := range []*Pipe{r, o} {
		select {
		case <-p.Closed():
		case <-time.After(time.Minute):
			t.Fatal("a pipe stayed open after its bus went down")
		}
	}
	if err := r.Send(FrameText, []byte("late")); !errors.Is(err, ErrPipeClosed) {
		t.Fatalf("a send on a pipe closed by the bus's loss: %v", err)
	}
	for _, b := range []*Bus{relay, owner} {
		b.mu.Lock()
		n := len(b.pipes)
		b.mu.Unlock()
		if n != 0 {
			t.Fatalf("%d pipe ends still counted", n)
		}
	}
}

// A call runs on the node that serves the tenant's calls and comes back
// with its answer or its error's kind; nobody serving, or an owner that
// never answers, is ErrNoOwner.
func TestCallsReachTheTenantsNode(t *testing.T) {
	caller, owner := buses(t)
	ctx := context.Background()
	if _, err := caller.Call(ctx, "t2", "echo", nil); !errors.Is(err, ErrNoOwner) {
		t.Fatalf("nobody serving: %v", err)
	}
	hang := make(chan struct{})
	defer close(hang)
	stop, err := owner.ServeCalls("t2", func(op string, args []byte) ([]byte, error) {
		switch op {
		case "echo":
			return args, nil
		case "hang":
			<-hang
		}
		return nil, errors.New("no such call")
	}, func(error) string { return "state" })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	owner.Flush(5 * time.Second)
	if out, err := caller.Call(ctx, "t2", "echo", []byte("hi")); err != nil || string(out) != "hi" {
		t.Fatalf("echo: %q %v", out, err)
	}
	var ce *CallError
	if _, err := caller.Call(ctx, "t2", "nope", nil); !errors.As(err, &ce) || ce.Kind != "state" || ce.Message != "no such call" {
		t.Fatalf("an error: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := caller.Call(short, "t2", "hang", nil); !errors.Is(err, ErrNoOwner) {
		t.Fatalf("an owner that never answers: %v", err)
	}
}
