// Package server is nudge's HTTP side: the fiber app with its routes and
// middleware, the REST handlers, health and metrics, and static serving of the
// console and the demo shop. Handlers parse, authorize, call a domain package
// and render; the domain packages know nothing of fiber.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/cluster"
	"github.com/nudgehq/nudge/contacts"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/search"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/webhooks"
	"github.com/nudgehq/nudge/widget"
)

// Server is the running application.
type Server struct {
	ops     *ops.Service
	avatars avatarAPI
	origin  consoleOrigin
	socks   *socketAPI
	health  healthCheck
	cfg     Config
	st      *store.Store
	auth    *auth.Service
	log     *slog.Logger
	app     *fiber.App
	metrics *metrics

	analytics   *analytics.DB
	ingest      *analytics.Ingester
	reports     *analytics.Reports
	bundle      *widget.Bundle
	collectIP   *keyedLimiter
	decoding    chan struct{} // /collect batches being decoded and enriched
	collectSite *keyedLimiter
	wsIP        *keyedLimiter
	chat        *chat.Engine
	hooks       *webhooks.Dispatcher
	search      search.Index
	feed        *search.Feeder
	sockets     *sockets
	// ctx is the server's life: sockets' commands run under contexts made
	// from it, and stop when the server does.
	ctx  context.Context
	stop context.CancelFunc
	// loops are the server's own background goroutines (the pinger), waited
	// for by Serve.
	loops sync.WaitGroup
	// sessionCheck is how often an agent socket's console session is
	// checked again (tests make it 0).
	sessionCheck time.Duration
	uploading    atomic.Int64 // bytes of files being received
	proxies      trustedProxies
	gate         siteGate
	bundles      pageBundles
}

type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	sockets   *prometheus.GaugeVec
	delivered prometheus.Histogram
	refused   atomic.Int64 // connections refused for want of file descriptors
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nudge_http_requests_total", Help: "HTTP requests by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "nudge_http_request_duration_seconds", Help: "HTTP request latency by method and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route"}),
		delivered: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nudge_chat_delivery_seconds", Help: "Time from a chat message's commit to its frame written to a socket.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1},
		}),
		sockets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nudge_chat_sockets", Help: "Open chat WebSockets by side (visitor, agent).",
		}, []string{"side"}),
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nudge_connections_refused_total",
		Help: "Connections refused because the process ran out of file descriptors."}, func() float64 { return float64(m.refused.Load()) }))
	m.reg.MustRegister(m.requests, m.duration, m.sockets, m.delivered, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) analytics(st *analytics.Stats, queued, queuedBytes func() int64) {
	counter := func(name, help string, v interface{ Load() int64 }) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	m.reg.MustRegister(
		counter("nudge_analytics_events_accepted_total", "Events accepted by /collect.", &st.Accepted),
		counter("nudge_analytics_events_persisted_total", "Events committed to the analytics database.", &st.Persisted),
		counter("nudge_analytics_events_bots_total", "Events dropped as coming from bots.", &st.Bots),
		counter("nudge_analytics_identities_unverified_total", "identify calls whose hash did not verify.", &st.Unverified),
		counter("nudge_analytics_events_refused_full_total", "Events refused because the queue was full (503).", &st.Full),
		counter("nudge_analytics_events_failed_total", "Events lost to a failed commit.", &st.Failed),
		counter("nudge_analytics_events_over_budget_total", "Events dropped past their site's daily budget (settings.events_per_day).", &st.OverBudget),
		counter("nudge_analytics_events_too_large_total", "Events dropped as larger than their site's limit (settings.max_event_bytes).", &st.TooLarge),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nudge_analytics_events_queued", Help: "Events accepted and not yet committed."},
			func() float64 { return float64(queued()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nudge_analytics_queued_bytes", Help: "Rough size in memory of the events not yet committed (bounded at 32 MiB)."},
			func() float64 { return float64(queuedBytes()) }),
	)
}

// cluster registers a node's figures in a cluster: what it runs, its lease
// changes, the live nodes, whether its bus and leases are up, and the bus's
// round trip (measured at each scrape, at most a second).
func (m *metrics) cluster(o *ops.Service) {
	if _, ok := o.Cluster(); !ok {
		return
	}
	st := func() ops.ClusterStatus { cl, _ := o.Cluster(); return cl }
	up := func(err error) float64 {
		if err != nil {
			return 0
		}
		return 1
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nudge_cluster_running", Help: "Tenants (and cluster jobs) this node runs under a lease."},
			func() float64 { return float64(st().Owned) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nudge_cluster_lease_changes_total", Help: "Leases this node took, gave up or lost."},
			func() float64 { return float64(st().Changes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nudge_cluster_nodes", Help: "Live nodes at this node's last lease round."},
			func() float64 { return float64(st().Nodes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nudge_cluster_bus_up", Help: "1 while this node is connected to the bus (NATS)."},
			func() float64 { return up(st().Bus) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nudge_cluster_leases_up", Help: "1 while this node renews its leases."},
			func() float64 { return up(st().Lease) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nudge_cluster_housekeeping", Help: "1 while this node does the cluster's housekeeping."},
			func() float64 {
				if st().Housekeeping {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nudge_cluster_bus_rtt_seconds", Help: "A round trip to the NATS server, measured at the scrape (-1: down)."},
			func() float64 {
				d, err := o.Bus().RTT()
				if err != nil {
					return -1
				}
				return d.Seconds()
			}),
	)
}

func (m *metrics) contacts(l *contacts.Linker) {
	counter := func(name, help string, v interface{ Load() int64 }) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	m.reg.MustRegister(
		counter("nudge_contacts_sightings_dropped_total", "Verified visitors not linked to their contact because the linker's queue was full (the next page brings them again).", &l.Dropped),
		counter("nudge_contacts_sightings_failed_total", "Verified visitors the store refused to link (logged).", &l.Failed),
	)
}

func (m *metrics) chat(st *chat.LogStats) {
	counter := func(name, help string, v interface{ Load() int64 }, scale float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) * scale })
	}
	m.reg.MustRegister(
		counter("nudge_chat_commits_total", "Group commits of the chat log.", &st.Commits, 1),
		counter("nudge_chat_messages_total", "Chat messages stored.", &st.Messages, 1),
		counter("nudge_chat_commit_seconds_total", "Time spent in chat commits.", &st.CommitNanos, 1e-9),
		counter("nudge_chat_queue_wait_seconds_total", "Time messages waited for their commit to begin.", &st.WaitNanos, 1e-9),
		counter("nudge_chat_failed_total", "Messages and changes refused by a failed commit.", &st.Failed, 1),
	)
}

func (m *metrics) search(f *search.Feeder) {
	stat := func(v func(search.FeederStats) float64) func() float64 {
		return func() float64 { return v(f.Stats()) }
	}
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nudge_search_indexed_total", Help: "Messages indexed for search."},
			stat(func(s search.FeederStats) float64 { return float64(s.Indexed) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nudge_search_dropped_total", Help: "Messages dropped by a full search queue (read back from the store later)."},
			stat(func(s search.FeederStats) float64 { return float64(s.Dropped) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nudge_search_queued", Help: "Messages waiting to be indexed."},
			stat(func(s search.FeederStats) float64 { return float64(s.Queued) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nudge_search_lag_seconds", Help: "How long the oldest message not yet indexed has waited (0: the index is up to date)."},
			stat(func(s search.FeederStats) float64 { return s.Lag.Seconds() })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nudge_search_failing", Help: "1 while the search index refuses writes."},
			stat(func(s search.FeederStats) float64 {
				if s.Failing {
					return 1
				}
				return 0
			})),
	)
}

// New builds the server over an open store; it opens the analytics database
// beside it and builds the page-side bundles. cfg must have passed Validate.
// Close releases what New opened.
func New(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger) (*Server, error) {
	bundle, err := widget.Embedded()
	if err != nil {
		return nil, err
	}
	oc := cfg.Config
	oc.ConsoleURL = cfg.PublicURL
	o, err := ops.Open(ctx, oc, st, log)
	if err != nil {
		return nil, err
	}
	a, adb, engine, hooks, ix, feed := o.Auth, o.Analytics, o.Chat, o.Hooks, o.Search, o.Feed
	s := &Server{ops: o, cfg: cfg, st: st, auth: a, log: log, metrics: newMetrics(),
		analytics: adb, ingest: o.Ingest, reports: o.Reports,
		bundle:       bundle,
		collectIP:    newKeyedLimiter(cfg.CollectIPRate, int(cfg.CollectIPRate*5)),
		decoding:     make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
		collectSite:  newKeyedLimiter(cfg.CollectSiteRate, int(cfg.CollectSiteRate*5)),
		wsIP:         newKeyedLimiter(cfg.ChatIPRate, int(cfg.ChatIPRate*10)),
		sockets:      newSockets(),
		sessionCheck: 30 * time.Second,
		chat:         engine,
		hooks:        hooks,
		search:       ix,
		feed:         feed,
	}
	s.avatars = avatarAPI{st: st, publicURL: cfg.PublicURL}
	s.origin = consoleOrigin{publicURL: cfg.PublicURL, secure: secureCookies(cfg)}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.metrics.analytics(&s.ingest.Stats, s.ingest.Queued, s.ingest.QueuedBytes)
	s.metrics.chat(&engine.Log().Stats)
	s.metrics.contacts(s.ops.Links)
	s.metrics.search(feed)
	s.metrics.cluster(s.ops)
	s.bundles = pageBundles{embedded: bundle}
	if cfg.DevWidget != "" {
		s.bundles.dev = &devBundle{dir: cfg.DevWidget, log: log}
	}
	s.gate = siteGate{ops: o, publicURL: cfg.PublicURL}
	fc := fiber.Config{
		AppName:               "nudge",
		BodyLimit:             cfg.BodyLimit,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		// Frees the request's read buffer once read: a WebSocket keeps its
		// connection for hours and would otherwise hold 4 KiB it never uses.
		ReduceMemoryUsage: true,
	}
	if len(cfg.TrustedProxies) > 0 {
		// c.IsProxyTrusted knows the proxies; the client's address is
		// clientIP's, not fiber's leftmost X-Forwarded-For entry.
		fc.EnableTrustedProxyCheck = true
		fc.TrustedProxies = cfg.TrustedProxies
		for _, p := range cfg.TrustedProxies {
			if !strings.Contains(p, "/") {
				if strings.Contains(p, ":") {
					p += "/128"
				} else {
					p += "/32"
				}
			}
			if _, n, err := net.ParseCIDR(p); err == nil {
				s.proxies = append(s.proxies, n)
			}
		}
	}
	s.socks = &socketAPI{st: st, chat: engine, ops: o, auth: a, log: log, metrics: s.metrics, sockets: s.sockets, ctx: s.ctx,
		sessionCheck: s.sessionCheck, wsIP: s.wsIP, proxies: s.proxies, gate: s.gate, uploading: &s.uploading, avatars: s.avatars,
		relays: relays{out: map[string]map[*cluster.Pipe]bool{}, serving: map[string]func(){}}}
	o.OnTenant(s.socks.tenantChanged)
	s.app = fiber.New(fc)
	s.routes()
	return s, nil
}

// pageBundle is the page side to serve: the embedded build, or with
// --dev-widget the latest build of the folder.
func (b pageBundles) get() *widget.Bundle {
	if b.dev != nil {
		return b.dev.get(b.embedded)
	}
	return b.embedded
}

// pageBundles are the page side's builds: the embedded one, and with
// --dev-widget the folder's.
type pageBundles struct {
	embedded *widget.Bundle
	dev      *devBundle // --dev-widget: rebuilt from disk on change
}

// MetricsHandler serves the Prometheus metrics (nudge serve puts it on
// --metrics-addr).
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
}

// metricsGuard keeps /metrics off the public listener: there only with
// --metrics-token, as its bearer; with --metrics-addr, or with neither, not at all.
func (s *Server) metricsGuard(c *fiber.Ctx) error {
	token := s.cfg.MetricsToken
	if s.cfg.MetricsAddr != "" || token == "" {
		return errNotFound
	}
	got, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
		return &apiError{Status: fiber.StatusUnauthorized, Code: "unauthenticated", Message: "send the metrics token as a bearer token"}
	}
	return c.Next()
}

// trustedProxies are the --trusted-proxies.
type trustedProxies []*net.IPNet

// clientIP is the client's address: the peer's, or behind trusted proxies
// the rightmost X-Forwarded-For entry that is not one of them. Entries to
// its left were written by the client itself and prove nothing.
func (ps trustedProxies) clientIP(c *fiber.Ctx) string {
	peer := c.Context().RemoteIP()
	if !ps.trusted(peer) {
		return peer.String()
	}
	var hops []string
	for _, h := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		hops = append(hops, strings.Split(string(h), ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		ip := net.ParseIP(strings.TrimSpace(hops[i]))
		if ip == nil {
			break // a malformed entry: nothing left of it can be trusted
		}
		client = ip
		if !ps.trusted(ip) {
			break
		}
	}
	return client.String()
}

func (ps trustedProxies) trusted(ip net.IP) bool {
	for _, n := range ps {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// App is the fiber app, for tests that drive it with app.Test.
func (s *Server) App() *fiber.App { return s.app }

// Bootstrap prepares the demo when the server runs with --demo (see
// ops.Service.Bootstrap); without it, it does nothing.
func (s *Server) Bootstrap(ctx context.Context, out io.Writer) error {
	if !s.cfg.Demo {
		return nil
	}
	return s.ops.Bootstrap(ctx, s.cfg.DemoSetup(), out)
}

// Auth is the authentication service (the command line creates users with it).
func (s *Server) Auth() *auth.Service { return s.auth }

func (s *Server) routes() {
	app := s.app
	sites := siteAPI{st: s.st, ops: s.ops}
	team := teamAPI{st: s.st, auth: s.auth}
	hooks := webhookAPI{st: s.st, hooks: s.hooks, allowPrivate: s.cfg.WebhooksPrivate}
	avatars := s.avatars
	accounts := accountAPI{st: s.st, auth: s.auth, log: s.log, proxies: s.proxies, origin: s.origin, avatars: s.avatars, publicURL: s.cfg.PublicURL}
	socks := s.socks
	pages := pageAPI{st: s.st, ops: s.ops, bundles: s.bundles, gate: s.gate, proxies: s.proxies, ingest: s.ingest,
		collectIP: s.collectIP, collectSite: s.collectSite, decoding: s.decoding, publicURL: s.cfg.PublicURL, countryHeader: s.cfg.CountryHeader}
	offers := offerAPI{st: s.st, chat: s.chat, ops: s.ops, reports: s.reports}
	chats := chatAPI{st: s.st, chat: s.chat, ops: s.ops, enforcer: s.auth.Enforcer}
	reports := reportAPI{st: s.st, ops: s.ops, reports: s.reports, publicURL: s.cfg.PublicURL}
	people := contactAPI{ops: s.ops}
	app.Use(recover.New(), requestIDMiddleware, s.observe, s.requestContext)

	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.metricsGuard, adaptor.HTTPHandler(s.MetricsHandler()))
	if s.cfg.Demo {
		s.demoRoutes()
	}
	app.Get("/l/:file", pages.loader)
	app.Get("/w/:file", pages.module)
	app.Get("/config/:key", pages.siteConfig)
	app.Options("/config/:key", pages.preflight)
	app.Post("/collect", pages.collect)
	app.Options("/collect", pages.preflight)
	app.Get("/chat/welcome/:key", pages.chatWelcome)
	app.Options("/chat/welcome/:key", pages.preflight)
	app.Get("/availability/:key", pages.availability)
	app.Options("/availability/:key", pages.preflight)
	app.Get("/offers/:key", pages.pollOffers)
	app.Get("/offer-preview", pages.offerPreview)
	app.Options("/offers/:key", pages.preflight)
	app.Get("/avatars/:userID", avatars.avatar)
	app.Get("/ws/visitor", socks.visitorUpgrade, wsUpgrade(socks.visitorConn, 256))
	app.Get("/chat/files/:fileID", socks.visitorFile)
	app.Options("/chat/files/:fileID", socks.filePreflight)
	app.Get("/ws/agent", tenantFromQuery, s.authenticate, s.sameOriginOnly, s.authz("chat", "work"), socks.agentUpgrade, wsUpgrade(socks.agentConn, 4096))

	api := app.Group("/api", s.consoleHeaders)
	api.Get("/openapi.json", s.openAPI)
	api.Post("/auth/login", accounts.login)
	api.Get("/auth/session", accounts.session)
	api.Post("/invitations/preview", accounts.previewInvitation)
	api.Post("/invitations/join", accounts.joinByInvitation)

	r := api.Group("", tenantFromQuery, s.authenticate)
	r.Post("/auth/logout", accounts.logout)
	r.Get("/me", accounts.me)
	r.Put("/me/password", accounts.changePassword)
	r.Put("/me/profile", accounts.changeProfile)
	r.Put("/me/avatar", avatars.setAvatar)
	r.Delete("/me/avatar", avatars.deleteAvatar)

	r.Get("/members", s.authz("members", "read"), team.listMembers)
	r.Get("/invitations", s.authz("members", "read"), accounts.listInvitations)
	r.Post("/invitations", s.authz("members", "write"), accounts.invite)
	r.Delete("/invitations/:invitationID", s.authz("members", "write"), accounts.revokeInvitation)
	r.Post("/invitations/accept", accounts.acceptInvitation)
	r.Get("/members/:userID", s.authz("members", "read"), team.getMember)
	r.Patch("/members/:userID", s.authz("members", "write"), team.updateMember)
	r.Delete("/members/:userID", s.authz("members", "write"), team.removeMember)

	r.Get("/sites", s.authz("sites", "read"), sites.listSites)
	r.Post("/sites", s.authz("sites", "write"), sites.createSite)
	r.Get("/sites/:siteID", s.authz("sites", "read"), sites.getSite)
	r.Patch("/sites/:siteID", s.authz("sites", "write"), sites.updateSite)
	r.Delete("/sites/:siteID", s.authz("sites", "write"), sites.deleteSite)
	r.Get("/sites/:siteID/secret", s.authz("sites", "secret"), sites.getSiteSecret)
	r.Post("/sites/:siteID/secret", s.authz("sites", "secret"), sites.rotateSiteSecret)
	r.Get("/sites/:siteID/snippet", s.authz("sites", "read"), reports.snippet)
	r.Get("/sites/:siteID/reports/:report", s.authz("reports", "read"), reports.report)
	r.Delete("/sites/:siteID/visitors/:visitorID", s.authz("visitors", "erase"), reports.eraseVisitor)

	r.Get("/contacts", s.authz("contacts", "read"), people.listContacts)
	r.Get("/contacts/:contactID", s.authz("contacts", "read"), people.getContact)
	r.Delete("/contacts/:contactID", s.authz("visitors", "erase"), people.eraseContact)

	mail := emailAPI{ops: s.ops}
	r.Get("/email/settings", s.authz("email", "read"), mail.getSettings)
	r.Put("/email/settings", s.authz("email", "write"), mail.putSettings)
	r.Post("/email/test", s.authz("email", "write"), mail.sendTest)
	r.Get("/email/deliveries", s.authz("email", "read"), mail.listMails)
	r.Post("/email/deliveries/:mailID/retry", s.authz("email", "write"), mail.retryMail)

	r.Get("/tokens", s.authz("tokens", "read"), team.listTokens)
	r.Post("/tokens", s.authz("tokens", "write"), team.createToken)
	r.Delete("/tokens/:tokenID", s.authz("tokens", "write"), team.deleteToken)

	r.Get("/audit", s.authz("audit", "read"), team.listAudit)

	searches := searchAPI{st: s.st, chat: s.chat, search: s.search, log: s.log, enforcer: s.auth.Enforcer}
	r.Get("/queues", s.authz("queues", "read"), chats.listQueues)
	r.Post("/queues", s.authz("queues", "write"), chats.createQueue)
	r.Get("/queues/:queueID", s.authz("queues", "read"), chats.getQueue)
	r.Patch("/queues/:queueID", s.authz("queues", "write"), chats.updateQueue)
	r.Delete("/queues/:queueID", s.authz("queues", "write"), chats.deleteQueue)

	r.Get("/agents", s.authz("agents", "read"), chats.listAgents)
	r.Put("/agents/:userID", s.authz("agents", "write"), chats.setAgent)

	r.Get("/chat/settings", s.authz("chat_settings", "read"), chats.getChatSettings)
	r.Put("/chat/settings", s.authz("chat_settings", "write"), chats.setChatSettings)
	r.Post("/chat/settings/mask-test", s.authz("chat_settings", "read"), chats.maskTest)
	r.Get("/chat/live", s.authz("chat", "supervise"), chats.chatLive)
	r.Get("/chat/agents", s.authz("chat", "work"), chats.chatColleagues)
	r.Get("/chat/dispositions", s.authz("chat", "work"), chats.chatDispositions)
	r.Get("/chat/reports/conversations", s.authz("chat", "supervise"), chats.chatConversationReport)
	r.Get("/chat/reports/summary", s.authz("chat", "supervise"), chats.chatSummaryReport)

	r.Get("/canned", s.authz("chat", "work"), chats.listCanned)
	r.Post("/canned", s.authz("canned", "write"), chats.createCanned)
	r.Patch("/canned/:cannedID", s.authz("canned", "write"), chats.updateCanned)
	r.Delete("/canned/:cannedID", s.authz("canned", "write"), chats.deleteCanned)

	r.Get("/chat/search", s.authz("chat", "work"), searches.searchChats)
	r.Get("/conversations", s.authz("chat", "work"), chats.listConversations)
	r.Get("/left-messages", s.authz("chat", "work"), chats.listLeftMessages)
	r.Get("/sites/:siteID/visitors/now", s.authz("chat", "work"), chats.liveVisitors)
	r.Post("/sites/:siteID/visitors/:visitorID/invite", s.authz("chat", "work"), chats.inviteVisitor)
	r.Post("/left-messages/:conversationID/reply", s.authz("chat", "work"), chats.answerLeftMessage)
	r.Patch("/left-messages/:conversationID", s.authz("chat", "work"), chats.markLeftMessage)
	r.Get("/conversations/:conversationID", s.authz("chat", "work"), chats.getConversation)
	r.Get("/conversations/:conversationID/earlier/:earlierID", s.authz("chat", "work"), chats.earlierTranscript)
	r.Get("/conversations/:conversationID/transcript", s.authz("chat", "work"), chats.transcript)
	r.Get("/conversations/:conversationID/files/:fileID", s.authz("chat", "work"), socks.agentFile)
	r.Get("/webhooks", s.authz("webhooks", "read"), hooks.listWebhooks)
	r.Post("/webhooks", s.authz("webhooks", "write"), hooks.createWebhook)
	r.Get("/webhooks/:webhookID", s.authz("webhooks", "read"), hooks.getWebhook)
	r.Patch("/webhooks/:webhookID", s.authz("webhooks", "write"), hooks.updateWebhook)
	r.Delete("/webhooks/:webhookID", s.authz("webhooks", "write"), hooks.deleteWebhook)
	r.Get("/webhooks/:webhookID/deliveries", s.authz("webhooks", "read"), hooks.listDeliveries)
	r.Post("/webhooks/:webhookID/deliveries/:deliveryID/replay", s.authz("webhooks", "write"), hooks.replayDelivery)
	r.Get("/sites/:siteID/rules", s.authz("rules", "read"), offers.listRules)
	r.Post("/sites/:siteID/rules", s.authz("rules", "write"), offers.createRule)
	r.Post("/sites/:siteID/rules/preview", s.authz("rules", "read"), offers.previewRules)
	r.Get("/sites/:siteID/visits", s.authz("rules", "read"), offers.recentVisits)
	r.Get("/rules/catalogue", s.authz("rules", "read"), offers.ruleCatalogue)
	r.Get("/sites/:siteID/rules/:ruleID", s.authz("rules", "read"), offers.getRule)
	r.Put("/sites/:siteID/rules/:ruleID", s.authz("rules", "write"), offers.updateRule)
	r.Delete("/sites/:siteID/rules/:ruleID", s.authz("rules", "write"), offers.deleteRule)
	r.Post("/sites/:siteID/rules/:ruleID/publish", s.authz("rules", "write"), offers.publishRule)
	r.Post("/sites/:siteID/rules/:ruleID/unpublish", s.authz("rules", "write"), offers.unpublishRule)
	r.Get("/sites/:siteID/rules/:ruleID/versions", s.authz("rules", "read"), offers.ruleVersions)
	r.Post("/sites/:siteID/rules/:ruleID/rollback", s.authz("rules", "write"), offers.rollbackRule)

	r.Post("/sites/:siteID/visitors/:visitorID/offers", s.authz("offers", "push"), pages.pushOffer)

	r.Get("/sites/:siteID/templates", s.authz("rules", "read"), offers.listTemplates)
	r.Post("/sites/:siteID/templates", s.authz("rules", "write"), offers.createTemplate)
	r.Get("/sites/:siteID/templates/:templateID", s.authz("rules", "read"), offers.getTemplate)
	r.Put("/sites/:siteID/templates/:templateID", s.authz("rules", "write"), offers.updateTemplate)
	r.Delete("/sites/:siteID/templates/:templateID", s.authz("rules", "write"), offers.deleteTemplate)

	api.Use(func(c *fiber.Ctx) error { return errNotFound })
	s.consoleRoutes()
}

// Serve listens on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets open requests finish within the shutdown timeout, and returns.
// The caller closes the store afterwards.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	done := make(chan error, 1)
	ln = newFDListener(ln, s.log, &s.metrics.refused)
	go func() { done <- s.app.Listener(ln) }()
	s.log.Info("nudge is serving", "url", s.cfg.PublicURL, "listen", ln.Addr().String())
	s.ops.Start()
	s.loops.Add(1)
	go func() { defer s.loops.Done(); s.sockets.pinger(s.ctx) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	// Hijacked sockets are not the HTTP server's to wait for: tell their
	// clients to come back (they resume where they were).
	s.sockets.closeAll(fws.CloseServiceRestart, "server restarting")
	s.stop()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.app.ShutdownWithContext(sctx)
	// A socket upgraded while the first ones were told is told now; the
	// sockets' handlers end before the caller closes the databases.
	s.sockets.closeAll(fws.CloseServiceRestart, "server restarting")
	if werr := s.sockets.wait(sctx); werr != nil {
		s.log.Warn("chat sockets still open at the shutdown timeout", "err", werr)
	}
	s.loops.Wait()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Close commits the analytics still queued and closes the analytics
// database. Call it after Serve returns; the caller closes the main store.
func (s *Server) Close() error {
	s.stop()
	return s.ops.Close()
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// healthCheck is the index's last health check: /readyz is public, and
// must not turn every probe into a request to the cluster.
type healthCheck struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// searchHealth asks the index whether it answers, at most every 5 seconds.
func (s *Server) searchHealth(ctx context.Context) error {
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.at.IsZero() && time.Since(h.at) < 5*time.Second {
		return h.err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	h.err, h.at = s.search.Health(ctx), time.Now()
	if h.err != nil {
		s.log.Warn("search index unhealthy", "err", h.err)
	}
	return h.err
}

func (s *Server) readyz(c *fiber.Ctx) error {
	err := s.st.Ready(c.UserContext())
	if err == nil {
		err = s.analytics.Ready(c.UserContext())
	}
	cl, inCluster := s.ops.Cluster()
	if err == nil && inCluster {
		// A node off the bus cannot relay, one whose leases are not
		// renewed runs nothing: either sends its clients elsewhere.
		if err = cl.Bus; err == nil {
			err = cl.Lease
		}
	}
	if err != nil {
		// The cause (file paths, driver errors) goes to the log only: this
		// answer is public.
		s.log.Warn("not ready", "err", err)
		body := fiber.Map{"status": "unavailable", "store": "not ready; the server log says why"}
		if inCluster {
			body["cluster"] = clusterReady(cl)
		}
		return c.Status(fiber.StatusServiceUnavailable).JSON(body)
	}
	// The search index does not decide readiness: chat works without it, and
	// the feeder catches up once it is back. Its state is shown (the error
	// only in the log: this answer is public).
	st := s.feed.Stats()
	health := s.searchHealth(c.UserContext())
	backend := "embedded"
	if s.cfg.SearchURL != "" {
		backend = "elasticsearch"
	}
	body := fiber.Map{"status": "ok", "search": fiber.Map{"backend": backend, "healthy": health == nil && !st.Failing,
		"lag_seconds": st.Lag.Seconds(), "queued": st.Queued}}
	if inCluster {
		body["cluster"] = clusterReady(cl)
	}
	return c.JSON(body)
}

// clusterReady is a node's part of /readyz: the bus, the leases, what it
// runs (no error text: the answer is public; the log has it).
func clusterReady(cl ops.ClusterStatus) fiber.Map {
	return fiber.Map{"node": cl.Node, "bus": cl.Bus == nil, "leases": cl.Lease == nil, "running": cl.Owned, "nodes": cl.Nodes,
		"housekeeping": cl.Housekeeping}
}
