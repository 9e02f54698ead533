// Package webhooks delivers a tenant's events to the endpoints it registered,
// signed as Standard Webhooks specifies (webhook-id, webhook-timestamp,
// webhook-signature: v1,base64 HMAC-SHA256 of "id.timestamp.body"), retried
// with backoff, logged per delivery, and never sent to private, loopback or
// link-local addresses unless the operator allows them.
package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/store"
)

// Events a webhook may subscribe to.
var Events = []string{"conversation.created", "conversation.assigned", "conversation.transferred", "conversation.closed",
	"message.created", "offer.accepted"}

// defaultBackoff is the wait before each retry (Standard Webhooks' schedule,
// shortened at the end): after the last, the delivery has failed.
var defaultBackoff = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour}

// ErrAddress is the error of a delivery refused for its destination.
var ErrAddress = errors.New("webhooks: the address is private, loopback or link-local")

// Options configure a dispatcher.
type Options struct {
	Store  *store.Store
	Logger *slog.Logger
	// Ring seals payloads at rest with the tenant's data key (nil: stored in
	// clear, for tests of the dispatcher alone).
	Ring *keys.Ring
	// AllowPrivate lets deliveries reach private and loopback addresses (an
	// on-premises receiver, tests).
	AllowPrivate bool
	Backoff      []time.Duration // nil: Standard Webhooks' schedule, shortened at the end (5 s, 5 min, 30 min, 2 h, 5 h, 10 h)
	Poll         time.Duration   // how often due retries are looked for (0: a second)
	Timeout      time.Duration   // per request (0: 10 s)
}

// Dispatcher turns the events of the outbox (written by the chat engine in
// the transactions of the changes they report) into deliveries, one per
// subscribed webhook, and sends them.
type Dispatcher struct {
	o       Options
	client  *http.Client
	stop    chan struct{}
	wg      sync.WaitGroup
	wake    chan struct{} // events were committed
	kick    chan struct{} // deliveries were added
	moving  sync.Mutex    // one move of the outbox at a time
	closing sync.Once

	hooksMu sync.Mutex
	hooks   map[string]cachedHooks // tenant → its webhooks
}

type cachedHooks struct {
	hooks   []store.Webhook
	expires time.Time
}

// New starts a dispatcher; Close stops it.
func New(o Options) *Dispatcher {
	if o.Backoff == nil {
		o.Backoff = defaultBackoff
	}
	if o.Poll == 0 {
		o.Poll = time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &Dispatcher{o: o, stop: make(chan struct{}), wake: make(chan struct{}, 1), kick: make(chan struct{}, 1),
		hooks: map[string]cachedHooks{}}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		// Called with the resolved address, so a name that resolves to a
		// private address (or changes to one) is refused too.
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		if ip := net.ParseIP(host); ip == nil || (!o.AllowPrivate && !Reachable(ip)) {
			return fmt.Errorf("%w: %s", ErrAddress, host)
		}
		return nil
	}}
	d.client = &http.Client{
		Timeout:   o.Timeout,
		Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute, ResponseHeaderTimeout: o.Timeout},
		// A redirect could lead anywhere: a receiver answers, it does not send us on.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	d.wg.Add(2)
	go d.intake()
	go d.sender()
	return d
}

// notPublic are ranges that route nowhere public, beyond what net.IP's
// predicates know.
var notPublic = func() []*net.IPNet {
	var out []*net.IPNet
	for _, c := range []string{
		"0.0.0.0/8",       // "this network": 0.0.0.0 and its neighbours reach the host itself
		"100.64.0.0/10",   // carrier-grade NAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1, documentation
		"198.51.100.0/24", // TEST-NET-2, documentation
		"203.0.113.0/24",  // TEST-NET-3, documentation
		"192.88.99.0/24",  // deprecated 6to4 relay anycast
		"192.31.196.0/24", // AS112
		"192.52.193.0/24", // AMT
		"192.175.48.0/24", // AS112 direct delegation
		"3fff::/20",       // documentation (2024)
		"5f00::/16",       // segment routing SIDs
		"198.18.0.0/15",   // benchmarking
		"240.0.0.0/4",     // reserved, and the broadcast address
		"64:ff9b:1::/48",  // local-use NAT64: the IPv4 it reaches is the operator's choice
		"100::/64",        // discard-only
		"2001:db8::/32",   // documentation
		"fec0::/10",       // deprecated site-local
		"2001::/32",       // Teredo: a tunnel to an IPv4 address we cannot see
		"2001:10::/28",    // ORCHID
		"2001:20::/28",    // ORCHIDv2
		"::/96",           // IPv4-compatible (and ::, ::1)
	} {
		_, n, _ := net.ParseCIDR(c)
		out = append(out, n)
	}
	return out
}()

// embeddedIPv4 is the IPv4 address an IPv6 address carries, by the
// transition mechanisms that route to it: NAT64's well-known prefix,
// 6to4 and ISATAP (IPv4-mapped addresses are IPv4 to net.IP already).
func embeddedIPv4(ip net.IP) net.IP {
	v6 := ip.To16()
	if v6 == nil || ip.To4() != nil {
		return nil
	}
	switch {
	case v6[0] == 0x00 && v6[1] == 0x64 && v6[2] == 0xff && v6[3] == 0x9b && isZero(v6[4:12]): // 64:ff9b::/96
		return net.IP(v6[12:16])
	case v6[0] == 0x20 && v6[1] == 0x02: // 2002::/16, 6to4
		return net.IP(v6[2:6])
	case (v6[8]|0x02) == 0x02 && v6[9] == 0x00 && v6[10] == 0x5e && v6[11] == 0xfe: // ISATAP interface id
		return net.IP(v6[12:16])
	}
	return nil
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// Public reports whether ip is a public unicast address, including the IPv4
// address that an IPv6 transition address leads to.
func Public(ip net.IP) bool {
	if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() ||
		ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, n := range notPublic {
		if n.Contains(ip) {
			return false
		}
	}
	if v4 := embeddedIPv4(ip); v4 != nil {
		return Public(v4)
	}
	return true
}

// Reachable reports whether a webhook may be delivered to ip: a public
// address that is not one of this host's own (a public address of the
// machine nudge runs on reaches nudge and its neighbours as well as
// 127.0.0.1 does).
func Reachable(ip net.IP) bool {
	return Public(ip) && !own(ip)
}

// own reports whether ip is an address of one of this host's interfaces.
// The interfaces are read each time: deliveries are rare enough, and
// addresses change.
func own(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // unknown: refuse rather than risk the host itself
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// CheckTarget validates an endpoint as CheckURL does, and where it leads
// now: an address literal, or a name that resolves, must be Reachable
// (allowPrivate: any address). A name that does not resolve yet is taken;
// every delivery checks the address it connects to again.
func CheckTarget(ctx context.Context, raw string, allowPrivate bool) error {
	if err := CheckURL(raw); err != nil {
		return err
	}
	if allowPrivate {
		return nil
	}
	u, _ := url.Parse(raw)
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		if !Reachable(ip) {
			return errors.New("the address is private, reserved or this server's own: webhooks go to public receivers")
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil
	}
	for _, a := range ips {
		if !Reachable(a.IP) {
			return fmt.Errorf("%s leads to %s, a private, reserved or this server's own address: webhooks go to public receivers", host, a.IP)
		}
	}
	return nil
}

// Close stops the dispatcher. Events still in the outbox and deliveries
// not yet sent wait in the store for the next start.
func (d *Dispatcher) Close() {
	d.closing.Do(func() { close(d.stop) })
	d.wg.Wait()
	d.client.CloseIdleConnections()
}

// Kick tells the dispatcher that events were committed to the outbox.
func (d *Dispatcher) Kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Subscribed says whether a tenant has an active webhook for an event: the
// chat engine writes only those events to the outbox. Unknown (the store
// failing) counts as yes: the delivery decides then.
func (d *Dispatcher) Subscribed(ctx context.Context, tenant, event string) bool {
	hooks, err := d.tenantHooks(ctx, tenant)
	if err != nil {
		return true
	}
	for _, h := range hooks {
		if h.Active && slices.Contains(h.Events, event) {
			return true
		}
	}
	return false
}

// Flush returns once the events in the outbox when it was called are
// deliveries.
func (d *Dispatcher) Flush() { d.move(context.Background()) }

// Forget drops a tenant's cached webhooks after they changed.
func (d *Dispatcher) Forget(tenant string) {
	d.hooksMu.Lock()
	delete(d.hooks, tenant)
	d.hooksMu.Unlock()
}

func (d *Dispatcher) tenantHooks(ctx context.Context, tenant string) ([]store.Webhook, error) {
	d.hooksMu.Lock()
	c, ok := d.hooks[tenant]
	d.hooksMu.Unlock()
	if ok && time.Now().Before(c.expires) {
		return c.hooks, nil
	}
	hooks, err := d.o.Store.Webhooks(ctx, tenant)
	if err != nil {
		return nil, err
	}
	d.hooksMu.Lock()
	if len(d.hooks) > 10_000 {
		clear(d.hooks)
	}
	d.hooks[tenant] = cachedHooks{hooks, time.Now().Add(10 * time.Second)}
	d.hooksMu.Unlock()
	return hooks, nil
}

// intake moves the outbox's events to deliveries when woken, and every
// poll for what a crash left there.
func (d *Dispatcher) intake() {
	defer d.wg.Done()
	t := time.NewTicker(d.o.Poll)
	defer t.Stop()
	for {
		d.move(context.Background())
		select {
		case <-d.stop:
			return
		case <-d.wake:
		case <-t.C:
		}
	}
}

// move turns the outbox's events into deliveries, one per webhook of the
// tenant that takes the event, each event leaving the outbox in the
// transaction that adds its deliveries: an event becomes its deliveries
// once, whatever crashes when.
func (d *Dispatcher) move(ctx context.Context) {
	d.moving.Lock()
	defer d.moving.Unlock()
	const page = 200
	for {
		evs, err := d.o.Store.Events(ctx, page)
		if err != nil {
			d.o.Logger.Error("webhooks: read the outbox", "err", err)
			return
		}
		if len(evs) == 0 {
			return
		}
		moves := make(map[string][]store.Delivery, len(evs))
		for _, ev := range evs {
			hooks, err := d.tenantHooks(ctx, ev.TenantID)
			if err != nil {
				d.o.Logger.Error("webhooks: load", "tenant", ev.TenantID, "err", err)
				return // the outbox keeps it for the next round
			}
			var payload []byte
			var ds []store.Delivery
			for _, h := range hooks {
				if !h.Active || !slices.Contains(h.Events, ev.Type) {
					continue
				}
				if payload == nil {
					if payload, err = d.openEvent(ctx, ev); err != nil {
						d.o.Logger.Error("webhooks: an event cannot be read; dropped", "event", ev.Type, "id", ev.ID, "err", err)
						break
					}
				}
				dl := store.Delivery{ID: "msg_" + store.NewID(), WebhookID: h.ID, TenantID: ev.TenantID, Event: ev.Type, ConversationID: ev.ConversationID}
				if dl.Payload, err = d.seal(ctx, dl, payload); err != nil {
					d.o.Logger.Error("webhooks: seal", "event", ev.Type, "err", err)
					return
				}
				ds = append(ds, dl)
			}
			moves[ev.ID] = ds
		}
		pending, err := d.o.Store.MoveEvents(ctx, moves)
		if err != nil {
			d.o.Logger.Error("webhooks: queue deliveries", "count", len(evs), "err", err)
			return
		}
		if pending > 0 {
			select {
			case d.kick <- struct{}{}:
			default:
			}
		}
		if len(evs) < page {
			return
		}
	}
}

// openEvent reads an outbox event's payload, sealed by the chat engine.
func (d *Dispatcher) openEvent(ctx context.Context, ev store.Event) ([]byte, error) {
	if d.o.Ring == nil {
		return []byte(ev.Payload), nil
	}
	b, err := base64.StdEncoding.DecodeString(ev.Payload)
	if err != nil {
		return nil, err
	}
	return d.o.Ring.Open(ctx, ev.TenantID, b, store.EventAD(ev.ID))
}

// sender sends due deliveries, a few at a time.
func (d *Dispatcher) sender() {
	defer d.wg.Done()
	t := time.NewTicker(d.o.Poll)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		case <-d.kick:
		}
		due, err := d.o.Store.ClaimDueDeliveries(context.Background(), time.Now(), 2*time.Minute, 100)
		if err != nil {
			d.o.Logger.Error("webhooks: due deliveries", "err", err)
			continue
		}
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for _, dl := range due {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				d.attempt(dl)
			}()
		}
		wg.Wait()
	}
}

// attempt sends one delivery and records the outcome.
func (d *Dispatcher) attempt(dl store.Delivery) {
	ctx := context.Background()
	h, err := d.o.Store.Webhook(ctx, dl.TenantID, dl.WebhookID)
	code, errText := 0, ""
	if err != nil {
		errText = "webhook gone"
	} else if !h.Active {
		errText = "webhook disabled"
	} else {
		code, err = d.post(ctx, h, dl)
		if err != nil {
			errText = err.Error()
		} else if code < 200 || code > 299 {
			errText = "answered " + strconv.Itoa(code)
		}
	}
	if errText == "" {
		d.record(dl.ID, "succeeded", code, "", nil)
		return
	}
	if dl.Attempts < len(d.o.Backoff) && h.Active {
		next := time.Now().Add(d.o.Backoff[dl.Attempts])
		d.record(dl.ID, "pending", code, errText, &next)
		return
	}
	d.record(dl.ID, "failed", code, errText, nil)
}

func (d *Dispatcher) record(id, status string, code int, errText string, next *time.Time) {
	if err := d.o.Store.RecordAttempt(context.Background(), id, status, code, errText, next); err != nil {
		d.o.Logger.Error("webhooks: record attempt", "delivery", id, "err", err)
	}
}

// sealedPrefix marks a stored payload sealed with the tenant's data key; the
// column holds it as a JSON string, base64 after the prefix.
const sealedPrefix = "sealed:"

// seal makes a delivery's payload what is stored: sealed, with the delivery
// id as associated data (a payload cannot be moved to another delivery).
func (d *Dispatcher) seal(ctx context.Context, dl store.Delivery, payload []byte) (json.RawMessage, error) {
	if d.o.Ring == nil {
		return payload, nil
	}
	b, err := d.o.Ring.Seal(ctx, dl.TenantID, payload, []byte("webhook\x00"+dl.ID))
	if err != nil {
		return nil, err
	}
	return json.Marshal(sealedPrefix + base64.StdEncoding.EncodeToString(b))
}

// Payload is a stored delivery's payload, opened (as it is sent, and as the
// delivery log shows it). Payloads stored before sealing are returned as they are.
func (d *Dispatcher) Payload(ctx context.Context, dl store.Delivery) (json.RawMessage, error) {
	var s string
	if json.Unmarshal(dl.Payload, &s) != nil || !strings.HasPrefix(s, sealedPrefix) {
		return dl.Payload, nil
	}
	if d.o.Ring == nil {
		return nil, errors.New("webhooks: a sealed payload and no keys")
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, sealedPrefix))
	if err != nil {
		return nil, fmt.Errorf("webhooks: payload of %s: %w", dl.ID, err)
	}
	plain, err := d.o.Ring.Open(ctx, dl.TenantID, b, []byte("webhook\x00"+dl.ID))
	if err != nil {
		return nil, fmt.Errorf("webhooks: open payload of %s: %w", dl.ID, err)
	}
	return plain, nil
}

func (d *Dispatcher) post(ctx context.Context, h store.Webhook, dl store.Delivery) (int, error) {
	ts := time.Now().Unix()
	payload, err := d.Payload(ctx, dl)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	sig, err := Sign(h.Secret, dl.ID, ts, payload)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "nudge-webhooks/1")
	req.Header.Set("webhook-id", dl.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	res, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the log already
		}
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	return res.StatusCode, nil
}

// NewSecret makes a webhook secret in the Standard Webhooks form.
func NewSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// Sign is the webhook-signature header of a delivery: v1, then the base64
// HMAC-SHA256, keyed by the secret's bytes, of "id.timestamp.body".
func Sign(secret, id string, ts int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "", fmt.Errorf("webhooks: secret: %w", err)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, ts)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// CheckURL validates an endpoint: an absolute http(s) URL without
// credentials. Where it resolves is checked at every delivery.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || len(raw) > 2000 {
		return errors.New("an absolute http or https URL without credentials, at most 2,000 bytes")
	}
	return nil
}
