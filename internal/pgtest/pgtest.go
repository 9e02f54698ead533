// Package pgtest gives tests a real PostgreSQL: the one NUDGE_TEST_DATABASE_URL
// names, or else a server of the machine's own PostgreSQL installation
// (Debian's postgresql package) started for the test process in a temporary
// folder on a free loopback port, and stopped after. Each test gets a database
// of its own, dropped when it ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // also the "pgx" driver the readiness check opens
)

// Server is a PostgreSQL server the tests may create databases on.
type Server struct {
	URL string // a superuser's connection to the maintenance database

	bin, dir string
	port     int
	cred     *syscall.Credential
	cmd      *exec.Cmd
	exited   chan struct{}
	admin    *sql.DB
}

var (
	once   sync.Once
	shared *Server
	err    error
)

// Shared returns the server of this test process, starting it the first
// time. It fails the test when there is none to be had: a test that needs
// PostgreSQL never skips.
func Shared(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { shared, err = start() })
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return shared
}

// Stop stops the server this process started, if any: call it after m.Run.
func Stop() {
	if shared != nil {
		shared.Stop()
	}
}

// Database creates an empty database for the test, dropped when it ends, and
// returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	return Shared(t).Database(t)
}

// Database creates an empty database on this server for the test, dropped
// when it ends, and returns its URL.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	name := "nudge_test_" + randomHex(6)
	if _, err := s.admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		// A test's pools are closed by its own cleanups, which run first;
		// FORCE ends a connection a failed test left behind.
		// A restart of the server (a test's Down and Up) leaves the admin
		// pool's connections dead, each failing once: try again.
		var err error
		for range 3 {
			if _, err = s.admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err == nil {
				return
			}
		}
		t.Errorf("pgtest: drop database %s: %v", name, err)
	})
	return s.database(name)
}

func (s *Server) database(name string) string {
	u, _ := url.Parse(s.URL)
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func start() (*Server, error) {
	if u := os.Getenv("NUDGE_TEST_DATABASE_URL"); u != "" {
		return connect(&Server{URL: u})
	}
	return Start()
}

// Start starts a server of the caller's own (one a test may stop and
// restart), whatever NUDGE_TEST_DATABASE_URL says.
func Start() (*Server, error) {
	bin, err := binaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nudge-pg")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin}
	// PostgreSQL refuses to run as root: a root test process runs it as the
	// postgres account the package made.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and no postgres account to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "nudge", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	s.URL = fmt.Sprintf("postgres://nudge@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	if err := s.run(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return connect(s)
}

// run starts postgres on the server's folder and port and waits until it
// answers.
func (s *Server) run() error {
	log, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	if s.cred != nil {
		os.Chown(log.Name(), int(s.cred.Uid), int(s.cred.Gid))
	}
	// fsync off: a test's database dies with the test; durability across a
	// crash of PostgreSQL itself is not what these tests measure.
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", filepath.Join(s.dir, "data"), "-p", strconv.Itoa(s.port), "-h", "127.0.0.1", "-k", s.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=400",
		"-c", "shared_buffers=64MB")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(time.Minute)
	for {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port)); err == nil {
			c.Close()
			// Accepting connections is not yet answering them (recovery).
			if db, err := sql.Open("pgx", s.URL); err == nil {
				err = db.Ping()
				db.Close()
				if err == nil {
					return nil
				}
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(log.Name())
			return fmt.Errorf("postgres exited: %v\n%s", waitErr, b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return errors.New("postgres did not answer within a minute")
		}
	}
}

// Restart stops postgres (fast shutdown: its sessions end) and starts it
// again on the same port and data: clients see it go away and come back.
func (s *Server) Restart() error {
	if s.bin == "" {
		return errors.New("pgtest: NUDGE_TEST_DATABASE_URL's server is not ours to restart")
	}
	s.kill()
	return s.run()
}

// Down stops postgres until Up; Up starts it again.
func (s *Server) Down() { s.kill() }

// Up starts postgres again after Down.
func (s *Server) Up() error { return s.run() }

// connect opens the maintenance connection tests create databases with.
func connect(s *Server) (*Server, error) {
	cfg, err := pgx.ParseConfig(s.URL)
	if err != nil {
		return nil, fmt.Errorf("NUDGE_TEST_DATABASE_URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", cfg.Host, err)
	}
	s.admin = db
	return s, nil
}

// binaries finds the newest PostgreSQL of Debian's layout, or one on PATH.
func binaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return a > b
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server here: install Debian's postgresql package (make test does), or set NUDGE_TEST_DATABASE_URL")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop stops the server and removes its data.
func (s *Server) Stop() {
	if s.admin != nil {
		s.admin.Close()
	}
	s.kill()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// kill stops postgres: SIGINT is its fast shutdown, which ends the
// sessions and stops.
func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}
