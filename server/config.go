package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/store"
)

// Config is every setting of `nudge serve`. cmd/nudge binds each field to a
// flag and a NUDGE_* environment variable; DefaultConfig gives the starting values.
type Config struct {
	ops.Config                    // the data folder, the master key, search, sessions, webhooks
	Addr            string        // listen address
	Sync            string        // durability of commits: normal or full (store.SyncNormal, store.SyncFull)
	PublicURL       string        // how browsers reach this server (console origin, snippet URLs)
	TLSCert         string        // PEM certificate; with TLSKey, serve HTTPS
	TLSKey          string        // PEM private key
	LogLevel        string        // debug, info, warn, error
	LogFormat       string        // text or json
	Demo            bool          // create the demo tenant, site and owner; serve /demo
	AdminEmail      string        // the demo owner's email
	AdminPassword   string        // the demo owner's password; generated and printed when empty
	TrustedProxies  []string      // IPs or CIDRs whose X-Forwarded-For is believed
	CountryHeader   string        // a trusted proxy's header naming the visitor's country (CF-IPCountry …)
	BodyLimit       int           // largest request body in bytes
	ShutdownTimeout time.Duration // how long open requests get to finish on SIGTERM
	CollectIPRate   float64       // /collect requests per second per client IP (0: unlimited)
	CollectSiteRate float64       // /collect requests per second per site (0: unlimited)
	ChatIPRate      float64       // visitor chat connections per second per client IP (0: unlimited)
	MemoryLimitMiB  int           // the Go heap's soft limit (0: none); the process's SQLite caches come on top
	Procs           int           // GOMAXPROCS (0: Go's own choice, which follows the cores and the cgroup's CPU limit)
	DebugAddr       string        // if set, net/http/pprof listens here (keep it on loopback)
	MetricsAddr     string        // if set, /metrics is served here, and only here
	MetricsToken    string        // else /metrics on the main listener needs this bearer token
	DevWidget       string        // development: rebuild the page side from this folder when it changes
	ConsoleDir      string        // serve the console from this folder (assets.Build's output) instead of the embedded one
}

// publicURLOf is the URL a browser on this machine uses to reach addr: a
// wildcard or loopback host is reached as localhost.
func publicURLOf(addr string, tls bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		host = "localhost"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Warnings are settings that are valid but most likely wrong, for the log at
// start: a public URL on this machine's loopback with another port than the
// one nudge listens on reaches something else (the snippet, the console's
// origin and the demo's pages would all fail).
func (c Config) Warnings() []string {
	var out []string
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return nil
	}
	_, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil
	}
	public := u.Port()
	if public == "" {
		public = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if public != port {
		out = append(out, fmt.Sprintf("public-url %s is this machine on port %s, but nudge listens on %s: browsers will not reach nudge through it (leave --public-url out to derive it from --addr)", c.PublicURL, public, c.Addr))
	}
	return out
}

// DefaultConfig is the embedded defaults `make run` relies on.
func DefaultConfig() Config {
	return Config{
		Config: ops.Config{DataDir: "data", SessionTTL: 7 * 24 * time.Hour, SearchPrefix: "nudge"},
		Addr:   "127.0.0.1:8080",
		Sync:   store.SyncNormal,
		// PublicURL empty: derived from Addr (see Validate).
		LogLevel:        "info",
		LogFormat:       "text",
		AdminEmail:      "admin@localhost",
		BodyLimit:       1 << 20,
		ShutdownTimeout: 15 * time.Second,
		CollectIPRate:   20,
		CollectSiteRate: 2000,
		ChatIPRate:      10,
		MemoryLimitMiB:  128,
	}
}

// Validate checks the configuration and fills derived values.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %w", c.Addr, err))
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("metrics-addr %q: %w", c.MetricsAddr, err))
		}
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		errs = append(errs, errors.New("metrics-token: at least 16 characters"))
	}
	if c.DebugAddr != "" {
		if _, _, err := net.SplitHostPort(c.DebugAddr); err != nil {
			errs = append(errs, fmt.Errorf("debug-addr %q: %w", c.DebugAddr, err))
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data: a folder is required"))
	}
	if err := c.CheckDatabase(); err != nil {
		errs = append(errs, err)
	}
	if c.NATSURL != "" {
		if u, err := url.Parse(c.NATSURL); err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			errs = append(errs, fmt.Errorf("nats-url %q: a nats:// (or tls://) URL of a NATS server", ops.RedactURL(c.NATSURL)))
		}
		if c.DatabaseURL == "" {
			errs = append(errs, errors.New("nats-url: the nodes of a cluster share one PostgreSQL database: set --database-url"))
		}
		if c.SearchURL == "" {
			errs = append(errs, errors.New("nats-url: the embedded search index is one node's own; a cluster searches transcripts in Elasticsearch: set --search-url"))
		}
	}
	if c.SearchURL != "" {
		if u, err := url.Parse(c.SearchURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("search-url %q: an http(s) URL of an Elasticsearch server", ops.RedactURL(c.SearchURL)))
		} else if u.User != nil {
			errs = append(errs, fmt.Errorf("search-url %s: give credentials with --search-username and NUDGE_SEARCH_PASSWORD_FILE (or NUDGE_SEARCH_API_KEY_FILE), not in the URL", u.Redacted()))
		}
		if c.SearchPassword != "" && c.SearchUsername == "" {
			errs = append(errs, errors.New("search-password: needs --search-username"))
		}
		if c.SearchAPIKey != "" && c.SearchUsername != "" {
			errs = append(errs, errors.New("search-api-key: use an API key or a username and password, not both"))
		}
		if c.SearchCAFile != "" {
			if _, err := os.Stat(c.SearchCAFile); err != nil {
				errs = append(errs, fmt.Errorf("search-ca-file: %w", err))
			}
		}
		if !validPrefix(c.SearchPrefix) {
			errs = append(errs, fmt.Errorf("search-prefix %q: 1 to 40 lower-case letters, digits, - or _, starting with a letter", c.SearchPrefix))
		}
	} else if c.SearchUsername != "" || c.SearchPassword != "" || c.SearchAPIKey != "" || c.SearchCAFile != "" {
		errs = append(errs, errors.New("search credentials are set without --search-url"))
	}
	if c.Sync != store.SyncNormal && c.Sync != store.SyncFull {
		errs = append(errs, fmt.Errorf("sync %q: want %s or %s", c.Sync, store.SyncNormal, store.SyncFull))
	}
	if c.ConsoleDir != "" {
		if _, err := os.Stat(filepath.Join(c.ConsoleDir, "index.html")); err != nil {
			errs = append(errs, fmt.Errorf("console-dir %q: no index.html (build it with `cd assets && go run ./build`)", c.ConsoleDir))
		}
	}
	if c.DevWidget != "" {
		if fi, err := os.Stat(c.DevWidget); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("dev-widget %q: not a folder", c.DevWidget))
		}
	}
	if c.PublicURL == "" {
		c.PublicURL = publicURLOf(c.Addr, c.TLSCert != "")
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		errs = append(errs, fmt.Errorf("public-url %q: want scheme://host[:port] with no path", c.PublicURL))
	} else {
		c.PublicURL = u.Scheme + "://" + strings.ToLower(u.Host)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key go together"))
	}
	if c.MasterKeyFile == "" && c.DataDir != "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format %q: want text or json", c.LogFormat))
	}
	for _, p := range c.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				errs = append(errs, fmt.Errorf("trusted-proxies: %q is neither an IP nor a CIDR", p))
			}
		}
	}
	if c.CountryHeader != "" && len(c.TrustedProxies) == 0 {
		errs = append(errs, errors.New("country-header: only a trusted proxy's header is believed: set trusted-proxies too"))
	}
	if c.BodyLimit < 1024 {
		errs = append(errs, errors.New("body-limit: at least 1024 bytes"))
	}
	if c.SessionTTL < time.Minute {
		errs = append(errs, errors.New("session-ttl: at least 1m"))
	}
	if c.MemoryLimitMiB < 0 || (c.MemoryLimitMiB > 0 && c.MemoryLimitMiB < 64) {
		return fmt.Errorf("memory-limit: 0 (none) or at least 64 MiB")
	}
	if c.Procs < 0 {
		errs = append(errs, errors.New("procs: 0 (Go's choice) or more"))
	}
	if c.CollectIPRate < 0 || c.CollectSiteRate < 0 || c.ChatIPRate < 0 {
		errs = append(errs, errors.New("collect-ip-rate, collect-site-rate: 0 (unlimited) or more"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown-timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// DemoSetup is what ops.Bootstrap opens the demo with.
func (c Config) DemoSetup() ops.Demo {
	return ops.Demo{PublicURL: c.PublicURL, AdminEmail: c.AdminEmail, AdminPassword: c.AdminPassword}
}

// Level is the parsed log level.
func (c Config) Level() slog.Level {
	var l slog.Level
	l.UnmarshalText([]byte(c.LogLevel))
	return l
}

// TLS reports whether the server speaks HTTPS itself.
func (c Config) TLS() bool { return c.TLSCert != "" }

// validPrefix says whether p can begin an Elasticsearch index name.
func validPrefix(p string) bool {
	if p == "" || len(p) > 40 || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// LogValue is the configuration as logged at start, secrets redacted.
func (c Config) LogValue() slog.Value {
	pw := ""
	if c.AdminPassword != "" {
		pw = "[redacted]"
	}
	return slog.GroupValue(
		slog.String("addr", c.Addr), slog.String("data", c.DataDir), slog.String("database_url", ops.RedactURL(c.DatabaseURL)),
		slog.Bool("database_password", c.DatabasePassword != ""), slog.String("nats_url", ops.RedactURL(c.NATSURL)), slog.String("sync", c.Sync), slog.String("public_url", c.PublicURL),
		slog.Bool("tls", c.TLS()), slog.String("tls_cert", c.TLSCert), slog.String("master_key_file", c.MasterKeyFile),
		slog.String("log_level", c.LogLevel), slog.String("log_format", c.LogFormat), slog.Bool("demo", c.Demo),
		slog.String("admin_email", c.AdminEmail), slog.String("admin_password", pw),
		slog.Any("trusted_proxies", c.TrustedProxies), slog.String("country_header", c.CountryHeader), slog.Int("body_limit", c.BodyLimit),
		slog.Duration("session_ttl", c.SessionTTL), slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.Float64("collect_ip_rate", c.CollectIPRate), slog.Float64("collect_site_rate", c.CollectSiteRate),
		slog.Float64("chat_ip_rate", c.ChatIPRate), slog.Bool("webhooks_private", c.WebhooksPrivate), slog.Int("procs", c.Procs),
		slog.String("debug_addr", c.DebugAddr), slog.String("metrics_addr", c.MetricsAddr), slog.Bool("metrics_token", c.MetricsToken != ""), slog.String("dev_widget", c.DevWidget),
		slog.String("search_url", ops.RedactURL(c.SearchURL)), slog.String("search_username", c.SearchUsername),
		slog.Bool("search_password", c.SearchPassword != ""), slog.Bool("search_api_key", c.SearchAPIKey != ""),
		slog.String("search_ca_file", c.SearchCAFile), slog.String("search_prefix", c.SearchPrefix),
	)
}
