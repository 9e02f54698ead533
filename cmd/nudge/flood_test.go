package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nudgehq/nudge/loadgen"
)

// buildNudge builds the real binary as `make build` does (no race detector,
// whose shadow memory would be measured with it) once per test run.
var buildNudge = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "nudge-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nudge")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// TestCollectFloodIsBoundedInMemoryAndDisk floods /collect with the largest
// batches (64 KiB of long, distinct titles, names and properties) from 32
// addresses until the site's daily budget is spent and 100,000 more events
// have been turned away: the server's resident memory stays under 256 MiB at
// its peak, the site stores exactly its budget, and the data folder grows by
// that much, not by what was sent.
func TestCollectFloodIsBoundedInMemoryAndDisk(t *testing.T) {
	bin, err := buildNudge()
	if err != nil {
		t.Fatal(err)
	}
	data, addr := t.TempDir(), freeAddr(t)
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", addr, "--public-url", "http://"+addr, "--demo",
		"--metrics-token", "0123456789abcdef-metrics", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "NUDGE_ADMIN_PASSWORD=demo-password")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr
	for range 1200 {
		if res, err := drained(http.Get(url + "/readyz")); err == nil && res.StatusCode == 200 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The demo site's budget, small enough for a test machine's disk.
	const budget = 20_000
	owner := ownerClient(t, url)
	site := owner.get(t, "/api/sites")["items"].([]any)[0].(map[string]any)
	settings := site["settings"].(map[string]any)
	settings["events_per_day"] = budget
	owner.patch(t, "/api/sites/"+site["id"].(string), map[string]any{"settings": settings})
	before := folderSize(t, data)

	bodies := loadgen.Bodies(loadgen.CollectOptions{Site: "demo", Heavy: true, Batch: 100}, 64)
	var stop atomic.Bool
	var sent atomic.Int64
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+w))}}
			c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: time.Minute}
			defer c.CloseIdleConnections()
			for i := w; !stop.Load(); i++ {
				req, _ := http.NewRequest("POST", url+"/collect", bytes.NewReader(bodies[i%len(bodies)]))
				req.Header.Set("Origin", url)
				req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0")
				res, err := drained(c.Do(req))
				if err != nil {
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				sent.Add(1)
				if res.StatusCode == 429 || res.StatusCode == 503 {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Minute) // a guard: the condition comes in seconds
	for metric(t, url, "nudge_analytics_events_over_budget_total") < 100_000 {
		if time.Now().After(deadline) {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("the flood never spent the budget (%d requests sent):\n%s", sent.Load(), logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	for metric(t, url, "nudge_analytics_events_queued") > 0 {
		time.Sleep(50 * time.Millisecond)
	}

	peak := peakRSS(t, cmd.Process.Pid)
	t.Logf("%d requests; peak RSS %d MiB; data folder +%d MiB", sent.Load(), peak>>20, (folderSize(t, data)-before)>>20)
	if peak >= 256<<20 {
		t.Errorf("peak resident memory %d MiB; want under 256 MiB", peak>>20)
	}
	if n := metric(t, url, "nudge_analytics_events_persisted_total"); n != budget {
		t.Errorf("%d events stored; want the budget, %d", int(n), budget)
	}
	// 20,000 events of about 600 bytes, their indexes and the WAL (at most 64 MiB).
	if grew := folderSize(t, data) - before; grew > 100<<20 {
		t.Errorf("the data folder grew %d MiB", grew>>20)
	}
	summary := owner.get(t, "/api/sites/demo/reports/summary")
	if summary["dropped"].(float64) < 100_000 || summary["events_per_day"].(float64) != budget {
		t.Errorf("the dashboard's note: %v", summary)
	}
}

type apiClient struct {
	c    *http.Client
	url  string
	csrf string
}

func ownerClient(t *testing.T, url string) *apiClient {
	jar, _ := cookiejar.New(nil)
	a := &apiClient{c: &http.Client{Jar: jar}, url: url}
	res, err := a.c.Post(url+"/api/auth/login", "application/json", strings.NewReader(`{"email":"admin@localhost","password":"demo-password"}`))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login: %v %v", res, err)
	}
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	a.csrf = login.CSRF
	return a
}

func (a *apiClient) do(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.url+path, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", a.csrf)
	res, err := drained(a.c.Do(req))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, m)
	}
	return m
}

func (a *apiClient) get(t *testing.T, path string) map[string]any { return a.do(t, "GET", path, nil) }
func (a *apiClient) patch(t *testing.T, path string, body any) map[string]any {
	return a.do(t, "PATCH", path, body)
}

// metric reads one unlabelled sample of the server's metrics.
func metric(t *testing.T, url, name string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer 0123456789abcdef-metrics")
	res, err := drained(http.DefaultClient.Do(req))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// peakRSS is a process's highest resident memory (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

func folderSize(t *testing.T, dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
