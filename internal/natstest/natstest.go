// Package natstest gives tests a real NATS server with JetStream:
// nats-server built from the Go module proxy (once per machine, into the
// user's cache folder) and started on a free loopback port, or the one
// NUDGE_TEST_NATS_URL names. A server a test started can be restarted on
// the same port and storage, as an operator's restart would.
package natstest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nudgehq/nudge/internal/modbin"
)

// Version is the nats-server the tests build.
const Version = "v2.15.3"

// Server is a running nats-server.
type Server struct {
	URL string // nats://127.0.0.1:PORT

	bin, dir string
	port     int
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
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
	once.Do(func() {
		if u := os.Getenv("NUDGE_TEST_NATS_URL"); u != "" {
			shared = &Server{URL: u}
			return
		}
		shared, err = Start()
	})
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return shared
}

// Stop stops the shared server if a test started it: call it after m.Run.
func Stop() {
	if shared != nil {
		shared.Stop()
	}
}

// Build builds nats-server once per machine and returns the binary's path.
func Build() (string, error) {
	return modbin.Build(modbin.Spec{Module: "github.com/nats-io/nats-server/v2", Version: Version, Name: "nats-server", Package: "."})
}

// Start starts a server of the test's own (one it may stop and restart).
func Start() (*Server, error) {
	bin, err := Build()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nudge-nats")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{URL: "nats://127.0.0.1:" + strconv.Itoa(port), bin: bin, dir: dir, port: port}
	if err := s.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) start() error {
	log, err := os.OpenFile(filepath.Join(s.dir, "nats.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(s.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-js", "-sd", filepath.Join(s.dir, "js"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server: %w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port)); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(s.dir, "nats.log"))
			return fmt.Errorf("nats-server exited: %v\n%s", waitErr, b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return errors.New("nats-server did not answer within a minute")
		}
	}
}

// Restart stops the server and starts it again on the same port and
// storage: clients see it go away and come back.
func (s *Server) Restart() error {
	if s.bin == "" {
		return errors.New("natstest: NUDGE_TEST_NATS_URL's server is not ours to restart")
	}
	s.kill()
	return s.start()
}

// Down stops the server until Up starts it again on the same port.
func (s *Server) Down() { s.kill() }

// Up starts a server that Down stopped.
func (s *Server) Up() error {
	if s.bin == "" {
		return errors.New("natstest: NUDGE_TEST_NATS_URL's server is not ours to start")
	}
	return s.start()
}

func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Stop stops the server and removes its storage.
func (s *Server) Stop() {
	if s.bin == "" {
		return
	}
	s.kill()
	os.RemoveAll(s.dir)
}
