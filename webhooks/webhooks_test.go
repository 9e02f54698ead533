package webhooks

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/store/storetest"
)

// The example of the Standard Webhooks specification.
func TestSignMatchesTheSpecification(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil || got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature %q %v", got, err)
	}
	if _, err := Sign("whsec_not base64!", "id", 1, nil); err == nil {
		t.Fatal("a bad secret is an error")
	}
}

func TestPublicAddresses(t *testing.T) {
	for ip, public := range map[string]bool{"8.8.8.8": true, "2606:4700::1111": true, "127.0.0.1": false, "10.1.2.3": false,
		"192.168.1.1": false, "172.16.0.1": false, "169.254.169.254": false, "100.64.0.1": false, "::1": false, "fd00::1": false,
		"fe80::1": false, "0.0.0.0": false, "224.0.0.1": false, "255.255.255.255": false, "198.18.0.1": false, "192.0.0.8": false,
		// IPv6 forms of private and loopback IPv4 addresses, and of public ones.
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "::ffff:8.8.8.8": true, // IPv4-mapped
		"::127.0.0.1": false, "::10.0.0.1": false, "::8.8.8.8": false, "::": false, // IPv4-compatible (deprecated: never)
		"64:ff9b::7f00:1": false, "64:ff9b::a00:1": false, "64:ff9b::a9fe:a9fe": false, "64:ff9b::808:808": true, // NAT64
		"64:ff9b:1::a00:1": false, "64:ff9b:1::808:808": false, // local-use NAT64
		"2002:7f00:1::1": false, "2002:a00:1::": false, "2002:c0a8:101::1": false, "2002:808:808::1": true, // 6to4
		"2001:0:4136:e378:8000:63bf:3fff:fdd2": false,                                                                      // Teredo
		"2606:4700::5efe:7f00:1":               false, "2606:4700::200:5efe:a00:1": false, "2606:4700::5efe:808:808": true, // ISATAP
		"2001:db8::1": false, "100::1": false, "fec0::1": false, "ff02::1": false, "2001:10::1": false,
		// Documentation, "this network" and other reserved ranges.
		"192.0.2.1": false, "198.51.100.7": false, "203.0.113.9": false, "0.1.2.3": false, "192.88.99.1": false,
		"::ffff:203.0.113.9": false, "3fff::1": false, "192.0.3.1": true, "198.51.101.1": true, "203.0.114.1": true,
	} {
		if got := Public(net.ParseIP(ip)); got != public {
			t.Errorf("%s: public %v", ip, got)
		}
	}
	for _, u := range []string{"ftp://x.test/", "/relative", "https://user:pw@x.test/", "https://", strings.Repeat("x", 10)} {
		if CheckURL(u) == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

// The host's own addresses are refused even where they are public, and a
// target is checked when a webhook is saved: literals, and names by what they
// resolve to.
func TestTargetsAreCheckedWhenSaved(t *testing.T) {
	addrs, err := net.InterfaceAddrs()
	if err != nil || len(addrs) == 0 {
		t.Fatalf("interface addresses: %v", err)
	}
	for _, a := range addrs {
		if ip := a.(*net.IPNet).IP; Reachable(ip) {
			t.Errorf("this host's own %s is reachable", ip)
		}
	}
	ctx := context.Background()
	for _, u := range []string{"https://127.0.0.1/hook", "https://[::1]/hook", "https://192.0.2.10/hook", "http://198.51.100.1:8080/",
		"https://203.0.113.5/", "https://10.0.0.1/", "https://169.254.169.254/latest", "https://localhost/hook", "https://0.0.0.0/"} {
		if err := CheckTarget(ctx, u, false); err == nil {
			t.Errorf("%s accepted", u)
		} else if strings.Contains(err.Error(), "webhooks:") {
			t.Errorf("%s: %q is not a sentence for a person", u, err)
		}
		if err := CheckTarget(ctx, u, true); err != nil {
			t.Errorf("%s with private receivers allowed: %v", u, err)
		}
	}
	for _, u := range []string{"https://8.8.8.8/hook", "https://[2606:4700::1111]/x", "https://receiver.invalid/hook"} {
		if err := CheckTarget(ctx, u, false); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

type receiver struct {
	mu   sync.Mutex
	got  []*http.Request
	body []string
	fail int // answer 500 this many times first
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, req)
	r.body = append(r.body, string(b))
	if r.fail > 0 {
		r.fail--
		w.WriteHeader(500)
		return
	}
	w.WriteHeader(204)
}

func (r *receiver) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.got) }

func fixture(t *testing.T, private bool) (*store.Store, *Dispatcher, store.Tenant) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.Path(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	tn, _ := st.CreateTenant(ctx, store.System, "Acme")
	d := New(Options{Store: st, AllowPrivate: private, Backoff: []time.Duration{20 * time.Millisecond, 20 * time.Millisecond}, Poll: 10 * time.Millisecond})
	t.Cleanup(func() { d.Close(); st.Close() })
	return st, d, tn
}

// notify commits an event to the outbox as the chat engine does (in clear:
// the fixture's dispatcher has no keys) and wakes the dispatcher.
func notify(t *testing.T, st *store.Store, d *Dispatcher, tenant, typ string, data any) {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"type": typ, "timestamp": time.Now().UTC(), "data": data})
	err := st.Write(context.Background(), func(tx *store.Tx) error {
		return tx.AddEvent(store.Event{ID: store.NewID(), TenantID: tenant, Type: typ, Payload: string(payload), CreatedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Kick()
}

func waitDelivery(t *testing.T, st *store.Store, tenant, hook, status string) store.Delivery {
	t.Helper()
	for range 500 {
		ds, _, _ := st.Deliveries(context.Background(), tenant, hook, store.Page{})
		if len(ds) > 0 && ds[0].Status == status {
			return ds[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no delivery reached %s", status)
	return store.Delivery{}
}

func TestDeliveriesAreSignedRetriedAndLogged(t *testing.T) {
	st, d, tn := fixture(t, true)
	rec := &receiver{fail: 1}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	hook, err := st.SaveWebhook(context.Background(), store.System, store.Webhook{TenantID: tn.ID, URL: srv.URL + "/hook", Secret: NewSecret(),
		Events: []string{"conversation.closed"}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	notify(t, st, d, tn.ID, "conversation.created", map[string]string{"id": "c1"}) // not subscribed
	notify(t, st, d, tn.ID, "conversation.closed", map[string]string{"id": "c1"})
	del := waitDelivery(t, st, tn.ID, hook.ID, "succeeded")
	if del.Attempts != 2 || del.Event != "conversation.closed" || rec.count() != 2 {
		t.Fatalf("one failure, then success: %+v, %d requests", del, rec.count())
	}
	req, body := rec.got[1], rec.body[1]
	ts, _ := strconv.ParseInt(req.Header.Get("webhook-timestamp"), 10, 64)
	want, _ := Sign(hook.Secret, req.Header.Get("webhook-id"), ts, []byte(body))
	if req.Header.Get("webhook-id") != del.ID || req.Header.Get("webhook-signature") != want || time.Since(time.Unix(ts, 0)) > time.Minute {
		t.Fatalf("headers %v", req.Header)
	}
	var payload struct {
		Type string
		Data map[string]string
	}
	if json.Unmarshal([]byte(body), &payload); payload.Type != "conversation.closed" || payload.Data["id"] != "c1" {
		t.Fatalf("payload %s", body)
	}
	// Replayed by hand, it is sent again with the same id.
	if err := st.ReplayDelivery(context.Background(), store.System, tn.ID, hook.ID, del.ID); err != nil {
		t.Fatal(err)
	}
	for rec.count() < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	if rec.got[2].Header.Get("webhook-id") != del.ID {
		t.Fatal("a replay keeps the id, so receivers can drop repeats")
	}
}

func TestRetriesRunOutAndPrivateAddressesAreRefused(t *testing.T) {
	st, d, tn := fixture(t, false)
	rec := &receiver{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	hook, _ := st.SaveWebhook(context.Background(), store.System, store.Webhook{TenantID: tn.ID, URL: srv.URL, Secret: NewSecret(),
		Events: []string{"message.created"}, Active: true})
	notify(t, st, d, tn.ID, "message.created", map[string]string{"text": "hi"})
	del := waitDelivery(t, st, tn.ID, hook.ID, "failed")
	if rec.count() != 0 || del.Attempts != 3 || !strings.Contains(del.LastError, "private, loopback") {
		t.Fatalf("a loopback receiver is refused, every attempt: %+v (%d requests)", del, rec.count())
	}
}

// TestOutboxEventsBecomeDeliveriesOnceAndTheQueueIsBounded: every event of
// the outbox becomes one delivery per subscribed webhook and leaves the
// outbox; a webhook whose receiver has not answered for long keeps at most
// store.MaxPending deliveries waiting, the rest recorded failed (and
// replayable) rather than filling the disk.
func TestOutboxEventsBecomeDeliveriesOnceAndTheQueueIsBounded(t *testing.T) {
	st, d, tn := fixture(t, true)
	ctx := context.Background()
	down, err := st.SaveWebhook(ctx, store.System, store.Webhook{TenantID: tn.ID, URL: "http://127.0.0.1:9/down", Secret: NewSecret(),
		Events: []string{"message.created"}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	d.Close() // nothing sent: the deliveries stay pending
	d = New(Options{Store: st, AllowPrivate: true, Poll: time.Hour, Backoff: []time.Duration{time.Hour}})
	defer d.Close()
	const extra = 5
	err = st.Write(ctx, func(tx *store.Tx) error {
		for range store.MaxPending + extra {
			payload := `{"type":"message.created","data":{}}`
			if err := tx.AddEvent(store.Event{ID: store.NewID(), TenantID: tn.ID, Type: "message.created", Payload: payload, CreatedAt: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Flush()
	if left, _ := st.Events(ctx, 10); len(left) != 0 {
		t.Fatalf("%d events left in the outbox after a flush", len(left))
	}
	pending, failed := 0, 0
	for page := (store.Page{Limit: 500}); ; {
		ds, next, err := st.Deliveries(ctx, tn.ID, down.ID, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range ds {
			switch dl.Status {
			case "pending":
				pending++
			case "failed":
				failed++
				if !strings.Contains(dl.LastError, "already waiting") {
					t.Fatalf("a delivery past the bound says %q", dl.LastError)
				}
			}
		}
		if next == "" {
			break
		}
		page.After = next
	}
	if pending != store.MaxPending || failed < extra {
		t.Fatalf("%d pending, %d failed; want %d pending and the %d past the bound failed", pending, failed, store.MaxPending, extra)
	}
}
