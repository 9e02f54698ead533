package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/nudgehq/nudge/loadgen"
	"github.com/nudgehq/nudge/search"
)

func loadgenCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "chat" {
		return loadgenChat(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "search" {
		return loadgenSearch(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "collect" {
		fmt.Fprintln(stderr, "usage: nudge loadgen collect|chat --url URL --site KEY [flags], or nudge loadgen search [flags]")
		return errUsage
	}
	o := loadgen.CollectOptions{Concurrency: 32, Duration: 20 * time.Second, Batch: 20, Visitors: 10_000}
	fs := flag.NewFlagSet("nudge loadgen collect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "the nudge server to load")
	fs.StringVar(&o.Site, "site", "demo", "site key")
	fs.StringVar(&o.Origin, "origin", "", "Origin header, an allowed origin of the site (default: --url)")
	fs.StringVar(&o.Metrics.URL, "metrics-url", "", "the server's metrics: its --metrics-addr as a URL (http://127.0.0.1:9090/metrics); default --url + /metrics")
	fs.StringVar(&o.Metrics.Token, "metrics-token", os.Getenv("NUDGE_METRICS_TOKEN"), "the server's --metrics-token (NUDGE_METRICS_TOKEN)")
	fs.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "requests in flight")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long to send (at most 10m)")
	fs.IntVar(&o.Batch, "batch", o.Batch, "events per request (1-100)")
	fs.IntVar(&o.Visitors, "visitors", o.Visitors, "distinct visitors simulated")
	fs.BoolVar(&o.Heavy, "heavy", false, "fill each batch to the 64 KiB limit with long, distinct titles, names and properties (a flood)")
	fs.IntVar(&o.Addresses, "addresses", 0, "spread the requests over this many loopback source addresses (127.0.0.1, .2, …)")
	fs.IntVar(&o.EventsPerDay, "events-per-day", 0, "first raise the site's daily event budget to this (1,000 to 100,000,000; the default budget, 200,000, ends a fast run in seconds); needs --token, or --email and --password")
	fs.BoolVar(&o.Identify, "identify", false, "each request also identifies its visitor, signed with the site's identity secret (as logged-in visitors' pages do); needs --token, or --email and --password")
	fs.StringVar(&o.Token, "token", os.Getenv("NUDGE_LOADGEN_TOKEN"), "API token of an owner or admin, for --events-per-day and --identify (NUDGE_LOADGEN_TOKEN)")
	fs.StringVar(&o.Email, "email", "admin@localhost", "or the email of an owner or admin")
	fs.StringVar(&o.Password, "password", os.Getenv("NUDGE_LOADGEN_PASSWORD"), "and their password (NUDGE_LOADGEN_PASSWORD)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if u, err := url.Parse(o.URL); err != nil || u.Host == "" {
		return fmt.Errorf("--url %q is not a URL", o.URL)
	}
	if o.Duration <= 0 || o.Duration > 10*time.Minute {
		return errors.New("--duration: more than 0, at most 10m")
	}
	switch {
	case o.EventsPerDay != 0 && (o.EventsPerDay < 1000 || o.EventsPerDay > 100_000_000):
		return errors.New("--events-per-day: 1,000 to 100,000,000")
	case (o.EventsPerDay != 0 || o.Identify) && o.Token == "" && o.Password == "":
		return errors.New("--events-per-day and --identify need the site's settings: --token, or --email and --password, of an owner or admin")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprintf(stdout, "loading %s/collect for %s: %d in flight, %d events a request\n", o.URL, o.Duration, o.Concurrency, o.Batch)
	rep, err := loadgen.Collect(ctx, o, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, rep)
	return nil
}

func loadgenChat(args []string, stdout, stderr io.Writer) error {
	o := loadgen.ChatOptions{Conversations: 1000, PerAgent: 50, Interval: 10 * time.Second, Duration: 60 * time.Second, Ramp: 500}
	fs := flag.NewFlagSet("nudge loadgen chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "the nudge server to load")
	fs.StringVar(&o.Site, "site", "demo", "site key")
	fs.StringVar(&o.Origin, "origin", "", "Origin header, an allowed origin of the site (default: --url)")
	fs.StringVar(&o.Metrics.URL, "metrics-url", "", "the server's metrics: its --metrics-addr as a URL (http://127.0.0.1:9090/metrics); default --url + /metrics")
	fs.StringVar(&o.Metrics.Token, "metrics-token", os.Getenv("NUDGE_METRICS_TOKEN"), "the server's --metrics-token (NUDGE_METRICS_TOKEN)")
	fs.StringVar(&o.Token, "token", os.Getenv("NUDGE_LOADGEN_TOKEN"), "API token of an owner or admin, to create the bots (NUDGE_LOADGEN_TOKEN)")
	fs.StringVar(&o.Email, "email", "admin@localhost", "or the email of an owner or admin")
	fs.StringVar(&o.Password, "password", os.Getenv("NUDGE_LOADGEN_PASSWORD"), "and their password (NUDGE_LOADGEN_PASSWORD)")
	fs.IntVar(&o.Conversations, "conversations", o.Conversations, "concurrent conversations (visitor connections)")
	fs.IntVar(&o.PerAgent, "per-agent", o.PerAgent, "conversations one agent connection carries")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "time between two messages of a conversation (the visitor writes, the agent answers)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long messages flow once all conversations are open (at most 10m)")
	fs.IntVar(&o.Ramp, "ramp", o.Ramp, "conversations opened per second")
	fs.StringVar(&o.DebugURL, "debug-url", "", "the server's --debug-addr as a URL (http://127.0.0.1:6060): memory is read after a garbage collection")
	nodes := fs.String("nodes", "", "a cluster's nodes, comma-separated URLs (--url among them): visitors and bots connect to each in turn; their metrics are read at URL/metrics with --metrics-token")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if u, err := url.Parse(o.URL); err != nil || u.Host == "" {
		return fmt.Errorf("--url %q is not a URL", o.URL)
	}
	if *nodes != "" {
		for _, n := range strings.Split(*nodes, ",") {
			n = strings.TrimSpace(n)
			if u, err := url.Parse(n); err != nil || u.Host == "" {
				return fmt.Errorf("--nodes: %q is not a URL", n)
			}
			o.Nodes = append(o.Nodes, strings.TrimRight(n, "/"))
		}
	}
	switch {
	case o.Token == "" && o.Password == "":
		return loadgen.ErrNoToken
	case o.Duration <= 0 || o.Duration > 10*time.Minute:
		return errors.New("--duration: more than 0, at most 10m")
	case o.Conversations < 1 || o.PerAgent < 1 || o.Interval <= 0 || o.Ramp < 1:
		return errors.New("--conversations, --per-agent, --interval and --ramp must be positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprintf(stdout, "chat load on %s: %d conversations, a message every %s each, for %s\n", o.URL, o.Conversations, o.Interval, o.Duration)
	rep, err := loadgen.Chat(ctx, o, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, rep)
	if rep.Lost > 0 {
		return fmt.Errorf("%d acknowledged messages were lost", rep.Lost)
	}
	return nil
}

// loadgenSearch indexes synthetic messages into the embedded index and, with
// --search-url, into Elasticsearch, and times the same queries on both.
func loadgenSearch(args []string, stdout, stderr io.Writer) error {
	o := loadgen.SearchOptions{Messages: 1_000_000, Batch: 10_000, Queries: 200}
	var es search.ElasticOptions
	fs := flag.NewFlagSet("nudge loadgen search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Messages, "messages", o.Messages, "messages to index")
	fs.IntVar(&o.Batch, "batch", o.Batch, "messages per index call (the server's feeder sends up to 10,000)")
	fs.IntVar(&o.Queries, "queries", o.Queries, "runs of each kind of query")
	fs.StringVar(&o.Dir, "dir", "", "folder for the embedded index (default: a temporary one, deleted after)")
	fs.StringVar(&es.URL, "search-url", "", "also an Elasticsearch server (http://127.0.0.1:4080/es for a ZincSearch)")
	fs.StringVar(&es.Username, "search-username", "", "its basic-auth user")
	fs.StringVar(&es.Password, "search-password", os.Getenv("NUDGE_SEARCH_PASSWORD"), "its password (NUDGE_SEARCH_PASSWORD)")
	fs.StringVar(&es.APIKey, "search-api-key", os.Getenv("NUDGE_SEARCH_API_KEY"), "or its API key (NUDGE_SEARCH_API_KEY)")
	fs.StringVar(&es.Prefix, "search-prefix", fmt.Sprintf("nudgebench%d", time.Now().Unix()), "prefix of the indices the run creates")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if o.Messages < 1000 || o.Messages > 100_000_000 || o.Batch < 1 || o.Batch > 10_000 || o.Queries < 1 || o.Queries > 100_000 {
		return errors.New("--messages 1,000 to 100,000,000, --batch 1 to 10,000, --queries 1 to 100,000")
	}
	if es.URL != "" {
		o.Elastic = &es
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "nudge-search-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprintf(stdout, "search benchmark: %d messages in batches of %d, %d runs of each query\n", o.Messages, o.Batch, o.Queries)
	_, err := loadgen.SearchBench(ctx, o, stdout)
	return err
}
