// Package loadgen drives a running nudge server through its real protocols
// and measures it: `nudge loadgen collect` posts analytics batches as browsers
// do. It only ever targets the URL it is given (loopback in this project's
// benchmarks), and every run is bounded in time.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// CollectOptions shape a /collect run.
type CollectOptions struct {
	URL         string        // the server, e.g. http://127.0.0.1:8080
	Site        string        // a site key
	Origin      string        // an allowed origin of the site (default: URL)
	Concurrency int           // requests in flight
	Duration    time.Duration // how long to send
	Batch       int           // events per request
	Visitors    int           // distinct visitors simulated
	Metrics     Metrics       // where the server's metrics are read
	// Heavy fills each batch to the body limit with events of long, distinct
	// titles, names and properties: the flood an attacker would send.
	Heavy bool
	// Addresses spreads the workers over this many loopback source
	// addresses (127.0.0.1, .2, …), as clients of as many hosts.
	Addresses int
	// EventsPerDay, if set, first raises the site's daily event budget
	// (settings.events_per_day) to this: at the default, 200,000 a day, a
	// run at full speed is over budget within seconds and measures the
	// dropping of events, not their storing. It needs an owner's or admin's
	// Token, or Email and Password.
	EventsPerDay int
	// Identify adds to every batch its visitor's identify event, signed
	// with the site's identity secret (read with the login), as a site whose
	// visitors are logged in sends: each links a contact.
	Identify               bool
	Token, Email, Password string
	// Secret is the site's identity secret, which signs the identify events
	// (Identify reads it with the login; Bodies takes it as given).
	Secret string
}

// Metrics says where a server's Prometheus metrics are: its --metrics-addr
// as a URL, or its /metrics with the --metrics-token.
type Metrics struct {
	URL   string // default: the server's URL + /metrics
	Token string
}

func (m Metrics) or(server string) Metrics {
	if m.URL == "" {
		m.URL = server + "/metrics"
	}
	return m
}

// CollectReport is what a run measured.
type CollectReport struct {
	Requests       int64
	Accepted       int64 // events the server accepted (202)
	Refused        int64 // requests refused as overload (503, 429)
	Failed         int64 // other failures
	Elapsed        time.Duration
	Persisted      int64         // events committed, per the server's metrics
	PersistElapsed time.Duration // until the server's queue drained
	P50, P99, Max  time.Duration
	PeakRSS        int64         // bytes, the server's resident memory at its highest
	GCCycles       int64         // the server's garbage collections during the run
	CPU            time.Duration // the server's CPU time (user and system) during the run
}

// CPUPerEvent is the server's CPU time per persisted event: steadier than
// the rate on a machine the load generator shares.
func (r CollectReport) CPUPerEvent() time.Duration {
	if r.Persisted == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Persisted)
}

// AcceptedPerSec and PersistedPerSec are the run's rates.
func (r CollectReport) AcceptedPerSec() float64 { return float64(r.Accepted) / r.Elapsed.Seconds() }
func (r CollectReport) PersistedPerSec() float64 {
	return float64(r.Persisted) / r.PersistElapsed.Seconds()
}

func (r CollectReport) String() string {
	return fmt.Sprintf(`requests      %d (%d refused as overload, %d failed)
accepted      %d events, %.0f events/s over %s
persisted     %d events, %.0f events/s until the queue drained (%s)
latency       p50 %s  p99 %s  max %s
server memory peak RSS %.1f MiB, %d garbage collections, CPU %s (%s an event)`,
		r.Requests, r.Refused, r.Failed,
		r.Accepted, r.AcceptedPerSec(), r.Elapsed.Round(time.Millisecond),
		r.Persisted, r.PersistedPerSec(), r.PersistElapsed.Round(time.Millisecond),
		r.P50, r.P99, r.Max, float64(r.PeakRSS)/(1<<20), r.GCCycles, r.CPU.Round(time.Millisecond), r.CPUPerEvent())
}

var agents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
}

var paths = []string{"/", "/pricing", "/billing", "/checkout", "/help", "/blog/a", "/blog/b", "/about"}

// Collect runs the /collect load and reports. progress, if not nil, gets a
// line per second.
func Collect(ctx context.Context, o CollectOptions, progress io.Writer) (CollectReport, error) {
	if o.Origin == "" {
		o.Origin = o.URL
	}
	o.Concurrency, o.Batch, o.Visitors = max(o.Concurrency, 1), min(max(o.Batch, 1), 100), max(o.Visitors, 1)
	client := newClient(o.Concurrency, 0)
	if o.EventsPerDay > 0 || o.Identify {
		if err := prepareSite(client, &o); err != nil {
			return CollectReport{}, err
		}
	}
	before, err := scrape(ctx, client, o.Metrics.or(o.URL))
	if err != nil {
		return CollectReport{}, fmt.Errorf("loadgen: read the server's metrics first: %w", err)
	}
	var rep CollectReport
	var peak atomic.Int64
	peak.Store(int64(before["process_resident_memory_bytes"]))
	// The bodies are made before the clock starts: heavy ones take seconds.
	n := 3 * o.Visitors
	if o.Heavy {
		n = min(n, 256) // 16 MiB of distinct 64 KiB batches
	}
	pool := bodies(o, n)
	runCtx, stop := context.WithTimeout(ctx, o.Duration)
	defer stop()
	done := make(chan struct{})
	go watch(runCtx, client, o.Metrics.or(o.URL), &peak, &rep, progress, done)

	hists := make([]*hdrhistogram.Histogram, o.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.Concurrency {
		hists[w] = hdrhistogram.New(1, int64(30*time.Second/time.Microsecond), 3)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := client
			if o.Addresses > 1 {
				c = newClient(1, 1+w%o.Addresses)
			}
			worker(runCtx, c, o, w, pool, hists[w], &rep)
		}(w)
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	// The run is over; wait for the server to commit what it accepted.
	var after map[string]float64
	for deadline := time.Now().Add(2 * time.Minute); ; {
		after, err = scrape(ctx, client, o.Metrics.or(o.URL))
		if err != nil {
			return rep, fmt.Errorf("loadgen: read the server's metrics: %w", err)
		}
		if after["nudge_analytics_events_queued"] == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	rep.PersistElapsed = time.Since(start)
	<-done
	rep.Persisted = int64(after["nudge_analytics_events_persisted_total"] - before["nudge_analytics_events_persisted_total"])
	rep.GCCycles = int64(after["go_gc_duration_seconds_count"] - before["go_gc_duration_seconds_count"])
	rep.CPU = time.Duration((after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"]) * float64(time.Second))
	all := hdrhistogram.New(1, int64(30*time.Second/time.Microsecond), 3)
	for _, h := range hists {
		all.Merge(h)
	}
	rep.P50 = time.Duration(all.ValueAtQuantile(50)) * time.Microsecond
	rep.P99 = time.Duration(all.ValueAtQuantile(99)) * time.Microsecond
	rep.Max = time.Duration(all.Max()) * time.Microsecond
	rep.PeakRSS = peak.Load()
	return rep, nil
}

// newClient is an HTTP client of n connections, from 127.0.0.src when src > 0.
func newClient(n, src int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if src > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(src))}
	}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: n, MaxConnsPerHost: n, DisableCompression: true},
		Timeout: 30 * time.Second}
}

// heavyEvent is an event of about 600 bytes, every value distinct.
func heavyEvent(body *bytes.Buffer, r *rand.Rand) {
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[r.IntN(36)]
		}
		return string(b)
	}
	fmt.Fprintf(body, `{"type":"event","name":"%s","url":"https://shop.test/p/%s","title":"%s","props":{"%s":"%s","%s":"%s"}}`,
		word(50), word(40), word(200), word(30), word(80), word(30), word(80))
}

// Bodies are n request bodies as o describes them (Heavy: a flood's), for a
// caller that sends them itself (a test that floods until a condition holds).
func Bodies(o CollectOptions, n int) [][]byte {
	o.Batch = min(max(o.Batch, 1), 100)
	o.Visitors = max(o.Visitors, 1)
	return bodies(o, n)
}

// bodies pre-builds request bodies, so that the generator spends its CPU on
// sending rather than formatting (it shares the machine with the server).
func bodies(o CollectOptions, n int) [][]byte {
	r := rand.New(rand.NewPCG(7, 42))
	out := make([][]byte, n)
	var body bytes.Buffer
	for k := range out {
		v := r.IntN(o.Visitors)
		body.Reset()
		fmt.Fprintf(&body, `{"site":%q,"visitor":"lg%d","visit":"lg%d-%d","visit_n":1,"lang":"en-US","screen":"1440x900","events":[`,
			o.Site, v, v, k%3)
		if o.Secret != "" {
			// The logged-in visitor's identify, as the snippet sends it on each page.
			user := fmt.Sprintf("user-%d", v)
			mac := hmac.New(sha256.New, []byte(o.Secret))
			mac.Write([]byte(user))
			fmt.Fprintf(&body, `{"type":"identify","url":"https://shop.test/","user":{"id":%q,"email":"%s@example.com","name":"Load Visitor %d"},"hash":"%x"},`,
				user, user, v, mac.Sum(nil))
		}
		for i := range o.Batch {
			if i > 0 {
				body.WriteByte(',')
			}
			p := paths[r.IntN(len(paths))]
			if o.Heavy {
				heavyEvent(&body, r)
				continue
			}
			switch r.IntN(4) {
			case 0:
				fmt.Fprintf(&body, `{"type":"event","name":"click","url":"https://shop.test%s","props":{"button":"b%d"}}`, p, r.IntN(5))
			case 1:
				fmt.Fprintf(&body, `{"type":"leave","url":"https://shop.test%s","engaged_ms":%d,"scroll":%d}`, p, r.IntN(60000), r.IntN(101))
			default:
				fmt.Fprintf(&body, `{"type":"pageview","url":"https://shop.test%s","ref":"https://www.google.com/","title":"Page"}`, p)
			}
		}
		body.WriteString("]}")
		out[k] = bytes.Clone(body.Bytes())
	}
	return out
}

func worker(ctx context.Context, client *http.Client, o CollectOptions, w int, pool [][]byte, h *hdrhistogram.Histogram, rep *CollectReport) {
	r := rand.New(rand.NewPCG(uint64(w), 42))
	for ctx.Err() == nil {
		k := r.IntN(len(pool))
		req, _ := http.NewRequestWithContext(ctx, "POST", o.URL+"/collect", bytes.NewReader(pool[k]))
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		req.Header.Set("Origin", o.Origin)
		req.Header.Set("User-Agent", agents[k%len(agents)])
		t0 := time.Now()
		res, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				atomic.AddInt64(&rep.Failed, 1)
			}
			continue
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		h.RecordValue(time.Since(t0).Microseconds())
		atomic.AddInt64(&rep.Requests, 1)
		switch {
		case res.StatusCode == http.StatusAccepted:
			atomic.AddInt64(&rep.Accepted, int64(o.events()))
		case res.StatusCode == http.StatusServiceUnavailable || res.StatusCode == http.StatusTooManyRequests:
			atomic.AddInt64(&rep.Refused, 1)
			time.Sleep(10 * time.Millisecond)
		default:
			atomic.AddInt64(&rep.Failed, 1)
		}
	}
}

// watch samples the server's memory and prints progress once a second.
func watch(ctx context.Context, client *http.Client, url Metrics, peak *atomic.Int64, rep *CollectReport, progress io.Writer, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var last int64
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m, err := scrape(ctx, client, url)
		if err != nil {
			continue
		}
		if rss := int64(m["process_resident_memory_bytes"]); rss > peak.Load() {
			peak.Store(rss)
		}
		if progress != nil && n%4 == 0 {
			acc := atomic.LoadInt64(&rep.Accepted)
			fmt.Fprintf(progress, "%3ds  accepted %8d  (%6d/s)  queued %6.0f  rss %5.1f MiB\n", n/4, acc, acc-last,
				m["nudge_analytics_events_queued"], m["process_resident_memory_bytes"]/(1<<20))
			last = acc
		}
	}
}

// scrape reads the plain (unlabelled) samples of the server's metrics.
func scrape(ctx context.Context, client *http.Client, m Metrics) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", m.URL, nil)
	if err != nil {
		return nil, err
	}
	if m.Token != "" {
		req.Header.Set("Authorization", "Bearer "+m.Token)
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s (the server serves metrics with --metrics-addr or --metrics-token)", m.URL, res.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = f
		}
	}
	return out, sc.Err()
}

// events is the number of events in each request.
func (o CollectOptions) events() int {
	if o.Secret != "" {
		return o.Batch + 1 // and its identify
	}
	return o.Batch
}

// prepareSite raises the daily event budget of the site o.Site names
// (EventsPerDay) and reads its identity secret (Identify).
func prepareSite(client *http.Client, o *CollectOptions) error {
	auth, err := authorize(client, o.URL, o.Token, o.Email, o.Password)
	if err != nil {
		return err
	}
	call := func(method, path string, in, out any) error {
		var body io.Reader
		if in != nil {
			b, _ := json.Marshal(in)
			body = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, o.URL+path, body)
		auth(req)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("loadgen: %s %s: %w", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		if res.StatusCode != 200 {
			return fmt.Errorf("loadgen: %s %s: %s %s", method, path, res.Status, b)
		}
		return json.Unmarshal(b, out)
	}
	for cursor := ""; ; {
		var sites struct {
			Items []struct {
				ID       string         `json:"id"`
				Key      string         `json:"key"`
				Settings map[string]any `json:"settings"`
			} `json:"items"`
			Next string `json:"next_cursor"`
		}
		if err := call("GET", "/api/sites?limit=200&cursor="+url.QueryEscape(cursor), nil, &sites); err != nil {
			return err
		}
		for _, s := range sites.Items {
			if s.Key != o.Site {
				continue
			}
			if o.Identify {
				var secret struct {
					IdentitySecret string `json:"identity_secret"`
				}
				if err := call("GET", "/api/sites/"+s.ID+"/secret", nil, &secret); err != nil {
					return err
				}
				o.Secret = secret.IdentitySecret
			}
			if o.EventsPerDay == 0 {
				return nil
			}
			s.Settings["events_per_day"] = o.EventsPerDay
			return call("PATCH", "/api/sites/"+s.ID, map[string]any{"settings": s.Settings}, &struct{}{})
		}
		if cursor = sites.Next; cursor == "" {
			return fmt.Errorf("loadgen: no site with the key %q among this login's sites", o.Site)
		}
	}
}
