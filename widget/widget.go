package widget

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/evanw/esbuild/pkg/api"
	"github.com/klauspost/compress/gzip"
)

//go:embed src/*.ts
var sources embed.FS

// Sources are the embedded TypeScript sources.
func Sources() fs.FS {
	sub, _ := fs.Sub(sources, "src")
	return sub
}

var embedded struct {
	once sync.Once
	b    *Bundle
	err  error
}

// Embedded is the build of the embedded sources, made once per process: a
// bundle never changes while the binary runs (tests start many servers).
func Embedded() (*Bundle, error) {
	embedded.once.Do(func() { embedded.b, embedded.err = Build(Sources()) })
	return embedded.b, embedded.err
}

// Modules are the lazily loaded page-side modules, by name.
var Modules = []string{"analytics", "guide", "launcher", "chat"}

// Budgets are the largest gzipped sizes allowed, by bundle name.
var Budgets = map[string]int{"loader": 1024, "analytics": 3 * 1024, "guide": 6 * 1024, "launcher": 1024, "chat": 25 * 1024}

// File is one bundle, ready to serve.
type File struct {
	Name        string // the served file name, e.g. "analytics.1a2b3c4d5e.js"
	ContentType string
	Body        []byte
	Gzip        []byte
	SourceMap   string // the path of its source map, for the SourceMap header
	Brotli      []byte
	ETag        string
}

// Bundle is the built page side: the loader, the modules, and their source
// maps, all in memory.
type Bundle struct {
	Loader *File
	// Files are the modules and every source map, by served name under /w/.
	Files map[string]*File
	// Sizes are the gzipped sizes of the loader and each module, by bundle name.
	Sizes map[string]int
}

// Module is the served name (under /w/) of a module's bundle, or "".
func (b *Bundle) Module(name string) string {
	for n := range b.Files {
		if strings.HasPrefix(n, name+".") && strings.HasSuffix(n, ".js") {
			return n
		}
	}
	return ""
}

// Build bundles the sources in src (Sources(), or a folder on disk while
// developing) with esbuild: minified, content-hashed, precompressed, with
// source maps. The modules are built first, so that the loader can be given
// their hashed names. Any esbuild error fails the build with file and line.
func Build(src fs.FS) (*Bundle, error) {
	b := &Bundle{Files: map[string]*File{}, Sizes: map[string]int{}}
	hashes := map[string]string{}
	for _, m := range Modules {
		f, err := b.build(src, m, nil)
		if err != nil {
			return nil, err
		}
		// The loader builds /w/{name}.{hash}.js: only the hash costs bytes.
		hashes[m] = strings.TrimSuffix(strings.TrimPrefix(f.Name, m+"."), ".js")
	}
	manifest, _ := json.Marshal(hashes)
	loader, err := b.build(src, "loader", map[string]string{"MODULES": string(manifest)})
	if err != nil {
		return nil, err
	}
	b.Loader = loader
	return b, nil
}

func (b *Bundle) build(src fs.FS, name string, define map[string]string) (*File, error) {
	res := api.Build(api.BuildOptions{
		EntryPoints:       []string{name + ".ts"},
		Bundle:            true,
		Write:             false,
		Outdir:            "/out",
		Format:            api.FormatIIFE,
		Platform:          api.PlatformBrowser,
		Target:            api.ES2020,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		Sourcemap:         api.SourceMapExternal,
		SourcesContent:    api.SourcesContentInclude,
		LegalComments:     api.LegalCommentsNone,
		Charset:           api.CharsetUTF8,
		Define:            define,
		LogLevel:          api.LogLevelSilent,
		Plugins:           []api.Plugin{fsPlugin(src)},
	})
	if len(res.Errors) > 0 {
		var msg strings.Builder
		for _, e := range res.Errors {
			if e.Location != nil {
				fmt.Fprintf(&msg, "\n%s:%d:%d: %s", e.Location.File, e.Location.Line, e.Location.Column, e.Text)
			} else {
				fmt.Fprintf(&msg, "\n%s", e.Text)
			}
		}
		return nil, fmt.Errorf("widget: bundle %s:%s", name, msg.String())
	}
	var js, sourceMap []byte
	for _, o := range res.OutputFiles {
		if strings.HasSuffix(o.Path, ".map") {
			sourceMap = o.Contents
		} else {
			js = o.Contents
		}
	}
	sum := sha256.Sum256(js)
	hashed := name + "." + hex.EncodeToString(sum[:5]) + ".js"
	f, err := newFile(hashed, "text/javascript; charset=utf-8", js)
	if err != nil {
		return nil, err
	}
	m, err := newFile(hashed+".map", "application/json", sourceMap)
	if err != nil {
		return nil, err
	}
	// The map is named by a SourceMap header, not a comment: the bytes go to
	// developers who open their tools, not to every visitor. It is absolute:
	// the loader is served at /l/{siteKey}.js, its map under /w/.
	f.SourceMap = "/w/" + m.Name
	b.Files[m.Name] = m
	if name != "loader" {
		b.Files[f.Name] = f
	}
	b.Sizes[name] = len(f.Gzip)
	return f, nil
}

func newFile(name, contentType string, body []byte) (*File, error) {
	var gz, br bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
	for _, w := range []interface {
		Write([]byte) (int, error)
		Close() error
	}{zw, bw} {
		if _, err := w.Write(body); err != nil {
			return nil, fmt.Errorf("widget: compress %s: %w", name, err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("widget: compress %s: %w", name, err)
		}
	}
	sum := sha256.Sum256(body)
	return &File{Name: name, ContentType: contentType, Body: body, Gzip: gz.Bytes(), Brotli: br.Bytes(),
		ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}, nil
}

// fsPlugin makes esbuild read sources from an fs.FS (embedded or a folder)
// instead of the disk it would otherwise walk.
func fsPlugin(src fs.FS) api.Plugin {
	return api.Plugin{Name: "fs", Setup: func(pb api.PluginBuild) {
		pb.OnResolve(api.OnResolveOptions{Filter: `.*`}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
			p := a.Path
			if a.Importer != "" {
				if !strings.HasPrefix(p, ".") {
					return api.OnResolveResult{}, fmt.Errorf("import %q: the page side has no dependencies", p)
				}
				p = path.Join(path.Dir(a.Importer), p)
			}
			p = path.Clean(strings.TrimPrefix(p, "/"))
			if !strings.HasSuffix(p, ".ts") {
				p += ".ts"
			}
			return api.OnResolveResult{Path: p, Namespace: "nudge"}, nil
		})
		pb.OnLoad(api.OnLoadOptions{Filter: `.*`, Namespace: "nudge"}, func(a api.OnLoadArgs) (api.OnLoadResult, error) {
			b, err := fs.ReadFile(src, a.Path)
			if err != nil {
				return api.OnLoadResult{}, err
			}
			s := string(b)
			return api.OnLoadResult{Contents: &s, Loader: api.LoaderTS}, nil
		})
	}}
}

// Snippet is what a site owner pastes into every page: an async stub that
// defines nudge(...) to queue calls until the loader arrives, refuses to run
// twice, and passes the page's CSP nonce on to the loader.
func Snippet(publicURL, siteKey string) string {
	k, _ := json.Marshal(siteKey)
	u, _ := json.Marshal(publicURL)
	return `<script>
(function(w,d,k,u){if(w.nudge)return;var n=w.nudge=function(){n.q.push(arguments)};n.q=[];
var s=d.createElement("script"),c=d.currentScript;s.async=true;s.src=u+"/l/"+encodeURIComponent(k)+".js";
if(c&&c.nonce)s.nonce=c.nonce;d.head.appendChild(s)})(window,document,` + string(k) + `,` + string(u) + `);
</script>`
}

// CSP is the Content-Security-Policy a site with a policy needs for the snippet.
func CSP(publicURL string) string {
	return "script-src 'nonce-RANDOM' " + publicURL + "; connect-src " + publicURL + "; img-src " + publicURL
}
