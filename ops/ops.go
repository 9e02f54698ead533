// Package ops is nudge without its transport: it opens the parts (the store's
// companions, the chat engine, the search index, webhooks, analytics), runs
// their background work in one supervised group, and carries out the
// operations that span several of them: erasing a visitor, deleting a site,
// retention, reindexing, the demo bootstrap, the page's configuration, pushed
// offers and chat availability. The HTTP handlers, the command line and the
// housekeeping scheduler call the same functions here, so that an operation
// has one order of steps wherever it starts.
package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/contacts"
	"github.com/nudgehq/nudge/email"
	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/search"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/webhooks"
)

// Config is what the parts need: where the data lives, the search index to
// use, and the settings of the domain packages.
type Config struct {
	DataDir          string        // folder of the database files and generated keys
	DatabaseURL      string        // PostgreSQL (postgres://user@host/db) as the system of record; empty: DATA/nudge.db
	DatabasePassword string        // the password of DatabaseURL's user (secret)
	MasterKeyFile    string        // wraps the per-tenant data keys; generated when absent
	SessionTTL       time.Duration // idle time after which a console session ends
	WebhooksPrivate  bool          // webhooks may reach private and loopback addresses
	SearchURL        string        // Elasticsearch for transcript search; empty: the embedded index
	SearchUsername   string        // basic auth for SearchURL
	SearchPassword   string        // basic auth for SearchURL (secret)
	SearchAPIKey     string        // instead of basic auth: an Elasticsearch API key, base64 "id:key" (secret)
	SearchCAFile     string        // PEM file of the CA that signed SearchURL's certificate
	SearchPrefix     string        // names of nudge's indices: PREFIX-messages-YYYY.MM, PREFIX-state
	ConsoleURL       string        // how browsers reach the console: links in notification emails
	NATSURL          string        // the NATS server between the nodes of a cluster; empty: a single node
	// Email tunes the mailer (zero: its defaults); its Store, Logger and
	// Compose are set here.
	Email email.Options
	// Ingest bounds the analytics ingester's queue (zero: its defaults).
	Ingest analytics.Options
}

// AnalyticsPath is the analytics database: its file, or, with a PostgreSQL
// store, the same database (the analytics tables have a schema of their own).
func (c Config) AnalyticsPath() string {
	if c.DatabaseURL != "" {
		return c.DatabasePath()
	}
	return filepath.Join(c.DataDir, "analytics.db")
}

// SearchPath is the embedded search index's file.
func (c Config) SearchPath() string { return filepath.Join(c.DataDir, "search.db") }

// CheckDatabase tells what is wrong with the database settings, if anything.
func (c Config) CheckDatabase() error {
	if c.DatabaseURL == "" {
		if c.DatabasePassword != "" {
			return errors.New("database-password is set without --database-url")
		}
		return nil
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil || !store.IsDatabaseURL(c.DatabaseURL) || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return fmt.Errorf("database-url %q: a postgres:// URL of a PostgreSQL server and database, e.g. postgres://nudge@db.internal:5432/nudge", RedactURL(c.DatabaseURL))
	}
	if _, ok := u.User.Password(); ok {
		return fmt.Errorf("database-url %s: give the password with NUDGE_DATABASE_PASSWORD_FILE, not in the URL", u.Redacted())
	}
	return nil
}

// DatabasePath is the main database: its file, or the PostgreSQL URL with
// the password in it.
func (c Config) DatabasePath() string {
	if c.DatabaseURL == "" {
		return filepath.Join(c.DataDir, "nudge.db")
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil || c.DatabasePassword == "" {
		return c.DatabaseURL
	}
	name := ""
	if u.User != nil {
		name = u.User.Username()
	}
	u.User = url.UserPassword(name, c.DatabasePassword)
	return u.String()
}

// Service is nudge's parts, opened over one store.
type Service struct {
	Store     *store.Store
	Auth      *auth.Service
	Ring      *keys.Ring
	Analytics *analytics.DB
	Ingest    *analytics.Ingester
	Reports   *analytics.Reports
	Chat      *chat.Engine
	Hooks     *webhooks.Dispatcher
	Search    search.Index
	Feed      *search.Feeder
	Contacts  *contacts.Book
	Links     *contacts.Linker // records verified visitors in the background
	Mail      *email.Mailer    // sends the outbox's emails

	cfg Config
	log *slog.Logger

	// What the page-side routes read on every request, cached for seconds.
	sites       *siteCache
	pageConfigs *ttlCache[*PageConfig]
	avail       *ttlCache[map[string]QueueAvailability] // by tenant
	welcome     *ttlCache[chat.WelcomeState]            // by tenant
	pushes      *pushBox
	// Email settings by tenant: a chat's close reads them in its commit.
	mailSettings *ttlCache[email.Settings]
	mailQueued   atomic.Bool // a commit queued an email: kick the mailer after it

	// The supervised group: every background loop runs under ctx, and
	// Close cancels it and waits for them before closing the databases.
	ctx     context.Context
	cancel  context.CancelFunc
	loops   sync.WaitGroup
	started sync.Once
	closed  sync.Once

	cluster *clusterNode // nil on a single node
}

// Open opens the parts over st (which the caller closes after Close). The
// background loops start with Start; a command-line tool that only calls an
// operation does not start them.
func Open(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger) (*Service, error) {
	a, err := auth.New(ctx, st, auth.Options{SessionTTL: cfg.SessionTTL})
	if err != nil {
		return nil, err
	}
	// Fails on a master key that does not open the stored data keys.
	ring, err := keys.OpenRing(ctx, cfg.MasterKeyFile, st)
	if err != nil {
		return nil, err
	}
	st.SetSealer(ring) // sites' identity secrets and webhooks' signing secrets are sealed at rest
	adb, err := analytics.Open(ctx, cfg.AnalyticsPath())
	if err != nil {
		return nil, err
	}
	ix, err := OpenSearch(ctx, cfg, ring, log)
	if err != nil {
		adb.Close()
		return nil, err
	}
	feed := search.NewFeeder(ix, search.FeederOptions{Logger: log})
	hooks := webhooks.New(webhooks.Options{Store: st, Logger: log, Ring: ring, AllowPrivate: cfg.WebhooksPrivate})
	s := &Service{Store: st, Auth: a, Ring: ring, Analytics: adb, Hooks: hooks, Search: ix, Feed: feed, cfg: cfg, log: log}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var hosts func(string) bool
	var fence func(string) (string, int64, bool)
	if cfg.NATSURL != "" {
		if err := s.openCluster(cfg); err != nil {
			hooks.Close()
			feed.Close()
			ix.Close()
			adb.Close()
			return nil, err
		}
		hosts = s.hosts
		fence = func(tenant string) (string, int64, bool) {
			epoch, ok := s.cluster.leaser.Owns(tenant)
			return s.cluster.leaser.Node(), epoch, ok
		}
	}
	s.mailSettings = newTTLCache(10*time.Second, s.loadEmailSettings)
	mail := cfg.Email
	mail.Store, mail.Logger, mail.Compose = st, log, s.compose
	s.Mail = email.New(mail) // sends from Start on
	engine, err := chat.NewEngine(ctx, chat.Options{Store: st, Ring: ring, Logger: log, Subscribed: hooks.Subscribed,
		EventsCommitted: func() {
			hooks.Kick()
			if s.mailQueued.Swap(false) {
				s.Mail.Kick()
			}
		},
		Closed:    s.afterClose,
		Hosts:     hosts,
		Fence:     fence,
		Committed: func(tenant string, m chat.Message) { feedSearch(feed, tenant, m) }})
	if err != nil {
		if s.cluster != nil {
			s.cluster.bus.Close()
		}
		hooks.Close()
		feed.Close()
		ix.Close()
		adb.Close()
		return nil, err
	}
	feed.Start(SearchSource(st, engine.Log(), feed.Touch))
	book := contacts.New(st, ring)
	links := contacts.NewLinker(book, log, 10_000)
	ingest := cfg.Ingest
	ingest.Blind = book.Fingerprint // the id kept as its contact's fingerprint
	ingest.Identified = func(x analytics.Identified) {
		links.See(sighting(x.Tenant, x.Site, x.Visitor, x.ID, x.Email, x.Name, "hash", x.At))
	}
	s.Ingest, s.Reports = analytics.NewIngester(adb, log, ingest), analytics.NewReports(adb)
	s.Chat, s.Contacts, s.Links = engine, book, links
	s.sites = newSiteCache(st)
	s.pageConfigs = newTTLCache(10*time.Second, s.buildPageConfig)
	s.avail = newTTLCache(2*time.Second, s.loadAvailability)
	s.welcome = newTTLCache(2*time.Second, s.welcomeOf)
	s.pushes = newPushBox()
	return s, nil
}

// Go runs fn in the supervised group: its context ends when Close begins,
// and Close waits for it to return before closing the databases.
func (s *Service) Go(fn func(ctx context.Context)) {
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		fn(s.ctx)
	}()
}

// Start runs the background work of a serving process: sending email,
// housekeeping every ten minutes and following role changes made by
// another process.
func (s *Service) Start() {
	s.started.Do(func() {
		s.Mail.Start()
		s.startCluster()
		s.Go(s.housekeeping)
		// In a cluster the nodes announce their role changes on the bus; the
		// poll catches the command line's and what an outage of the bus lost.
		every := 2 * time.Second
		if s.cluster != nil {
			every = 30 * time.Second
		}
		s.Go(func(ctx context.Context) { s.followPolicy(ctx, every) })
	})
}

// Close stops the background loops and waits for them, then commits what
// the chat log, the search feeder, the webhooks and the analytics ingester
// still hold, and closes the analytics database and the index. The caller
// closes the store afterwards.
func (s *Service) Close() error {
	var err error
	s.closed.Do(func() {
		s.closeCluster() // the leases go first: the other nodes take the tenants over
		s.cancel()
		s.loops.Wait()
		s.Chat.Close()
		s.Feed.Close() // after the chat: its last messages are indexed
		s.Hooks.Close()
		s.Mail.Close() // after the chat: its last closes queued their emails
		s.Ingest.Close()
		s.Links.Close() // after the chat and the ingester, which feed it
		err = errors.Join(s.Search.Close(), s.Analytics.Close())
	})
	return err
}

// followPolicy reloads the roles when another process (the command line)
// changed them: a user created beside the running server can log in and
// work within seconds.
func (s *Service) followPolicy(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Auth.Enforcer.Refresh(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("reload roles", "err", err)
			}
		}
	}
}

// housekeeping runs every ten minutes until ctx ends.
func (s *Service) housekeeping(ctx context.Context) {
	// A node of a cluster looks every minute whether housekeeping is its
	// job now; one node does it, every ten minutes.
	every := 10 * time.Minute
	if s.cluster != nil {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last time.Time
	for {
		if s.runsJob(jobHousekeeping) && time.Since(last) >= 10*time.Minute-time.Second {
			last = time.Now()
			s.Housekeep(ctx, last)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Zone is a time zone by name, UTC when unknown.
func Zone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return l
}
