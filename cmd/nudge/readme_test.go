package main

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/server"
)

var flagRE = regexp.MustCompile("`--([a-z][a-z0-9-]*)")

// TestREADMEMatchesTheCommandLine holds the README to the binary: every
// command it lists runs (its --help answers), every flag it names for a
// command is one that command takes, the configuration table names every
// flag of `nudge serve` and no other, with the default the flag has.
func TestREADMEMatchesTheCommandLine(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	section := func(title string) []string {
		_, rest, ok := strings.Cut(readme, "\n## "+title+"\n")
		if !ok {
			t.Fatalf("the README has no %q section", title)
		}
		rest, _, _ = strings.Cut(rest, "\n## ")
		var rows []string
		for _, l := range strings.Split(rest, "\n") {
			if strings.HasPrefix(l, "| `") {
				rows = append(rows, l)
			}
		}
		return rows
	}

	// Commands: `nudge user create --email E …` runs, and takes those flags.
	for _, row := range section("Commands") {
		cell := strings.Split(row, "|")[1]
		words := strings.Fields(strings.Trim(strings.TrimSpace(cell), "`"))
		var cmd []string
		for _, w := range words[1:] { // after "nudge"
			if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[") || w == strings.ToUpper(w) {
				break
			}
			cmd = append(cmd, w)
		}
		var out bytes.Buffer
		code := run(append(append([]string(nil), cmd...), "--help"), &out, &out)
		if len(cmd) == 1 && cmd[0] == "version" {
			code = run(cmd, &out, &out)
		}
		if code != 0 {
			t.Errorf("README command %q: exit %d:\n%s", strings.Join(cmd, " "), code, out.String())
			continue
		}
		for _, m := range flagRE.FindAllStringSubmatch(row, -1) {
			if !strings.Contains(out.String(), "-"+m[1]+" ") && !strings.Contains(out.String(), "-"+m[1]+"\n") {
				t.Errorf("README says `nudge %s` takes --%s; its help does not list it:\n%s", strings.Join(cmd, " "), m[1], out.String())
			}
		}
	}

	// Configuration: the table and `nudge serve`'s flags are the same set.
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg := server.DefaultConfig()
	serveFlags(fs, &cfg)
	documented := map[string]bool{}
	for _, row := range section("Configuration") {
		cells := strings.Split(row, "|")
		names := flagRE.FindAllStringSubmatch(cells[1], -1)
		for _, m := range names {
			name := m[1]
			documented[name] = true
			f := fs.Lookup(name)
			if f == nil {
				t.Errorf("README documents --%s, which `nudge serve` does not take", name)
				continue
			}
			def := strings.TrimSpace(cells[2])
			if len(names) > 1 || !strings.HasPrefix(def, "`") || strings.Count(def, "`") != 2 {
				continue // described in words
			}
			if want := strings.Trim(def, "`"); !sameDefault(want, f.DefValue) {
				t.Errorf("README says --%s defaults to %q; the flag's default is %q", name, want, f.DefValue)
			}
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !documented[f.Name] && !strings.Contains(readme, "`--"+f.Name+"`") {
			t.Errorf("`nudge serve --%s` is missing from the README", f.Name)
		}
	})
}

func sameDefault(readme, flagDefault string) bool {
	if readme == flagDefault {
		return true
	}
	a, errA := time.ParseDuration(readme)
	b, errB := time.ParseDuration(flagDefault)
	return errA == nil && errB == nil && a == b
}
