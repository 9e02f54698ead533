package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/nudgehq/nudge"

// TestDependenciesPointOneWay keeps the layout honest: the transport
// (server/) is imported only by the binary and the end-to-end tests that
// start it, ops only by them and the transport, and no domain package
// speaks HTTP.
func TestDependenciesPointOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		top, _, _ := strings.Cut(rel, "/")
		checked++
		for _, imp := range p.Imports {
			switch {
			case (imp == module+"/server" || strings.HasPrefix(imp, module+"/server/")) &&
				top != "server" && top != "cmd" && top != "e2e":
				t.Errorf("%s imports the transport %s: move what it needs into a domain package", rel, imp)
			case imp == module+"/ops" && top != "server" && top != "cmd" && top != "e2e":
				t.Errorf("%s imports ops: the operations call the domain packages, not the other way", rel)
			case isHTTPServer(imp) && top != "server" && top != "cmd" && top != "e2e" &&
				// The load generator and the documented example clients
				// dial; they serve nothing.
				!((top == "loadgen" || top == "docs") && imp == "github.com/fasthttp/websocket"):
				t.Errorf("%s imports %s: domain packages know nothing of the transport", rel, imp)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("go list gave %d packages: the check saw nothing", checked)
	}
}

func isHTTPServer(imp string) bool {
	for _, p := range []string{"github.com/gofiber/", "github.com/valyala/fasthttp", "github.com/fasthttp/"} {
		if strings.HasPrefix(imp, p) {
			return true
		}
	}
	return false
}
