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
