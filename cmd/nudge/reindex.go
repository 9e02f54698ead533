package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/server"
	"github.com/nudgehq/nudge/store"
)

// reindex rebuilds the search index from the store.
func reindex(args []string, stdout, stderr io.Writer) error {
	cfg := server.DefaultConfig()
	fs := flag.NewFlagSet("nudge reindex", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, name, help string) { fs.StringVar(p, name, *p, help+" ("+envName(name)+")") }
	str(&cfg.DataDir, "data", "data folder")
	databaseFlags(fs, &cfg.Config)
	str(&cfg.MasterKeyFile, "master-key-file", "master key file (default DATA/master.key)")
	str(&cfg.SearchURL, "search-url", "the Elasticsearch to fill; empty: the embedded index (the server must be stopped)")
	str(&cfg.SearchUsername, "search-username", "basic-auth user for --search-url")
	str(&cfg.SearchPassword, "search-password", "basic-auth password (secret: prefer "+envName("search-password")+"_FILE)")
	str(&cfg.SearchAPIKey, "search-api-key", "Elasticsearch API key (secret: prefer "+envName("search-api-key")+"_FILE)")
	str(&cfg.SearchCAFile, "search-ca-file", "PEM file of the CA of the Elasticsearch server")
	str(&cfg.SearchPrefix, "search-prefix", "prefix of nudge's Elasticsearch indices")
	since := fs.String("since", "", "only messages from this day on, YYYY-MM-DD (default: all)")
	restart := fs.Bool("restart", false, "start again from the beginning instead of where an interrupted reindex stopped")
	if err := parse(fs, args, os.Getenv); err != nil {
		return err
	}
	var from time.Time
	if *since != "" {
		d, err := time.Parse(time.DateOnly, *since)
		if err != nil {
			return fmt.Errorf("--since %q: a day, YYYY-MM-DD", *since)
		}
		from = d
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if _, err := os.Stat(cfg.DatabasePath()); err != nil && cfg.DatabaseURL == "" {
		return fmt.Errorf("no database to read in %s: %w", cfg.DataDir, err)
	}
	// The embedded index is a file the server writes: it must be stopped.
	// Elasticsearch can be filled while the server runs (the store is only read).
	if cfg.SearchURL == "" {
		unlock, err := lockData(cfg.DataDir)
		if err != nil {
			return fmt.Errorf("%w (stop the server to rebuild the embedded index)", err)
		}
		defer unlock()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := store.Open(ctx, cfg.DatabasePath())
	if err != nil {
		return err
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bar := newProgressBar(stderr)
	err = ops.Reindex(ctx, cfg.Config, st, from, *restart, log, bar.show)
	bar.end()
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted: run nudge reindex again to go on from where it stopped")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reindexed %d messages\n", bar.last.Done)
	return nil
}

// progressBar draws a reindex's progress on one line, at most five times a
// second.
type progressBar struct {
	w     io.Writer
	start time.Time
	drawn time.Time
	last  ops.ReindexProgress
	first int64
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, start: time.Now(), first: -1}
}

func (b *progressBar) show(p ops.ReindexProgress) {
	if b.first < 0 {
		b.first = p.Done
		if p.Resumed {
			fmt.Fprintf(b.w, "going on from message %d of %d\n", p.Done, p.Total)
		}
	}
	b.last = p
	if time.Since(b.drawn) < 200*time.Millisecond && p.Done < p.Total {
		return
	}
	b.drawn = time.Now()
	const width = 30
	frac := 1.0
	if p.Total > 0 {
		frac = float64(p.Done) / float64(p.Total)
	}
	n := int(frac * width)
	rate := float64(p.Done-b.first) / max(time.Since(b.start).Seconds(), 0.001)
	fmt.Fprintf(b.w, "\rreindex [%s%s] %3.0f%%  %d of %d messages  %.0f/s ", strings.Repeat("#", n), strings.Repeat("-", width-n), frac*100, p.Done, p.Total, rate)
}

func (b *progressBar) end() {
	if !b.drawn.IsZero() {
		fmt.Fprintln(b.w)
	}
}
