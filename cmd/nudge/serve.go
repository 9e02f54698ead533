package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/nudgehq/nudge/server"
	"github.com/nudgehq/nudge/store"
)

// serveFlags binds every server setting to a flag; the usage names its variable.
func serveFlags(fs *flag.FlagSet, c *server.Config) {
	str := func(p *string, name, help string) { fs.StringVar(p, name, *p, help+" ("+envName(name)+")") }
	str(&c.Addr, "addr", "listen address, host:port")
	str(&c.DataDir, "data", "data folder: database files and generated keys")
	databaseFlags(fs, &c.Config)
	str(&c.NATSURL, "nats-url", "the NATS server between the nodes of a cluster (nats://nats.internal:4222); needs --database-url and --search-url. Empty: a single node")
	str(&c.Sync, "sync", "durability of commits: normal (a crash of nudge loses nothing acknowledged; a crash of the machine may lose the last half second) or full (every commit waits for the disk: nothing lost even on power loss, chat latency follows the disk's flush time)")
	str(&c.PublicURL, "public-url", "URL browsers use to reach this server: console origin, snippet URLs")
	str(&c.TLSCert, "tls-cert", "PEM certificate file; with --tls-key, serve HTTPS")
	str(&c.TLSKey, "tls-key", "PEM private key file")
	str(&c.MasterKeyFile, "master-key-file", "master key file, generated on first start (default DATA/master.key)")
	str(&c.LogLevel, "log-level", "debug, info, warn or error")
	str(&c.LogFormat, "log-format", "text or json")
	fs.BoolVar(&c.Demo, "demo", c.Demo, "create the demo tenant, site and owner, and serve the example shop at /demo ("+envName("demo")+")")
	str(&c.AdminEmail, "admin-email", "email of the demo owner")
	str(&c.AdminPassword, "admin-password", "password of the demo owner; generated and printed once when empty (secret: prefer "+envName("admin-password")+"_FILE)")
	fs.Var(listFlag{&c.TrustedProxies}, "trusted-proxies", "comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed ("+envName("trusted-proxies")+")")
	fs.IntVar(&c.BodyLimit, "body-limit", c.BodyLimit, "largest request body in bytes ("+envName("body-limit")+")")
	fs.DurationVar(&c.SessionTTL, "session-ttl", c.SessionTTL, "idle time after which a console session ends ("+envName("session-ttl")+")")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "time open requests get to finish on SIGTERM ("+envName("shutdown-timeout")+")")
	fs.Float64Var(&c.CollectIPRate, "collect-ip-rate", c.CollectIPRate, "analytics requests per second per client IP, bursts of 5 s; 0 is unlimited ("+envName("collect-ip-rate")+")")
	str(&c.ConsoleDir, "console-dir", "serve the console from this folder (built by `cd assets && go run ./build`, in dist) instead of the one built into the binary")
	str(&c.DevWidget, "dev-widget", "development: serve the page side built from this folder (widget/src), rebuilt when a file changes")
	str(&c.MetricsAddr, "metrics-addr", "serve the Prometheus /metrics here (and not on --addr), e.g. a private interface's 10.0.0.5:9090 or 127.0.0.1:9090: recommended")
	str(&c.MetricsToken, "metrics-token", "else serve /metrics on --addr to requests that send this bearer token (16 characters or more; secret: prefer "+envName("metrics-token")+"_FILE)")
	str(&c.DebugAddr, "debug-addr", "serve Go's pprof profiles on this address, e.g. 127.0.0.1:6060; never expose it")
	fs.Float64Var(&c.CollectSiteRate, "collect-site-rate", c.CollectSiteRate, "analytics requests per second per site, bursts of 5 s; 0 is unlimited ("+envName("collect-site-rate")+")")
	fs.StringVar(&c.CountryHeader, "country-header", c.CountryHeader, "a trusted proxy's request header with the visitor's ISO country code, e.g. CF-IPCountry: the visitor.country fact of offer rules ("+envName("country-header")+")")
	fs.IntVar(&c.Procs, "procs", c.Procs, "goroutines that run at once (GOMAXPROCS); 0: Go's choice, the cores the process may use ("+envName("procs")+")")
	fs.IntVar(&c.MemoryLimitMiB, "memory-limit", c.MemoryLimitMiB, "soft limit of the Go heap in MiB, past which the collector works harder (0: none; GOMEMLIMIT, when set, wins); SQLite's caches (about 100 MiB at most) come on top ("+envName("memory-limit")+")")
	fs.BoolVar(&c.WebhooksPrivate, "webhooks-private", c.WebhooksPrivate, "let webhooks reach private, loopback and link-local addresses (an on-premises receiver) ("+envName("webhooks-private")+")")
	str(&c.SearchURL, "search-url", "Elasticsearch 8 URL for transcript search, e.g. https://es.internal:9200; empty: the embedded index in the data folder")
	str(&c.SearchUsername, "search-username", "basic-auth user for --search-url")
	str(&c.SearchPassword, "search-password", "basic-auth password for --search-url (secret: prefer "+envName("search-password")+"_FILE)")
	str(&c.SearchAPIKey, "search-api-key", "Elasticsearch API key (base64 id:key) instead of a username and password (secret: prefer "+envName("search-api-key")+"_FILE)")
	str(&c.SearchCAFile, "search-ca-file", "PEM file of the CA that signed the Elasticsearch server's certificate (default: the system's roots)")
	str(&c.SearchPrefix, "search-prefix", "prefix of nudge's Elasticsearch indices: PREFIX-messages-YYYY.MM and PREFIX-state")
	fs.Float64Var(&c.ChatIPRate, "chat-ip-rate", c.ChatIPRate, "visitor chat connections per second per client IP, bursts of 10 s; 0 is unlimited ("+envName("chat-ip-rate")+")")
}

func serve(args []string, stdout, stderr io.Writer) error {
	cfg := server.DefaultConfig()
	fs := flag.NewFlagSet("nudge serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	serveFlags(fs, &cfg)
	if err := parse(fs, args, os.Getenv); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.Procs > 0 {
		runtime.GOMAXPROCS(cfg.Procs)
	}
	// A flood of analytics or chat must not take the process past its memory:
	// the heap's soft limit makes the collector run sooner as it nears it.
	if os.Getenv("GOMEMLIMIT") == "" && cfg.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimitMiB) << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runServer(ctx, cfg, stdout, stderr)
}

// runServer runs the configured server until ctx ends.
func runServer(ctx context.Context, cfg server.Config, stdout, stderr io.Writer) error {
	opts := &slog.HandlerOptions{Level: cfg.Level()}
	var log *slog.Logger
	if cfg.LogFormat == "json" {
		log = slog.New(slog.NewJSONHandler(stderr, opts))
	} else {
		log = slog.New(slog.NewTextHandler(stderr, opts))
	}
	log.Info("starting nudge", "version", version, "config", cfg)
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}

	unlock, err := lockData(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := store.OpenWith(ctx, cfg.DatabasePath(), store.Options{Sync: cfg.Sync})
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := server.New(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	// After Serve: the queued analytics are committed before the files close.
	defer srv.Close()
	if err := srv.Bootstrap(ctx, stdout); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if cfg.DebugAddr != "" {
		// Lock contention shows in /debug/pprof/mutex (1 event in 100).
		runtime.SetMutexProfileFraction(100)
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		dbg := &http.Server{Addr: cfg.DebugAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := dbg.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("debug listener", "err", err)
			}
		}()
		defer dbg.Close()
		log.Warn("pprof profiles are served", "addr", cfg.DebugAddr)
	}
	if cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", srv.MetricsHandler())
		ms := &http.Server{Addr: cfg.MetricsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		go func() {
			if err := ms.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener", "err", err)
			}
		}()
		defer ms.Close()
		log.Info("metrics are served", "addr", mln.Addr().String())
	} else if cfg.MetricsToken == "" {
		log.Info("metrics are not served: set --metrics-addr (recommended) or --metrics-token")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.TLS() {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
