package widget

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/nudgehq/nudge/assets"
	"github.com/nudgehq/nudge/rules"
)

// TestPageSideInNode runs the JS tests (test/*.test.ts, Node's test runner)
// against the real bundles: the stub, the loader and the modules, each run in
// a fake browser. Go bundles the tests with esbuild, so `go test ./...`
// covers the page side too.
func TestPageSideInNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the page-side tests need Node.js 20 or later")
	}
	dir := t.TempDir()
	b, err := Build(Sources(), true)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, body []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("loader.js", b.Loader.Body)
	// The measuring loader of the site "shop" on https://nudge.test, in each
	// variant: lite-{dnt}{consent}{cookieless}.js.
	for v := range 8 {
		dnt, consent, cookieless := v&1 != 0, v&2 != 0, v&4 != 0
		f, err := b.Measuring("shop", "https://nudge.test", dnt, consent, cookieless)
		if err != nil {
			t.Fatal(err)
		}
		bit := func(x bool) string { return map[bool]string{false: "0", true: "1"}[x] }
		write("lite-"+bit(dnt)+bit(consent)+bit(cookieless)+".js", f.Body)
	}
	for name, f := range b.Files {
		if m, _, ok := strings.Cut(name, "."); ok && strings.HasSuffix(name, ".js") {
			write(m+".js", f.Body)
		}
	}
	// The rule evaluator alone, minified as in the guide, for the vectors;
	// and Go's case folding, which the page must match code point by code point.
	lib := api.Build(api.BuildOptions{EntryPoints: []string{"rules.ts"}, Bundle: true, Format: api.FormatIIFE,
		GlobalName: "nudgeRules", Target: api.ES2020, MinifyWhitespace: true, MinifyIdentifiers: true, MinifySyntax: true,
		Plugins: []api.Plugin{fsPlugin(Sources())}, LogLevel: api.LogLevelSilent})
	if len(lib.Errors) > 0 || len(lib.OutputFiles) != 1 {
		t.Fatalf("bundle rules.ts: %v", lib.Errors)
	}
	write("rules.js", lib.OutputFiles[0].Contents)
	var fold [][2]any
	for r := rune(0); r < 0x2100; r++ {
		if r < 0x590 || r >= 0x1E00 || r%7 == 0 {
			fold = append(fold, [2]any{r, rules.Fold(string(r))})
		}
	}
	for _, r := range []rune{0x13A0, 0xAB70, 0xFF21, 0x10400, 0x1E900, 0x1F600} {
		fold = append(fold, [2]any{r, rules.Fold(string(r))})
	}
	table, _ := json.Marshal(fold)
	write("fold.json", table)
	vectors, _ := filepath.Abs("../rules/testdata")

	snippet := Snippet("http://localhost:8080", "shop")
	stub := snippet[strings.Index(snippet, ">")+1 : strings.LastIndex(snippet, "</script>")]
	write("stub.js", []byte(stub))

	entries, _ := filepath.Glob("test/*.test.ts")
	if len(entries) == 0 {
		t.Fatal("no test/*.test.ts")
	}
	res := api.Build(api.BuildOptions{
		EntryPoints: entries,
		Bundle:      true,
		Write:       true,
		Outdir:      filepath.Join(dir, "tests"),
		Platform:    api.PlatformNode,
		Format:      api.FormatCommonJS,
		Target:      api.ES2022,
		External:    []string{"happy-dom"}, // from assets/node_modules, by NODE_PATH
		LogLevel:    api.LogLevelSilent,
	})
	for _, e := range res.Errors {
		loc := ""
		if e.Location != nil {
			loc = fmt.Sprintf("%s:%d: ", e.Location.File, e.Location.Line)
		}
		t.Errorf("bundle tests: %s%s", loc, e.Text)
	}
	if t.Failed() {
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "tests", "*.test.js"))
	cmd := exec.Command(node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	modules, _ := filepath.Abs("../assets/node_modules")
	// The test-only DOM is one of the console's npm packages.
	if err := assets.InstallPackages(filepath.Dir(modules)); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "NUDGE_BUNDLES="+dir, "NUDGE_VECTORS="+vectors, "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("the page-side tests failed: %v", err)
	}
	if !strings.Contains(string(out), "pass") {
		t.Fatal("node ran no test")
	}
}
