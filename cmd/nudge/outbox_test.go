package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
)

// hookReceiver records the webhook deliveries it gets: the id of each, and
// which event about what.
type hookReceiver struct {
	mu   sync.Mutex
	ids  map[string]string // "conversation/seq" or "created/conversation" → the webhook-id it came with
	dups []string          // the same event under another id
	n    int
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var p struct {
		Type string
		Data struct {
			ConversationID string `json:"conversation_id"`
			Seq            int64
			Conversation   struct{ ID string }
		}
	}
	json.Unmarshal(body, &p)
	key := fmt.Sprintf("%s/%d", p.Data.ConversationID, p.Data.Seq)
	if p.Type == "conversation.created" {
		key = "created/" + p.Data.Conversation.ID
	}
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	if had, ok := r.ids[key]; ok && had != id {
		r.dups = append(r.dups, key)
	}
	r.ids[key] = id
	r.n++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// TestSIGKILLLosesNoWebhookEvent: webhook events are written in the
// transactions of the changes they report. The server is killed with SIGKILL
// in the middle of a chat burst; after the restart, the receiver gets an
// event for every message and conversation the store committed, each under
// one id (a repeat, at least once, carries the same id).
func TestSIGKILLLosesNoWebhookEvent(t *testing.T) {
	rec := &hookReceiver{ids: map[string]string{}}
	receiver := httptest.NewServer(rec)
	defer receiver.Close()
	t.Setenv("NUDGE_WEBHOOKS_PRIVATE", "true") // the receiver is on loopback
	data, addr := t.TempDir(), freeAddr(t)
	p := startProcess(t, data, addr, "")

	cookie, csrf := demoSession(t, p.url)
	addWebhook(t, p.url, cookie, csrf, receiver.URL+"/hook", "conversation.created", "message.created")

	agent := agentOnline(t, p.url)
	defer agent.Close()
	var acks sync.WaitGroup
	acked := make(chan struct{}, 100_000)
	for i := range 20 {
		c, _, err := fws.DefaultDialer.Dial(strings.Replace(p.url, "http", "ws", 1)+"/ws/visitor?site=demo", http.Header{"Origin": {p.url}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.WriteJSON(map[string]any{"type": "start", "visitor": fmt.Sprint("w", i)})
		acks.Add(2)
		go func() { // a burst, without waiting for acks
			defer acks.Done()
			for j := 0; ; j++ {
				if c.WriteJSON(map[string]any{"type": "send", "id": fmt.Sprint(j), "client_id": fmt.Sprint(i, "-", j), "text": fmt.Sprint("message ", j)}) != nil {
					return
				}
				time.Sleep(110 * time.Millisecond) // under the visitor rate limit
			}
		}()
		go func() {
			defer acks.Done()
			for {
				var f struct{ Type string }
				if c.ReadJSON(&f) != nil {
					return
				}
				if f.Type == "ack" {
					acked <- struct{}{}
				}
			}
		}()
	}
	for range 300 { // killed once 300 messages are acknowledged
		<-acked
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	acks.Wait()
	rec.mu.Lock()
	before := rec.n
	rec.mu.Unlock()

	p = startProcess(t, data, addr, "")
	defer stopProcess(t, p)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "nudge.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var want []string
	rows, err := db.Query(`SELECT conversation_id, seq FROM messages UNION ALL SELECT 'created', id FROM conversations`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, b string
		rows.Scan(&a, &b)
		want = append(want, a+"/"+b)
	}
	rows.Close()
	missing := func() []string {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var out []string
		for _, k := range want {
			if _, ok := rec.ids[k]; !ok {
				out = append(out, k)
			}
		}
		return out
	}
	deadline := time.Now().Add(2 * time.Minute) // a guard: deliveries resume within seconds
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if m := missing(); len(m) > 0 {
		t.Fatalf("%d of %d committed events never reached the receiver, e.g. %v:\n%s", len(m), len(want), m[:min(len(m), 5)], p.logs.String())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.dups) > 0 {
		t.Fatalf("events delivered under two ids: %v", rec.dups[:min(len(rec.dups), 5)])
	}
	t.Logf("%d events committed; %d deliveries before the kill, %d in all", len(want), before, rec.n)
}
