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
	"strconv"
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
	embedded.once.Do(func() { embedded.b, embedded.err = Build(Sources(), false) })
	return embedded.b, embedded.err
}

// Modules are the lazily loaded page-side modules, by name.
var Modules = []string{"analytics", "guide", "launcher", "chat"}

// Budgets are the largest gzipped sizes allowed, by bundle name.
// The loader's 1,056 and the measuring loader's 1,440 bytes pay for per-site
// storage keys and for consent withdrawn erasing all a site keeps
// (docs/benchmarks.md, 2026-12-06); the loader's 1,120 for a secured site's
// chat, which shows only once the page gives a visitor token (2026-12-07).
var Budgets = map[string]int{"lite": 1440, "loader": 1120, "analytics": 3 * 1024, "guide": 6 * 1024, "launcher": 1024, "chat": 25 * 1024}

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
	lite   [8]*File // the measuring loaders, by privacy settings (Bundle.Measuring)
	sites  sync.Map // site key and settings -> *File: the measuring loaders served
	// Files are the modules and every source map, by served name under /w/.
	Files map[string]*File
	// Sizes are the gzipped sizes of the loader and each module, by bundle name.
	Sizes map[string]int
	maps  bool // with source maps (development)
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
// developing) with esbuild: minified, content-hashed, precompressed, and
// with maps, source maps (for development: a served build carries none).
// The modules are built first, so that the loader can be given their hashed
// names. Any esbuild error fails the build with file and line.
func Build(src fs.FS, maps bool) (*Bundle, error) {
	b := &Bundle{Files: map[string]*File{}, Sizes: map[string]int{}, maps: maps}
	hashes := map[string]string{}
	for _, m := range Modules {
		f, err := b.build(src, m, map[string]string{"LITE": "false", "COOKIELESS": "false"})
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
	// The measuring loader, one build per combination of privacy settings.
	for v := range 8 {
		dnt, consent, cookieless := v&1 != 0, v&2 != 0, v&4 != 0
		f, err := b.build(src, "lite", map[string]string{"KEY": strconv.Quote(keyMark), "BASE": strconv.Quote(baseMark),
			"DNT": strconv.FormatBool(dnt), "CONSENT": strconv.FormatBool(consent),
			"COOKIELESS": strconv.FormatBool(cookieless), "LITE": "true"})
		if err != nil {
			return nil, err
		}
		b.lite[v] = f
	}
	// Its size: the largest variant, with a key as NewSiteKey makes them and
	// a server URL of a usual length. None is kept: it is not a site's.
	for v := range 8 {
		f, err := newFile("lite.js", "", siteLoader(b.lite[v].Body, "k3y0f4typ1c4ls1t", "https://nudge.example.com"))
		if err != nil {
			return nil, err
		}
		b.Sizes["lite"] = max(b.Sizes["lite"], len(f.Gzip))
	}
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
		Sourcemap:         sourceMap(b.maps),
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
	if b.maps {
		m, err := newFile(hashed+".map", "application/json", sourceMap)
		if err != nil {
			return nil, err
		}
		// The map is named by a SourceMap header, not a comment: the bytes go
		// to developers who open their tools, not to every visitor. It is
		// absolute: the loader is served at /l/{siteKey}.js, its map under /w/.
		f.SourceMap = "/w/" + m.Name
		b.Files[m.Name] = m
	}
	if name != "loader" && name != "lite" {
		b.Files[f.Name] = f
	}
	b.Sizes[name] = len(f.Gzip)
	return f, nil
}

func sourceMap(on bool) api.SourceMap {
	if on {
		return api.SourceMapExternal
	}
	return api.SourceMapNone
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

// The measuring loader's placeholders for the site's key and the server's URL.
const (
	keyMark  = "@@nudge-key@@"
	baseMark = "@@nudge-base@@"
)

// Measuring returns the measuring loader of a site (lite.ts): the build of
// its privacy settings with its key and this server's URL written in,
// compressed once and kept.
func (b *Bundle) Measuring(key, base string, dnt, consent, cookieless bool) (*File, error) {
	v := 0
	for i, set := range []bool{dnt, consent, cookieless} {
		if set {
			v |= 1 << i
		}
	}
	id := fmt.Sprint(v, "|", key, "|", base)
	if f, ok := b.sites.Load(id); ok {
		return f.(*File), nil
	}
	lite := b.lite[v]
	f, err := newFile(lite.Name, lite.ContentType, siteLoader(lite.Body, key, base))
	if err != nil {
		return nil, err
	}
	// The map is the build's: exact up to the key and the URL, a few columns
	// off after them.
	f.SourceMap = lite.SourceMap
	b.sites.Store(id, f)
	return f, nil
}

// siteLoader writes a site's key and the server's URL into a measuring
// loader, each quoted as in a JS string (the marks sit inside literals).
func siteLoader(body []byte, key, base string) []byte {
	quote := func(s string) []byte { q, _ := json.Marshal(s); return q[1 : len(q)-1] }
	return bytes.ReplaceAll(bytes.ReplaceAll(body, []byte(keyMark), quote(key)), []byte(baseMark), quote(base))
}

// Guided returns what the measuring loader loads for an offer the page makes
// (/l/{siteKey}.js?guide): the site's configuration, written into the
// loader's settings (nudge.c), then the guide module. One per site is kept,
// for the configuration whose ETag is given.
func (b *Bundle) Guided(key, etag string, config []byte) (*File, error) {
	id := "guide|" + key
	if f, ok := b.sites.Load(id); ok && f.(*guided).etag == etag {
		return f.(*guided).File, nil
	}
	guide := b.Files[b.Module("guide")]
	body := append([]byte("window.nudge?.c&&Object.assign(nudge.c,"), config...)
	body = append(append(body, ");\n"...), guide.Body...)
	f, err := newFile("guide.js", guide.ContentType, body) // no map: the module's would be a line off
	if err != nil {
		return nil, err
	}
	f.ETag = etag[:len(etag)-1] + "-" + guide.ETag[1:]
	b.sites.Store(id, &guided{File: f, etag: etag})
	return f, nil
}

type guided struct {
	*File
	etag string
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
