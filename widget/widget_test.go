package widget

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
)

func TestBuildIsWithinBudgets(t *testing.T) {
	b, err := Build(Sources(), true)
	if err != nil {
		t.Fatal(err)
	}
	for name, budget := range Budgets {
		size, ok := b.Sizes[name]
		if !ok {
			t.Errorf("no bundle %s", name)
			continue
		}
		t.Logf("%s: %d bytes gzipped (budget %d)", name, size, budget)
		if size > budget {
			t.Errorf("%s is %d bytes gzipped; its budget is %d", name, size, budget)
		}
	}
}

func TestBuildIsStableAndHashed(t *testing.T) {
	a, err := Build(Sources(), true)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Build(Sources(), true)
	if !bytes.Equal(a.Loader.Body, b.Loader.Body) || a.Loader.ETag != b.Loader.ETag {
		t.Fatal("two builds of the same sources differ")
	}
	for _, m := range Modules {
		var found *File
		for name, f := range a.Files {
			if strings.HasPrefix(name, m+".") && strings.HasSuffix(name, ".js") {
				found = f
			}
		}
		if found == nil {
			t.Fatalf("module %s missing from %v", m, a.Files)
		}
		if hash := strings.TrimSuffix(strings.TrimPrefix(found.Name, m+"."), ".js"); !bytes.Contains(a.Loader.Body, []byte(`"`+hash+`"`)) {
			t.Errorf("the loader does not name %s", found.Name)
		}
		if _, ok := a.Files[found.Name+".map"]; !ok {
			t.Errorf("no source map for %s", found.Name)
		}
		if found.SourceMap != "/w/"+found.Name+".map" {
			t.Errorf("%s does not point at its map", found.Name)
		}
		for enc, body := range map[string][]byte{"gzip": found.Gzip, "br": found.Brotli} {
			var r io.Reader
			if enc == "gzip" {
				r, _ = gzip.NewReader(bytes.NewReader(body))
			} else {
				r = brotli.NewReader(bytes.NewReader(body))
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, found.Body) {
				t.Errorf("%s %s does not decompress to the body: %v", found.Name, enc, err)
			}
		}
	}
	changed := fstest.MapFS{}
	names, _ := fs.Glob(Sources(), "*.ts")
	for _, n := range names {
		src, _ := Sources().Open(n)
		body, _ := io.ReadAll(src)
		changed[n] = &fstest.MapFile{Data: body}
	}
	changed["analytics.ts"].Data = append(changed["analytics.ts"].Data, []byte("\nconsole.log(1);\n")...)
	c, err := Build(changed, true)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Loader.Body, c.Loader.Body) {
		t.Error("a changed module left the loader (and its module URL) unchanged")
	}
}

func TestBuildReportsErrorsWithFileAndLine(t *testing.T) {
	bad := fstest.MapFS{
		"types.ts":     {Data: []byte("export {};")},
		"loader.ts":    {Data: []byte("export {};")},
		"analytics.ts": {Data: []byte("const x = ;\n")},
		"guide.ts":     {Data: []byte("export {};")},
		"launcher.ts":  {Data: []byte("export {};")},
		"chat.ts":      {Data: []byte("export {};")},
	}
	_, err := Build(bad, true)
	if err == nil || !strings.Contains(err.Error(), "analytics.ts:1:") {
		t.Fatalf("error = %v; want file and line", err)
	}
	_, err = Build(fstest.MapFS{"loader.ts": {Data: []byte(`import "left-pad";`)}, "analytics.ts": {Data: []byte("")}, "chat.ts": {Data: []byte("")},
		"guide.ts": {Data: []byte("")}, "launcher.ts": {Data: []byte("")}}, true)
	if err == nil || !strings.Contains(err.Error(), "no dependencies") {
		t.Fatalf("a package import = %v; want refused", err)
	}
}

func TestSnippetEscapes(t *testing.T) {
	s := Snippet("https://chat.example.com", `x"</script><script>alert(1)//`)
	if strings.Contains(s, "</script><script>alert") || strings.Count(s, "<script>") != 1 {
		t.Fatalf("snippet does not escape its values:\n%s", s)
	}
}

// TestServedBuildCarriesNoSourceMaps: the build the binary serves has no
// source maps (they are for --dev-widget).
func TestServedBuildCarriesNoSourceMaps(t *testing.T) {
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range b.Files {
		if strings.HasSuffix(name, ".map") || f.SourceMap != "" {
			t.Errorf("%s: a source map in the served build", name)
		}
	}
	if b.Loader.SourceMap != "" || bytes.Contains(b.Loader.Body, []byte("sourceMappingURL")) {
		t.Error("the loader names a source map")
	}
}
