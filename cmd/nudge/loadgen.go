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
	"time"

	"github.com/nudgehq/nudge/loadgen"
)

func loadgenCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "chat" {
		return loadgenChat(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "collect" {
		fmt.Fprintln(stderr, "usage: nudge loadgen collect|chat --url URL --site KEY [flags]")
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
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if u, err := url.Parse(o.URL); err != nil || u.Host == "" {
		return fmt.Errorf("--url %q is not a URL", o.URL)
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
