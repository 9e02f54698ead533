package cluster

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nudgehq/nudge/internal/natstest"
)

// A change one node announces reaches the others, not itself; after NATS
// restarts, the nodes reconnect by themselves and announcements flow again.
func TestBusAnnouncesChangesAcrossARestart(t *testing.T) {
	srv, err := natstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := Connect(srv.URL, "a", 5*time.Second, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Connect(srv.URL, "b", 5*time.Second, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	atA, atB := make(chan string, 10), make(chan string, 10)
	if err := a.OnChange("site", func(k string) { atA <- k }); err != nil {
		t.Fatal(err)
	}
	if err := b.OnChange("site", func(k string) { atB <- k }); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(5 * time.Second); err != nil { // b's subscription is at the server
		t.Fatal(err)
	}
	a.Announce("site", "shop")
	if got := <-atB; got != "shop" {
		t.Fatalf("b heard %q", got)
	}
	select {
	case k := <-atA:
		t.Fatalf("a heard its own announcement %q", k)
	default:
	}
	if _, err := a.RTT(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// Announce until b hears one: both must have reconnected (and b
	// subscribed again) first; those sent while either was away are lost.
	deadline := time.Now().Add(60 * time.Second)
	for {
		a.Announce("site", "after")
		select {
		case k := <-atB:
			if k != "after" {
				t.Fatalf("b heard %q", k)
			}
			if a.Ready() != nil || b.Ready() != nil {
				t.Fatalf("ready after the restart: %v %v", a.Ready(), b.Ready())
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no announcement got through after the restart (a: %v, b: %v)", a.Ready(), b.Ready())
		}
	}
}
