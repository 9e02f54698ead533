package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	fws "github.com/fasthttp/websocket"
)

// ChatOptions shape a chat run.
type ChatOptions struct {
	URL           string // the server
	Site          string // a site key
	Origin        string // an allowed origin of the site (default: URL)
	Token         string // an API token of an owner or admin: makes the bots' tokens
	Email         string // or an owner's or admin's console login
	Password      string
	Conversations int           // visitor/agent pairs
	PerAgent      int           // conversations one agent connection carries
	Interval      time.Duration // between two messages of a conversation: the visitor writes every 2×Interval, the agent answers each
	Duration      time.Duration // how long messages flow once every conversation is open
	Ramp          int           // conversations opened per second
	// Nodes are the nodes of a cluster, URL among them: visitor i and bot
	// i connect to Nodes[i % len], so that most sockets are relayed to the
	// node that runs the site's tenant. Each node's metrics are read at
	// NODE/metrics with Metrics.Token, for the CPU the run took.
	Nodes []string
	// DebugURL is the server's --debug-addr as a URL: when set, the server
	// collects its garbage before each memory reading (pprof's heap?gc=1).
	DebugURL string
	Metrics  Metrics // where the server's metrics are read
}

// ChatReport is what a chat run measured.
type ChatReport struct {
	Conversations int   // opened
	Agents        int   // agent connections
	Sent          int64 // visitor messages sent
	Acked         int64 // acknowledged (committed) to the visitor
	Delivered     int64 // received by the agent
	Lost          int64 // acknowledged and never delivered
	Duplicated    int64 // delivered more than once
	Failed        int64 // refused or errors
	Replies       int64 // agent messages delivered to visitors
	P50, P99, Max time.Duration
	AckP50        time.Duration // visitor send to ack (the commit)
	AckP99        time.Duration
	IdleRSS       float64       // server resident bytes per idle visitor connection
	IdleHeap      float64       // server heap bytes per idle visitor connection
	IdleStack     float64       // server goroutine stack bytes per idle visitor connection
	CPU           time.Duration // the server's CPU (the nodes' in all) per message delivered, while messages flowed
	Nodes         int
	Elapsed       time.Duration
}

func (r ChatReport) String() string {
	return fmt.Sprintf(`conversations %d over %d agent connections
messages      %d sent, %d acknowledged, %d delivered, %d lost, %d duplicated, %d failed; %d agent replies delivered (%.0f messages/s in all)
latency       visitor→agent p50 %s  p99 %s  max %s;  send→ack p50 %s  p99 %s
idle memory   %.1f KiB heap + %.1f KiB stacks per visitor connection (server; RSS grew %.1f KiB each)
server CPU    %s per message delivered (%d node(s) in all)
elapsed       %s`,
		r.Conversations, r.Agents, r.Sent, r.Acked, r.Delivered, r.Lost, r.Duplicated, r.Failed, r.Replies, float64(r.Sent+r.Replies)/r.Elapsed.Seconds(),
		r.P50, r.P99, r.Max, r.AckP50, r.AckP99, r.IdleHeap/1024, r.IdleStack/1024, r.IdleRSS/1024, r.CPU.Round(100*time.Nanosecond), r.Nodes,
		r.Elapsed.Round(time.Millisecond))
}

// chatRun is one run's shared state.
type chatRun struct {
	o      ChatOptions
	auth   func(*http.Request) // adds the owner's or admin's credentials
	ws     []string            // the nodes' WebSocket base URLs
	dialer *fws.Dialer
	form   map[string]any // the tenant's pre-chat form, filled in as a visitor would

	// Nothing is shared on the hot path: a message carries its send time;
	// each bot and visitor keeps its own records, merged at the end.
	botsMu sync.Mutex
	bots   []*botStats
	ackMu  [16]sync.Mutex
	acks   [16]*hdrhistogram.Histogram

	sent, failed, replies, delivered atomic.Int64
}

// botStats is what one bot connection saw.
type botStats struct {
	received map[string]int // client id → times delivered
	lat      *hdrhistogram.Histogram
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
}

// Chat opens o.Conversations visitor connections and enough bot connections
// (API tokens made for the run, deleted after) to answer them, lets every
// visitor write every o.Interval for o.Duration, and reports delivery and
// latency. Bots accept each offer and answer each message.
func Chat(ctx context.Context, o ChatOptions, progress io.Writer) (ChatReport, error) {
	if o.Origin == "" {
		o.Origin = o.URL
	}
	r := &chatRun{o: o, dialer: &fws.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}}
	metrics := []Metrics{o.Metrics.or(o.URL)}
	if len(o.Nodes) == 0 {
		r.ws = []string{strings.Replace(o.URL, "http", "ws", 1)}
	} else {
		metrics = nil
		for _, n := range o.Nodes {
			r.ws = append(r.ws, strings.Replace(n, "http", "ws", 1))
			metrics = append(metrics, Metrics{URL: n + "/metrics", Token: o.Metrics.Token})
		}
	}
	cpu := func(ctx context.Context, client *http.Client) (float64, error) {
		sum := 0.0
		for _, m := range metrics {
			got, err := scrape(ctx, client, m)
			if err != nil {
				return 0, err
			}
			sum += got["process_cpu_seconds_total"]
		}
		return sum, nil
	}
	for i := range r.acks {
		r.acks[i] = newHistogram()
	}
	client := &http.Client{Timeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	auth, err := r.authorize(client)
	if err != nil {
		return ChatReport{}, err
	}
	r.auth = auth
	if r.form, err = r.fillForm(client); err != nil {
		return ChatReport{}, err
	}

	agents := (o.Conversations + o.PerAgent - 1) / o.PerAgent
	var tokens []string
	defer func() {
		for _, id := range tokens {
			req, _ := http.NewRequest("DELETE", o.URL+"/api/tokens/"+id, nil)
			r.auth(req)
			if res, err := client.Do(req); err == nil {
				res.Body.Close()
			}
		}
	}()
	var bots sync.WaitGroup
	var botConns []*fws.Conn
	for i := range agents {
		id, secret, err := r.makeToken(client, i)
		if err != nil {
			return ChatReport{}, err
		}
		tokens = append(tokens, id)
		c, res, err := r.dialer.DialContext(ctx, r.ws[i%len(r.ws)]+"/ws/agent", http.Header{"Authorization": {"Bearer " + secret}})
		if err != nil {
			if res != nil {
				b, _ := io.ReadAll(res.Body)
				err = fmt.Errorf("%s %s", res.Status, b)
			}
			return ChatReport{}, fmt.Errorf("loadgen: agent socket: %w", err)
		}
		botConns = append(botConns, c)
		defer c.Close()
		c.WriteJSON(map[string]any{"type": "hello", "status": "available"})
		bots.Add(1)
		go func() { defer bots.Done(); r.bot(c) }()
	}
	fmt.Fprintf(progress, "%d bot connections ready\n", agents)

	gc := func() {
		if o.DebugURL == "" {
			return
		}
		if res, err := client.Get(o.DebugURL + "/debug/pprof/heap?gc=1"); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}
	gc()
	before, err := scrape(ctx, client, o.Metrics.or(o.URL))
	if err != nil {
		return ChatReport{}, fmt.Errorf("loadgen: read the server's metrics: %w", err)
	}
	// Open the conversations, at the ramp rate; each visitor stays idle.
	visitors := make([]*visitor, 0, o.Conversations)
	tick := time.NewTicker(time.Second / time.Duration(max(o.Ramp, 1)))
	for i := range o.Conversations {
		<-tick.C
		v, err := r.open(ctx, i)
		if err != nil {
			tick.Stop()
			return ChatReport{}, err
		}
		defer v.c.Close()
		visitors = append(visitors, v)
		if (i+1)%1000 == 0 {
			fmt.Fprintf(progress, "%d conversations open\n", i+1)
		}
	}
	tick.Stop()
	time.Sleep(3 * time.Second) // let assignments settle
	gc()
	idle, err := scrape(ctx, client, o.Metrics.or(o.URL))
	if err != nil {
		return ChatReport{}, err
	}
	rep := ChatReport{Conversations: len(visitors), Agents: agents}
	rep.IdleRSS = (idle["process_resident_memory_bytes"] - before["process_resident_memory_bytes"]) / float64(len(visitors))
	rep.IdleHeap = (idle["go_memstats_heap_inuse_bytes"] - before["go_memstats_heap_inuse_bytes"]) / float64(len(visitors))
	rep.IdleStack = (idle["go_memstats_stack_inuse_bytes"] - before["go_memstats_stack_inuse_bytes"]) / float64(len(visitors))

	// Messages flow.
	cpuBefore, err := cpu(ctx, client)
	if err != nil {
		return ChatReport{}, fmt.Errorf("loadgen: read the nodes' metrics: %w", err)
	}
	start := time.Now()
	end := start.Add(o.Duration)
	var wg sync.WaitGroup
	for _, v := range visitors {
		wg.Add(1)
		go func() { defer wg.Done(); r.talk(ctx, v, end) }()
	}
	// Progress until the messages stop: the report is written after it, to the same writer.
	stopProgress, progressDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-stopProgress:
				return
			case <-t.C:
				fmt.Fprintf(progress, "%4.0fs  sent %7d  delivered %7d\n", time.Since(start).Seconds(), r.sent.Load(), r.delivered.Load())
			}
		}
	}()
	wg.Wait()
	close(stopProgress)
	<-progressDone
	time.Sleep(3 * time.Second) // deliveries in flight
	rep.Elapsed = time.Since(start)
	cpuAfter, err := cpu(ctx, client)
	if err != nil {
		return ChatReport{}, fmt.Errorf("loadgen: read the nodes' metrics: %w", err)
	}
	rep.Nodes = len(metrics)

	for _, c := range botConns {
		c.Close()
	}
	bots.Wait() // their records are final
	for _, v := range visitors {
		v.c.Close()
		<-v.done // and the visitors' (a late ack is recorded as it reads)
	}
	rep.Sent, rep.Failed, rep.Replies = r.sent.Load(), r.failed.Load(), r.replies.Load()
	received := map[string]int{}
	lat, ack := newHistogram(), newHistogram()
	for _, b := range r.bots {
		for id, n := range b.received {
			received[id] += n
		}
		lat.Merge(b.lat)
	}
	for _, h := range r.acks {
		ack.Merge(h)
	}
	for _, v := range visitors {
		for _, id := range v.acked {
			rep.Acked++
			if received[id] == 0 {
				rep.Lost++
			}
		}
	}
	for _, n := range received {
		rep.Delivered++
		if n > 1 {
			rep.Duplicated++
		}
	}
	us := func(h *hdrhistogram.Histogram, q float64) time.Duration {
		return time.Duration(h.ValueAtQuantile(q)) * time.Microsecond
	}
	rep.P50, rep.P99, rep.Max = us(lat, 50), us(lat, 99), time.Duration(lat.Max())*time.Microsecond
	rep.AckP50, rep.AckP99 = us(ack, 50), us(ack, 99)
	if n := rep.Delivered + rep.Replies; n > 0 {
		rep.CPU = time.Duration((cpuAfter - cpuBefore) / float64(n) * float64(time.Second))
	}
	return rep, nil
}

func (r *chatRun) authorize(client *http.Client) (func(*http.Request), error) {
	return authorize(client, r.o.URL, r.o.Token, r.o.Email, r.o.Password)
}

// authorize returns what signs a run's API calls: the token, or a console
// session opened with the email and password.
func authorize(client *http.Client, server, token, email, password string) (func(*http.Request), error) {
	if token != "" {
		return func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+token) }, nil
	}
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	res, err := client.Post(server+"/api/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("loadgen: log in: %w", err)
	}
	defer res.Body.Close()
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&out) != nil {
		return nil, fmt.Errorf("loadgen: log in as %s: %s", email, res.Status)
	}
	var cookie string
	for _, c := range res.Cookies() {
		if strings.HasSuffix(c.Name, "nudge_session") {
			cookie = c.Name + "=" + c.Value
		}
	}
	return func(req *http.Request) {
		req.Header.Set("Cookie", cookie)
		req.Header.Set("X-CSRF-Token", out.CSRF)
		req.Header.Set("Origin", server)
	}, nil
}

// fillForm answers the tenant's pre-chat form and question (GET
// /chat/welcome/{key}) as a visitor would, so that conversations go straight
// to a queue: the first topic, and a value for each field.
func (r *chatRun) fillForm(client *http.Client) (map[string]any, error) {
	req, _ := http.NewRequest("GET", r.o.URL+"/chat/welcome/"+r.o.Site, nil)
	req.Header.Set("Origin", r.o.Origin)
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: the chat's welcome: %w", err)
	}
	defer res.Body.Close()
	var w struct {
		Topics []string
		Form   *struct {
			Fields []struct{ Kind, Key string }
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&w); err != nil || res.StatusCode != 200 {
		return nil, fmt.Errorf("loadgen: the chat's welcome: %s %v", res.Status, err)
	}
	form := map[string]any{}
	if len(w.Topics) > 0 {
		form["topic"] = w.Topics[0]
	}
	if w.Form != nil {
		fields := map[string]string{}
		for _, f := range w.Form.Fields {
			switch f.Kind {
			case "name":
				form["name"] = "Load Visitor"
			case "email":
				form["email"] = "load@example.com"
			default:
				fields[f.Key] = "1"
			}
		}
		if len(fields) > 0 {
			form["fields"] = fields
		}
	}
	return form, nil
}

func (r *chatRun) makeToken(client *http.Client, i int) (id, secret string, err error) {
	body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("loadgen bot %d", i), "role": "bot"})
	req, _ := http.NewRequest("POST", r.o.URL+"/api/tokens", bytes.NewReader(body))
	r.auth(req)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("loadgen: create a bot token: %w", err)
	}
	defer res.Body.Close()
	var out struct {
		Token  struct{ ID string } `json:"token"`
		Secret string              `json:"secret"`
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 201 || json.Unmarshal(b, &out) != nil {
		return "", "", fmt.Errorf("loadgen: create a bot token (does --token belong to an owner or admin?): %s %s", res.Status, b)
	}
	return out.Token.ID, out.Secret, nil
}

// bot accepts every offer and answers every visitor message; its writes go
// through a goroutine of their own so that reading never waits for them.
func (r *chatRun) bot(c *fws.Conn) {
	b := &botStats{received: map[string]int{}, lat: newHistogram()}
	r.botsMu.Lock()
	r.bots = append(r.bots, b)
	r.botsMu.Unlock()
	out := make(chan any, 4096)
	defer close(out)
	go func() {
		for f := range out {
			if c.WriteJSON(f) != nil {
				return
			}
		}
	}()
	n := 0
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return
		}
		var f struct {
			Type         string
			Conversation string
			Data         json.RawMessage
		}
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		switch f.Type {
		case "offer":
			out <- map[string]any{"type": "accept", "conversation": f.Conversation}
		case "message":
			var m struct {
				ClientID string `json:"client_id"`
				Text     string
				Sender   struct{ Kind string }
			}
			json.Unmarshal(f.Data, &m)
			if m.Sender.Kind != "visitor" || m.ClientID == "" {
				continue
			}
			b.received[m.ClientID]++
			if b.received[m.ClientID] == 1 {
				r.delivered.Add(1)
				if at, ok := sentAt(m.Text); ok {
					b.lat.RecordValue(max(time.Since(at).Microseconds(), 1))
				}
			}
			n++
			out <- map[string]any{"type": "send", "conversation": f.Conversation, "client_id": fmt.Sprint("r", n, "-", m.ClientID), "text": "Thanks, noted."}
		}
	}
}

// A visitor's message says when it was sent: "… @<unix nanoseconds>".
func sentAt(text string) (time.Time, bool) {
	_, ns, ok := strings.Cut(text, "@")
	n, err := strconv.ParseInt(ns, 10, 64)
	return time.Unix(0, n), ok && err == nil
}

type visitor struct {
	c      *fws.Conn
	i      int
	wmu    sync.Mutex
	done   chan struct{}
	mu     sync.Mutex
	sentAt map[string]time.Time // client id → when sent, until acknowledged
	acked  []string
}

// open starts a visitor's conversation and reads its frames.
func (r *chatRun) open(ctx context.Context, i int) (*visitor, error) {
	c, res, err := r.dialer.DialContext(ctx, r.ws[i%len(r.ws)]+"/ws/visitor?site="+r.o.Site, http.Header{"Origin": {r.o.Origin}})
	if err != nil {
		if res != nil {
			return nil, fmt.Errorf("loadgen: visitor socket %d: %s (raise the server's --chat-ip-rate, or lower --ramp)", i, res.Status)
		}
		return nil, fmt.Errorf("loadgen: visitor socket %d: %w", i, err)
	}
	v := &visitor{c: c, i: i, done: make(chan struct{}), sentAt: map[string]time.Time{}}
	c.WriteJSON(map[string]any{"type": "start", "visitor": fmt.Sprint("loadgen-", i), "meta": map[string]any{"vars": map[string]string{"loadgen": "1"}, "form": r.form}})
	go r.read(v)
	return v, nil
}

func (r *chatRun) read(v *visitor) {
	defer close(v.done)
	for {
		_, data, err := v.c.ReadMessage()
		if err != nil {
			return
		}
		var f struct {
			Type string
			ID   string
			Code string
			Data struct {
				Sender struct{ Kind string }
			}
		}
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		switch f.Type {
		case "ack":
			now := time.Now()
			v.mu.Lock()
			at, ok := v.sentAt[f.ID]
			if ok {
				delete(v.sentAt, f.ID)
				v.acked = append(v.acked, f.ID)
			}
			v.mu.Unlock()
			if ok {
				k := v.i % len(r.acks)
				r.ackMu[k].Lock()
				r.acks[k].RecordValue(max(now.Sub(at).Microseconds(), 1))
				r.ackMu[k].Unlock()
			}
		case "message":
			if f.Data.Sender.Kind == "bot" {
				r.replies.Add(1)
			}
		case "error":
			r.failed.Add(1)
		}
	}
}

// talk sends a message every two intervals (the first at a random point)
// until end; the agent's answers fill the intervals between.
func (r *chatRun) talk(ctx context.Context, v *visitor, end time.Time) {
	every := 2 * r.o.Interval
	wait := time.Duration(rand.Int64N(int64(every)))
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-v.done:
			return
		case <-time.After(wait):
		}
		if time.Now().After(end) {
			return
		}
		id := fmt.Sprintf("v%d-%d", v.i, n)
		now := time.Now()
		v.mu.Lock()
		v.sentAt[id] = now
		v.mu.Unlock()
		v.wmu.Lock()
		err := v.c.WriteJSON(map[string]any{"type": "send", "id": id, "client_id": id,
			"text": "Hello, a question about my order " + id + " @" + strconv.FormatInt(now.UnixNano(), 10)})
		v.wmu.Unlock()
		if err != nil {
			r.failed.Add(1)
			return
		}
		r.sent.Add(1)
		wait = every
	}
}

// ErrNoToken: a chat run needs an owner's or admin's credentials.
var ErrNoToken = errors.New("loadgen chat: --token, or --email and --password, of an owner or admin is required to create the bots")
