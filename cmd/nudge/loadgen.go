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
	if len(args) == 0 || args[0] != "collect" {
		fmt.Fprintln(stderr, "usage: nudge loadgen collect --url URL --site KEY [flags]")
		return errUsage
	}
	o := loadgen.CollectOptions{Concurrency: 32, Duration: 20 * time.Second, Batch: 20, Visitors: 10_000}
	fs := flag.NewFlagSet("nudge loadgen collect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "the nudge server to load")
	fs.StringVar(&o.Site, "site", "demo", "site key")
	fs.StringVar(&o.Origin, "origin", "", "Origin header, an allowed origin of the site (default: --url)")
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
