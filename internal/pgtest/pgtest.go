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
	"github.com/jackc/pgx/v5/stdlib"
)

// Server is a PostgreSQL server the tests may create databases on.
type Server struct {
	URL string // a superuser's connection to the maintenance database

	cmd    *exec.Cmd
	dir    string
	exited chan struct{}
	admin  *sql.DB
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
		shared.stop()
	}
}

// Database creates an empty database for the test, dropped when it ends, and
// returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	name := "nudge_test_" + randomHex(6)
	if _, err := s.admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		// A test's pools are closed by its own cleanups, which run first;
		// FORCE ends a connection a failed test left behind.
		if _, err := s.admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
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
	bin, err := binaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nudge-pg")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, exited: make(chan struct{})}
	// PostgreSQL refuses to run as root: a root test process runs it as the
	// postgres account the package made.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and no postgres account to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "nudge", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	if cred != nil {
		os.Chown(log.Name(), int(cred.Uid), int(cred.Gid))
	}
	// fsync off: a test's database dies with the test; durability across a
	// crash of PostgreSQL itself is not what these tests measure.
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-h", "127.0.0.1", "-k", dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=400",
		"-c", "shared_buffers=64MB")
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	var waitErr error
	go func() { waitErr = s.cmd.Wait(); close(s.exited) }()
	s.URL = fmt.Sprintf("postgres://nudge@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(time.Minute)
	for {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			if s, err := connect(s); err == nil {
				return s, nil
			} else if time.Now().After(deadline) {
				s.stop()
				return nil, err
			}
		}
		select {
		case <-s.exited:
			b, _ := os.ReadFile(log.Name())
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres exited: %v\n%s", waitErr, b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("postgres did not answer within a minute")
		}
	}
}

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

func (s *Server) stop() {
	if s.admin != nil {
		s.admin.Close()
	}
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	// SIGINT is PostgreSQL's fast shutdown: it ends the sessions and stops.
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	os.RemoveAll(s.dir)
}
