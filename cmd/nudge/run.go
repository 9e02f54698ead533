package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nudgehq/nudge/ops"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `nudge: proactive engagement (web analytics, offers, live chat) in one binary.

Usage:
  nudge serve [flags]            run the server (nudge serve --help lists the settings)
  nudge user create [flags]      create a console user, optionally in a tenant
  nudge user set-password [flags] set a user's password (ends the user's sessions)
  nudge user list [flags]        list users and their roles
  nudge keys rotate [flags]      new master key; rewraps every data key (server stopped)
  nudge reindex [flags]          rebuild the search index from the store (--since DAY; resumes)
  nudge loadgen collect [flags]  load a running server's /collect and measure it
  nudge version                  print the version

Every flag can also be set with an environment variable NUDGE_<FLAG>
(--public-url is NUDGE_PUBLIC_URL), and NUDGE_<FLAG>_FILE reads the value from a file.
`

// run is main without the process: tests call it with their own output.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stdout, stderr)
	case "user":
		err = user(args[1:], stdout, stderr)
	case "keys":
		err = keysCmd(args[1:], stdout, stderr)
	case "reindex":
		err = reindex(args[1:], stdout, stderr)
	case "loadgen":
		err = loadgenCmd(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "nudge", version)
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "nudge: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, "nudge:", err)
		return 1
	}
}

// errUsage means the command line was wrong and the flag package said so.
var errUsage = errors.New("usage")

// parse parses args into fs, then fills every flag not given on the command
// line from NUDGE_<NAME> or the file named by NUDGE_<NAME>_FILE.
func parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		name := envName(f.Name)
		v, ok := getenv(name), getenv(name) != ""
		if file := getenv(name + "_FILE"); file != "" {
			b, err := os.ReadFile(file)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s_FILE: %w", name, err))
				return
			}
			v, ok = strings.TrimRight(string(b), "\r\n"), true
		}
		if ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}

func envName(flagName string) string {
	return "NUDGE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// listFlag is a comma-separated list.
type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listFlag) Set(v string) error {
	*l.p = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l.p = append(*l.p, s)
		}
	}
	return nil
}

// databaseFlags binds the main database's settings, for every command that
// opens it.
func databaseFlags(fs *flag.FlagSet, c *ops.Config) {
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL as the system of record instead of DATA/nudge.db and DATA/analytics.db, e.g. postgres://nudge@db.internal:5432/nudge?sslmode=verify-full ("+envName("database-url")+")")
	fs.StringVar(&c.DatabasePassword, "database-password", c.DatabasePassword, "the password of --database-url's user (secret: prefer "+envName("database-password")+"_FILE)")
}
