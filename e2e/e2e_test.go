// Package e2e drives nudge in a real headless Chromium (Debian's chromium,
// installed by `make e2e-deps`): the console, and later the page side on the
// demo shop.
package e2e

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudgehq/nudge/assets"
	"github.com/nudgehq/nudge/email/mailtest"
	"github.com/nudgehq/nudge/server"
	"github.com/nudgehq/nudge/store"
)

const demoPassword = "demo-password-e2e"

var console struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	mailtest.Stop()
	if chromium.cancel != nil {
		chromium.cancel()
	}
	if console.dir != "" {
		os.RemoveAll(console.dir)
	}
	os.Exit(code)
}

// consoleDir is "" when the console is built into this test binary (make
// test builds it first); otherwise, as after a plain `go test ./...` on a
// fresh checkout, it builds the console once into a folder the servers
// serve it from.
func consoleDir(t *testing.T) string {
	t.Helper()
	if _, built := assets.Dist(); built {
		return ""
	}
	console.once.Do(func() {
		if console.err = assets.InstallPackages("../assets"); console.err != nil {
			return
		}
		if console.dir, console.err = os.MkdirTemp("", "nudge-console-"); console.err != nil {
			return
		}
		console.err = assets.Build("../assets", console.dir, true)
	})
	if console.err != nil {
		t.Fatalf("build the console: %v", console.err)
	}
	return console.dir
}

// startServer runs a demo server on a loopback port and returns its URL.
func startServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveOn(t, ln, t.TempDir())
	return url
}

// serveOn runs the demo server on ln with its data in dir; stop ends it
// (the test's end does too) and may be called again.
func serveOn(t *testing.T, ln net.Listener, dir string) (url string, stop func()) {
	t.Helper()
	return serveWith(t, ln, dir, nil)
}

// serveWith is serveOn with the configuration edited (edit may be nil).
func serveWith(t *testing.T, ln net.Listener, dir string, edit func(*server.Config)) (url string, stop func()) {
	t.Helper()
	console := consoleDir(t)
	cfg := server.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.PublicURL = ln.Addr().String(), dir, "http://"+ln.Addr().String()
	cfg.Demo, cfg.AdminPassword, cfg.ConsoleDir = true, demoPassword, console
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, cfg.DatabasePath())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ctx, cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Bootstrap(ctx, io.Discard); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done; srv.Close(); st.Close() }) }
	t.Cleanup(stop)
	return cfg.PublicURL, stop
}

// desktopUA replaces headless Chromium's own user agent, which nudge rightly
// counts as a bot.
const desktopUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"

// browserOpts shape the browser a test starts.
type browserOpts struct {
	doNotTrack bool // the profile sends Do Not Track
}

// chromium is the browser the tests share: each test gets a browser context
// of its own in it (cookies, storage and cache apart, like a fresh
// profile), which costs a window, not a browser's start.
var chromium struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

// browser returns a fresh window in a browser context of its own: in the
// shared Chromium, or with options in a Chromium of its own.
func browser(t *testing.T, o ...browserOpts) context.Context {
	t.Helper()
	var parent context.Context
	var opts []chromedp.ContextOption
	if len(o) > 0 && o[0].doNotTrack {
		profile := t.TempDir()
		os.MkdirAll(filepath.Join(profile, "Default"), 0o755)
		os.WriteFile(filepath.Join(profile, "Default", "Preferences"), []byte(`{"enable_do_not_track": true}`), 0o644)
		ctx, cancel, err := startChromium(profile)
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
		t.Cleanup(cancel)
		parent = ctx
	} else {
		chromium.once.Do(func() {
			dir, err := os.MkdirTemp("", "nudge-e2e-chromium-")
			if err != nil {
				chromium.err = err
				return
			}
			ctx, stop, err := startChromium(dir)
			if err != nil {
				chromium.err = err
				os.RemoveAll(dir)
				return
			}
			chromium.ctx, chromium.cancel = ctx, func() { stop(); os.RemoveAll(dir) }
		})
		if chromium.err != nil {
			t.Fatalf("start chromium: %v", chromium.err)
		}
		parent, opts = chromium.ctx, []chromedp.ContextOption{chromedp.WithNewBrowserContext()}
	}
	ctx, cancelCtx := chromedp.NewContext(parent, opts...)
	if err := chromedp.Do(ctx); err != nil { // the window opens (without the timeout, which would close it)
		cancelCtx()
		t.Fatalf("open a window: %v", err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			failureShot(t, ctx) // not tctx: the failure may be its timeout
		}
		cancelTimeout()
		cancelCtx()
	})
	return tctx
}

// startChromium starts headless Chromium with the flags this closed network
// needs, its profile in dir; cancel stops it.
func startChromium(dir string) (ctx context.Context, cancel func(), err error) {
	path := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		return nil, nil, errors.New("chromium is not installed: run `make e2e-deps` (make test does)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(dir),
		chromedp.UserAgent(desktopUA),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	// The first run starts the browser and must not carry a timeout (it would
	// end the browser).
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		return nil, nil, err
	}
	return ctx, func() { cancelCtx(); cancelAlloc() }, nil
}

// failureShot saves the page of a failed test, in NUDGE_E2E_SHOTS or the
// temporary folder, and says where.
func failureShot(t *testing.T, ctx context.Context) {
	dir := os.Getenv("NUDGE_E2E_SHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "nudge-e2e-failures")
	}
	os.MkdirAll(dir, 0o755)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Logf("no screenshot of the failure: %v", err)
		return
	}
	name := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-failed.png")
	if os.WriteFile(name, png, 0o644) == nil {
		t.Logf("the page at the failure: %s", name)
	}
}

// screenshot saves the page when NUDGE_E2E_SHOTS names a folder, for a person to look at.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("NUDGE_E2E_SHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}
