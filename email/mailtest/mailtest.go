// Package mailtest gives tests a real SMTP server: Mailpit, built from the Go
// module proxy (cached in the user's cache folder), started on free
// loopback ports with a certificate of its own for STARTTLS and TLS, and
// read through its API. It accepts any user name and password.
package mailtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nudgehq/nudge/internal/modbin"
)

// Version is the Mailpit the tests build.
const Version = "v1.33.1"

// Server is a running Mailpit.
type Server struct {
	Host    string // 127.0.0.1
	Port    int    // SMTP, plain with STARTTLS offered
	API     string // http://127.0.0.1:PORT
	RootCAs *x509.CertPool
	cmd     *exec.Cmd
	dir     string
	exited  chan struct{}
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
		t.Fatalf("mailtest: %v", err)
	}
	return shared
}

// Stop stops the shared server if a test started it: call it after m.Run.
func Stop() {
	if shared != nil {
		shared.stop()
	}
}

// Build builds Mailpit once per machine and returns the binary's path.
func Build() (string, error) {
	return modbin.Build(modbin.Spec{Module: "github.com/axllent/mailpit", Version: Version, Name: "mailpit", Package: "."})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start() (*Server, error) {
	bin, err := Build()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nudge-mailpit")
	if err != nil {
		return nil, err
	}
	pool, err := certificate(dir)
	if err != nil {
		return nil, err
	}
	smtp, err := freePort()
	if err != nil {
		return nil, err
	}
	api, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", Port: smtp, API: "http://127.0.0.1:" + strconv.Itoa(api), RootCAs: pool, dir: dir, exited: make(chan struct{})}
	log, err := os.Create(filepath.Join(dir, "mailpit.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	s.cmd = exec.Command(bin, "--smtp", "127.0.0.1:"+strconv.Itoa(smtp), "--listen", "127.0.0.1:"+strconv.Itoa(api),
		"--database", filepath.Join(dir, "mail.db"), "--max", "100000",
		"--smtp-tls-cert", filepath.Join(dir, "cert.pem"), "--smtp-tls-key", filepath.Join(dir, "key.pem"),
		"--smtp-auth-accept-any", "--smtp-disable-rdns", "--disable-version-check")
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mailpit: %w", err)
	}
	var waitErr error
	go func() { waitErr = s.cmd.Wait(); close(s.exited) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		res, err := http.Get(s.API + "/api/v1/info")
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if c, err := net.Dial("tcp", net.JoinHostPort(s.Host, strconv.Itoa(smtp))); err == nil {
				c.Close()
				if res.StatusCode == 200 {
					return s, nil
				}
			}
		}
		select {
		case <-s.exited:
			b, _ := os.ReadFile(log.Name())
			return nil, fmt.Errorf("mailpit exited: %v\n%s", waitErr, b)
		case <-ctx.Done():
			s.stop()
			return nil, errors.New("mailpit did not answer within a minute")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) stop() {
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
	os.RemoveAll(s.dir)
	http.DefaultClient.CloseIdleConnections()
}

// certificate writes a self-signed certificate for 127.0.0.1 and localhost
// and returns a pool that trusts it.
func certificate(dir string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}

// Address is a name and address as Mailpit reports them.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Message is a delivered email.
type Message struct {
	ID        string    `json:"ID"`
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	ReplyTo   []Address `json:"ReplyTo"`
	Subject   string    `json:"Subject"`
	Text      string    `json:"Text"`
	HTML      string    `json:"HTML"`
}

// Messages returns the emails delivered to an address, oldest first, with
// their bodies.
func (s *Server) Messages(t testing.TB, to string) []Message {
	t.Helper()
	var list struct {
		Messages []Message `json:"messages"`
	}
	s.get(t, "/api/v1/search?limit=1000&query="+url.QueryEscape("to:"+to), &list)
	out := make([]Message, 0, len(list.Messages))
	for i := len(list.Messages) - 1; i >= 0; i-- {
		var m Message
		s.get(t, "/api/v1/message/"+list.Messages[i].ID, &m)
		out = append(out, m)
	}
	return out
}

// Headers returns a delivered email's headers.
func (s *Server) Headers(t testing.TB, id string) map[string][]string {
	t.Helper()
	var h map[string][]string
	s.get(t, "/api/v1/message/"+id+"/headers", &h)
	return h
}

// Wait waits until at least n emails reached an address and returns them.
func (s *Server) Wait(t testing.TB, to string, n int) []Message {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ms := s.Messages(t, to)
		if len(ms) >= n {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: %d emails reached %s within a minute, want %d", len(ms), to, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) get(t testing.TB, path string, into any) {
	t.Helper()
	res, err := http.Get(s.API + path)
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("mailtest: GET %s: %s %s", path, res.Status, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("mailtest: GET %s: %v", path, err)
	}
}
