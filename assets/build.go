package assets

import (
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

var index = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nudge console</title>
{{range .CSS}}<link rel="stylesheet" href="/{{.}}">
{{end}}</head>
<body>
<div id="app"></div>
{{range .JS}}<script type="module" src="/{{.}}"></script>
{{end}}</body>
</html>
`))

// Build bundles the console sources of dir (src/main.tsx, whose npm packages
// are in dir/node_modules) into out, emptied first (but for .keep); with
// maps, source maps beside them (a folder served with --console-dir, while
// developing: the build the binary embeds carries none).
func Build(dir, out string, maps bool) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if e.Name() != ".keep" {
			if err := os.RemoveAll(filepath.Join(out, e.Name())); err != nil {
				return err
			}
		}
	}
	res := api.Build(api.BuildOptions{
		AbsWorkingDir:     absolute(dir),
		EntryPoints:       []string{"src/main.tsx"},
		Bundle:            true,
		Write:             true,
		Outdir:            out,
		EntryNames:        "assets/[name]-[hash]",
		AssetNames:        "assets/[name]-[hash]",
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		Sourcemap:         sourceMap(maps),
		Target:            api.ES2020,
		Format:            api.FormatESModule,
		JSX:               api.JSXAutomatic,
		JSXImportSource:   "preact",
		LogLevel:          api.LogLevelSilent,
		Metafile:          true,
	})
	if len(res.Errors) > 0 {
		var b strings.Builder
		for _, m := range res.Errors {
			if m.Location != nil {
				fmt.Fprintf(&b, "\n%s:%d:%d: %s", m.Location.File, m.Location.Line, m.Location.Column, m.Text)
			} else {
				fmt.Fprintf(&b, "\n%s", m.Text)
			}
		}
		return fmt.Errorf("esbuild:%s", b.String())
	}
	var page struct{ JS, CSS []string }
	for _, f := range res.OutputFiles {
		rel, err := filepath.Rel(absolute(out), f.Path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch filepath.Ext(rel) {
		case ".js":
			page.JS = append(page.JS, rel)
		case ".css":
			page.CSS = append(page.CSS, rel)
		}
	}
	sort.Strings(page.JS)
	sort.Strings(page.CSS)
	f, err := os.Create(filepath.Join(out, "index.html"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := index.Execute(f, page); err != nil {
		return err
	}
	return f.Close()
}

func absolute(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

func sourceMap(on bool) api.SourceMap {
	if on {
		return api.SourceMapLinked
	}
	return api.SourceMapNone
}
