package assets

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// A test binary without the console (go test ./... on a fresh checkout)
// builds it with Build: the page it writes names files it wrote.
func TestBuildWritesTheConsole(t *testing.T) {
	if err := InstallPackages("."); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := Build(".", out, false); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(out, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`(?:src|href)="/(assets/[^"]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(names) < 2 {
		t.Fatalf("index.html names %d files:\n%s", len(names), page)
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(out, n[1])); err != nil {
			t.Errorf("index.html names %s, which the build did not write", n[1])
		}
	}
}

// TestEmbeddedBuildHasNoSourceMaps: the build the binary embeds carries no
// source maps; a development build has them.
func TestEmbeddedBuildHasNoSourceMaps(t *testing.T) {
	if err := InstallPackages("."); err != nil {
		t.Fatal(err)
	}
	for _, maps := range []bool{false, true} {
		out := t.TempDir()
		if err := Build(".", out, maps); err != nil {
			t.Fatal(err)
		}
		found, _ := filepath.Glob(filepath.Join(out, "assets", "*.map"))
		if maps != (len(found) > 0) {
			t.Errorf("with maps %v: %d source maps written", maps, len(found))
		}
	}
}
