// Package searchtest gives tests a real Elasticsearch-API server: the one
// ES_URL names (with ES_USERNAME, ES_PASSWORD or ES_API_KEY), or else a
// ZincSearch that it builds from the Go module proxy (cached in the user's
// cache folder), starts on a free loopback port and stops when the tests end.
package searchtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nudgehq/nudge/internal/modbin"
	"github.com/nudgehq/nudge/search"
)

// ZincVersion is the ZincSearch the tests build.
const ZincVersion = "v0.4.10"

// Server is a running Elasticsearch-API server.
type Server struct {
	URL                        string
	Username, Password, APIKey string
	Zinc                       bool // ZincSearch, not Elasticsearch: what it lacks is skipped, by name
	cmd                        *exec.Cmd
	port                       string
	data                       string
	log                        *os.File
	exited                     chan struct{} // closed when the process has ended
}

var (
	once   sync.Once
	shared *Server
	err    error
)

// Shared returns the server every test of this process uses, starting it
// the first time. It fails the test when there is none to be had.
func Shared(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { shared, err = start() })
	if err != nil {
		t.Fatalf("searchtest: %v", err)
	}
	return shared
}

// Options are options for a fresh set of indices on the shared server: a
// prefix of their own, so tests do not see each other's documents.
func Options(t testing.TB) search.ElasticOptions {
	s := Shared(t)
	b := make([]byte, 6)
	rand.Read(b)
	return search.ElasticOptions{URL: s.URL, Username: s.Username, Password: s.Password, APIKey: s.APIKey,
		Prefix: "nudgetest" + hex.EncodeToString(b)}
}

// Run runs the tests, then stops the server if they started one, and the
// others the tests started (stop): call it from TestMain.
func Run(m *testing.M, stop ...func()) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	for _, s := range stop {
		s()
	}
	if code == 0 {
		// The tests' goroutines are over by now: one still running leaks.
		// fasthttp's own are not: a stopped server's worker-pool cleaner
		// ends after its sleep (up to 10 s), and its clock runs for the
		// process.
		http.DefaultClient.CloseIdleConnections()
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1")); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines outlived the tests:", err)
			code = 1
		}
	}
	return code
}

func start() (*Server, error) {
	if u := os.Getenv("ES_URL"); u != "" {
		return &Server{URL: u, Username: os.Getenv("ES_USERNAME"), Password: os.Getenv("ES_PASSWORD"), APIKey: os.Getenv("ES_API_KEY")}, nil
	}
	bin, err := Build()
	if err != nil {
		return nil, err
	}
	return StartZinc(bin)
}

// Build builds ZincSearch once per machine and returns the binary's path.
// Its UI is not in the module (an empty page stands in), and a dependency
// breaks on newer Go, so it is built with go1.20.14 (a toolchain the Go
// command fetches from the module proxy).
func Build() (string, error) {
	return modbin.Build(modbin.Spec{Module: "github.com/zincsearch/zincsearch", Version: ZincVersion, Name: "zincsearch",
		Package: "./cmd/zincsearch", Env: []string{"GOTOOLCHAIN=go1.20.14"},
		Prepare: func(src string) error {
			if err := os.MkdirAll(filepath.Join(src, "web", "dist"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(src, "web", "dist", "index.html"), nil, 0o644)
		}})
}

// StartZinc starts the binary on a free loopback port with an empty data
// folder and waits until its Elasticsearch API answers.
func StartZinc(bin string) (*Server, error) {
	data, err := os.MkdirTemp("", "nudge-zinc")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	pw := make([]byte, 12)
	rand.Read(pw)
	s := &Server{URL: "http://127.0.0.1:" + port + "/es", Username: "admin", Password: "Pw" + hex.EncodeToString(pw),
		Zinc: true, port: port, data: data}
	if err := s.Start(); err != nil {
		os.RemoveAll(data)
		return nil, err
	}
	return s, nil
}

// Start starts a stopped ZincSearch again, on its port and data.
func (s *Server) Start() error {
	log, err := os.OpenFile(filepath.Join(s.data, "zinc.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	bin, err := Build()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin)
	cmd.Dir = s.data
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "ZINC_FIRST_ADMIN_USER="+s.Username, "ZINC_FIRST_ADMIN_PASSWORD="+s.Password,
		"ZINC_DATA_PATH="+filepath.Join(s.data, "data"), "ZINC_SERVER_ADDRESS=127.0.0.1", "ZINC_SERVER_PORT="+s.port,
		"ZINC_TELEMETRY=false", "ZINC_SENTRY=false", "GIN_MODE=release", "ZINC_SHARD_NUM=1",
		// Writes become searchable when the write-ahead log is synced.
		"ZINC_WAL_SYNC_INTERVAL=50ms")
	// The server dies with the test process, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start zincsearch: %w", err)
	}
	s.cmd, s.log, s.exited = cmd, log, make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(s.exited) }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/", nil)
		req.SetBasicAuth(s.Username, s.Password)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				http.DefaultClient.CloseIdleConnections()
				return nil
			}
		}
		select {
		case <-s.exited:
			b, _ := os.ReadFile(log.Name())
			return fmt.Errorf("zincsearch exited: %v\n%s", waitErr, tail(b))
		case <-ctx.Done():
			s.Stop()
			return errors.New("zincsearch did not answer within two minutes")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop stops a ZincSearch (keeping its data, so Start serves it again).
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
	s.log.Close()
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}
