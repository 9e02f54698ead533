package server

import (
	"strings"
	"testing"
)

func TestPublicURLFromAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		tls  bool
		want string
	}{
		{"127.0.0.1:8080", false, "http://localhost:8080"},
		{"127.0.0.1:18092", false, "http://localhost:18092"},
		{"0.0.0.0:9000", false, "http://localhost:9000"},
		{":443", true, "https://localhost"},
		{"[::1]:80", false, "http://localhost"},
		{"chat.example.com:8443", true, "https://chat.example.com:8443"},
	} {
		c := DefaultConfig()
		c.Addr, c.DataDir = tc.addr, t.TempDir()
		if tc.tls {
			c.TLSCert, c.TLSKey = "c.pem", "k.pem"
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.PublicURL != tc.want {
			t.Errorf("%s (tls %v): %s; want %s", tc.addr, tc.tls, c.PublicURL, tc.want)
		}
		if w := c.Warnings(); len(w) != 0 {
			t.Errorf("%s: a derived URL warns: %v", tc.addr, w)
		}
	}
}

// A public URL on this machine with another port than nudge's is a mistake
// the log names at start; one behind a proxy is not.
func TestPublicURLMismatchWarns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		public, addr string
		warn         bool
	}{
		{"http://localhost:8080", "127.0.0.1:18092", true},
		{"http://127.0.0.1:8080", "0.0.0.0:9000", true},
		{"http://localhost:18092", "127.0.0.1:18092", false},
		{"https://chat.example.com", "0.0.0.0:8080", false},
		{"http://localhost", "127.0.0.1:80", false},
	} {
		c := DefaultConfig()
		c.Addr, c.PublicURL, c.DataDir = tc.addr, tc.public, t.TempDir()
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		w := c.Warnings()
		if (len(w) > 0) != tc.warn || tc.warn && !strings.Contains(w[0], tc.addr) {
			t.Errorf("%s on %s: warnings %v", tc.public, tc.addr, w)
		}
	}
}

// Numbers that cannot be are refused with the setting named.
func TestConfigRefusesImpossibleNumbers(t *testing.T) {
	t.Parallel()
	for name, set := range map[string]func(*Config){
		"procs":           func(c *Config) { c.Procs = -1 },
		"memory-limit":    func(c *Config) { c.MemoryLimitMiB = 10 },
		"collect-ip-rate": func(c *Config) { c.CollectIPRate = -1 },
	} {
		c := DefaultConfig()
		c.DataDir = t.TempDir()
		set(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v; want an error naming it", name, err)
		}
	}
	c := DefaultConfig()
	c.DataDir, c.Procs = t.TempDir(), 3
	if err := c.Validate(); err != nil {
		t.Fatalf("procs 3: %v", err)
	}
}
