package email

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nudgehq/nudge/store"
)

// defaultBackoff is the wait before each retry; after the last, the email
// has failed (it can be sent again from the delivery log).
var defaultBackoff = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour}

// ErrNotSetUp is the failure of an email whose tenant has no email settings,
// or turned sending off.
var ErrNotSetUp = errors.New("email is not set up, or is turned off, for this account")

// Options configure a Mailer.
type Options struct {
	Store  *store.Store
	Logger *slog.Logger
	// Compose writes an email the outbox holds without its message yet
	// (the caller knows transcripts and queues). An error fails the email
	// for good: what it is about is gone.
	Compose func(ctx context.Context, m store.Mail, s Settings) (Message, error)
	Backoff []time.Duration // nil: 1 min, 5 min, 30 min, 2 h, 6 h
	Poll    time.Duration   // how often due retries are looked for (0: 5 s)
	// Claim is how long an attempt holds an email: one not finished by
	// then (the process died) is attempted again (0: two minutes).
	Claim   time.Duration
	RootCAs *x509.CertPool // nil: the system's
	Timeout time.Duration  // per connection (0: 30 s)
	Workers int            // emails sent at once (0: 4)
}

// Mailer sends the outbox's emails: due ones, at most Workers at a time,
// each claimed in the store before it is sent and recorded after.
type Mailer struct {
	o       Options
	stop    chan struct{}
	kick    chan struct{}
	wg      sync.WaitGroup
	closing sync.Once
	started sync.Once
	sending sync.Mutex   // one round at a time
	claims  atomic.Int64 // emails claimed so far: a round that claims none stops
}

// New makes a mailer; Start starts sending, Close stops it.
func New(o Options) *Mailer {
	if o.Backoff == nil {
		o.Backoff = defaultBackoff
	}
	if o.Poll == 0 {
		o.Poll = 5 * time.Second
	}
	if o.Claim == 0 {
		o.Claim = 2 * time.Minute
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Mailer{o: o, stop: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// Start sends the outbox's emails in the background until Close.
func (m *Mailer) Start() {
	m.started.Do(func() {
		m.wg.Add(1)
		go m.loop()
	})
}

// Kick tells the mailer that emails were queued.
func (m *Mailer) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Close stops the mailer once the emails being sent are recorded. What is
// still queued waits in the store for the next start.
func (m *Mailer) Close() {
	m.closing.Do(func() { close(m.stop) })
	m.wg.Wait()
}

func (m *Mailer) loop() {
	defer m.wg.Done()
	t := time.NewTicker(m.o.Poll)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-m.stop; cancel() }()
	for {
		m.round(ctx)
		select {
		case <-m.stop:
			return
		case <-m.kick:
		case <-t.C:
		}
	}
}

// round sends what is due, page by page.
func (m *Mailer) round(ctx context.Context) {
	m.sending.Lock()
	defer m.sending.Unlock()
	for ctx.Err() == nil {
		due, err := m.o.Store.DueMail(ctx, time.Now(), 50)
		if err != nil {
			if ctx.Err() == nil {
				m.o.Logger.Error("email: read the outbox", "err", err)
			}
			return
		}
		if len(due) == 0 {
			return
		}
		// Each tenant's settings once a page; a tenant whose settings cannot
		// be read now leaves its emails to attempt (and log) themselves.
		settings := map[string]*Settings{}
		for _, ml := range due {
			if _, ok := settings[ml.TenantID]; !ok {
				settings[ml.TenantID] = nil
				if s, err := m.settings(ctx, ml.TenantID); err == nil {
					settings[ml.TenantID] = &s
				}
			}
		}
		before := m.claims.Load()
		sem := make(chan struct{}, m.o.Workers)
		var wg sync.WaitGroup
		for _, ml := range due {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				m.attempt(ctx, ml, settings[ml.TenantID], false)
			}()
		}
		wg.Wait()
		// A full page again, unless nothing in this one could be claimed (the
		// store failing): the next poll tries again rather than spinning.
		if len(due) < 50 || m.claims.Load() == before {
			return
		}
	}
}

// SendNow attempts one email at once with the given settings (enabled or
// not), as the outbox would but without retries, and returns the
// attempt's error: the "send test mail" button wants the answer now. Queue
// it due later than the claim, so that the outbox does not take it too.
func (m *Mailer) SendNow(ctx context.Context, ml store.Mail, s Settings) error {
	return m.attempt(ctx, ml, &s, true)
}

// attempt claims, composes (the first time), sends and records one email.
// Settings nil: the tenant's, if sending is on.
func (m *Mailer) attempt(ctx context.Context, ml store.Mail, settings *Settings, once bool) error {
	log := m.o.Logger.With("tenant", ml.TenantID, "mail", ml.ID, "kind", ml.Kind)
	// fail records a failed attempt (the ml.Attempts+1th): pending again
	// after its backoff, or failed for good.
	fail := func(err error, permanent bool) error {
		status, next := store.MailFailed, (*time.Time)(nil)
		if n := ml.Attempts + 1; !permanent && !once && n <= len(m.o.Backoff) {
			at := time.Now().Add(m.o.Backoff[n-1])
			status, next = store.MailPending, &at
		}
		log.Warn("email not sent", "err", err.Error(), "status", status)
		if rerr := m.o.Store.MailOutcome(context.WithoutCancel(ctx), ml.ID, status, err.Error(), next); rerr != nil {
			log.Error("email: record a failure", "err", rerr)
		}
		return err
	}
	claim := func() (bool, error) {
		ok, err := m.o.Store.ClaimMail(ctx, ml, m.o.Claim, once)
		if ok {
			m.claims.Add(1)
		}
		return ok, err
	}
	if settings == nil {
		s, err := m.settings(ctx, ml.TenantID)
		if errors.Is(err, ErrNotSetUp) {
			if ok, cerr := claim(); cerr != nil || !ok {
				return err
			}
			return fail(err, true)
		}
		if err != nil {
			log.Error("email: load the settings", "err", err)
			return err
		}
		settings = &s
	}
	if ml.Message == nil {
		msg, err := m.o.Compose(ctx, ml, *settings)
		if err != nil {
			if ok, cerr := claim(); cerr != nil || !ok {
				return err
			}
			return fail(fmt.Errorf("the email could not be written: %w", err), true)
		}
		if msg.MessageID == "" {
			msg.MessageID = ml.ID + "@" + domain(settings.From)
		}
		if ml.Message, err = json.Marshal(msg); err != nil {
			return err
		}
	}
	if ok, err := claim(); err != nil || !ok {
		if err == nil {
			err = errors.New("the email is being sent already")
		}
		return err
	}
	var msg Message
	if err := json.Unmarshal(ml.Message, &msg); err != nil {
		return fail(fmt.Errorf("the stored message cannot be read: %w", err), true)
	}
	if err := Send(ctx, *settings, msg, SendOptions{RootCAs: m.o.RootCAs, Timeout: m.o.Timeout}); err != nil {
		var e *Error
		return fail(err, errors.As(err, &e) && e.Permanent)
	}
	if err := m.o.Store.MailOutcome(context.WithoutCancel(ctx), ml.ID, store.MailSent, "", nil); err != nil {
		log.Error("email: record a sent email", "err", err)
	}
	return nil
}

func (m *Mailer) settings(ctx context.Context, tenant string) (Settings, error) {
	doc, err := m.o.Store.EmailSettings(ctx, tenant)
	if errors.Is(err, store.ErrNotFound) {
		return Settings{}, ErrNotSetUp
	}
	if err != nil {
		return Settings{}, err
	}
	s, err := Decode(doc)
	if err != nil {
		return Settings{}, err
	}
	if !s.Enabled {
		return Settings{}, ErrNotSetUp
	}
	return s, nil
}

func domain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "nudge.invalid"
}
