package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/server"
	"github.com/nudgehq/nudge/store"
)

func keysCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprintln(stderr, "usage: nudge keys rotate [--data DIR] [--master-key-file FILE]")
		return errUsage
	}
	fs := flag.NewFlagSet("nudge keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := ops.Config{DataDir: server.DefaultConfig().DataDir}
	keyFile := ""
	fs.StringVar(&db.DataDir, "data", db.DataDir, "data folder ("+envName("data")+")")
	databaseFlags(fs, &db)
	fs.StringVar(&keyFile, "master-key-file", "", "master key file (default DATA/master.key) ("+envName("master-key-file")+")")
	if err := parse(fs, args[1:], os.Getenv); err != nil {
		return err
	}
	if err := db.CheckDatabase(); err != nil {
		return err
	}
	data := db.DataDir
	if keyFile == "" {
		keyFile = filepath.Join(data, "master.key")
	}
	unlock, err := lockData(data)
	if err != nil {
		return err
	}
	defer unlock()
	ctx := context.Background()
	st, err := store.Open(ctx, db.DatabasePath())
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := keys.RotateMaster(ctx, keyFile, st)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new master key in %s; %d data keys rewrapped. Back it up; the old key no longer opens anything.\n", keyFile, n)
	return nil
}
