package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMInABurstLosesNothing stops the server with SIGTERM while
// visitors write without waiting for acks, transcripts are being read and a
// webhook's receiver keeps failing (its deliveries waiting to be retried):
// the server exits by itself within its shutdown timeout, with status 0, and
// after a restart every acknowledged message is there.
func TestSIGTERMInABurstLosesNothing(t *testing.T) {
	var refused atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		refused.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer receiver.Close()
	t.Setenv("NUDGE_WEBHOOKS_PRIVATE", "true")
	t.Setenv("NUDGE_SHUTDOWN_TIMEOUT", "5s")
	data, addr := t.TempDir(), freeAddr(t)
	p := startProcess(t, data, addr, "")

	cookie, csrf := demoSession(t, p.url)
	addWebhook(t, p.url, cookie, csrf, receiver.URL, "message.created")

	agent := agentOnline(t, p.url)
	defer agent.Close()
	var mu sync.Mutex
	acks := map[string][]acked{}
	tokens := map[string]string{}
	var wg sync.WaitGroup
	ackCount := make(chan struct{}, 100_000)
	for i := range 10 {
		c, conv, token := startVisitor(t, p.url, fmt.Sprint("t", i))
		defer c.Close()
		tokens[conv] = token
		sent := sync.Map{}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				id := fmt.Sprintf("s%d-%d", i, j)
				sent.Store(id, fmt.Sprint("burst ", j))
				if c.WriteJSON(map[string]any{"type": "send", "id": id, "client_id": id, "text": fmt.Sprint("burst ", j)}) != nil {
					return
				}
				time.Sleep(110 * time.Millisecond) // under the visitor rate limit
			}
		}()
		go func() {
			defer wg.Done()
			for {
				var f struct {
					Type string
					ID   string
					Data struct{ Seq int64 }
				}
				if c.ReadJSON(&f) != nil {
					return
				}
				if f.Type == "ack" {
					text, _ := sent.Load(f.ID)
					mu.Lock()
					acks[conv] = append(acks[conv], acked{f.Data.Seq, f.ID, text.(string)})
					mu.Unlock()
					ackCount <- struct{}{}
				}
			}
		}()
	}
	// Transcripts read while the server stops.
	stopReading := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stopReading:
				return
			default:
			}
			mu.Lock()
			var conv string
			for c := range tokens {
				conv = c
				break
			}
			mu.Unlock()
			req, _ := http.NewRequest("GET", p.url+"/api/conversations/"+conv+"/transcript", nil)
			req.Header.Set("Cookie", cookie)
			res, err := drained(http.DefaultClient.Do(req))
			if err != nil {
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
	for range 150 {
		<-ackCount
	}
	for refused.Load() == 0 { // a delivery failed: its retry waits
		time.Sleep(20 * time.Millisecond)
	}
	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the server exited with %v:\n%s", err, p.logs.String())
		}
	case <-time.After(5*time.Second + 10*time.Second): // the timeout, and a margin for a loaded machine
		t.Fatalf("the server did not exit within its shutdown timeout:\n%s", p.logs.String())
	}
	t.Logf("exited %v after SIGTERM", time.Since(began).Round(time.Millisecond))
	close(stopReading)
	wg.Wait()

	p = startProcess(t, data, addr, "")
	defer stopProcess(t, p)
	total := checkAcked(t, p.url, tokens, acks)
	t.Logf("%d acknowledged messages, all there after the restart", total)
}
