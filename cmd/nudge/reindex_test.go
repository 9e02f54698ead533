package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/search"
	"github.com/nudgehq/nudge/search/searchtest"
	"github.com/nudgehq/nudge/store"
)

// TestReindexStoppedBySIGTERMGoesOn stops `nudge reindex` into
// Elasticsearch with SIGTERM while one of its index calls is in flight: it
// exits at once, saying how to go on; run again, it goes on from the page
// where it stopped, and every message is in the index once.
func TestReindexStoppedBySIGTERMGoesOn(t *testing.T) {
	const messages = 1200 // more than two of the store's pages of 500
	data := t.TempDir()
	tenant := storeWithMessages(t, data, messages)

	es := searchtest.Shared(t)
	opts := searchtest.Options(t)
	target, err := url.Parse(es.URL)
	if err != nil {
		t.Fatal(err)
	}
	// In front of the search server, a proxy that holds the second bulk
	// request until the reindex gives up on it.
	var bulks atomic.Int32
	held := make(chan struct{})
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_bulk") && bulks.Add(1) == 2 {
			io.Copy(io.Discard, r.Body) // the server sees the client go only after the body
			close(held)
			<-r.Context().Done() // the client went
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	frontURL := front.URL + target.Path

	reindex := func(searchURL string) (*exec.Cmd, *bytes.Buffer, *syncBuffer) {
		var out bytes.Buffer
		errOut := &syncBuffer{}
		cmd := exec.Command(os.Args[0], "reindex", "--data", data, "--search-url", searchURL, "--search-prefix", opts.Prefix)
		cmd.Env = append(os.Environ(), "NUDGE_TEST_AS_NUDGE=1", "NUDGE_SEARCH_USERNAME="+opts.Username,
			"NUDGE_SEARCH_PASSWORD="+opts.Password, "NUDGE_SEARCH_API_KEY="+opts.APIKey)
		cmd.Stdout, cmd.Stderr = &out, errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out, errOut
	}

	cmd, _, errOut := reindex(frontURL)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-held:
	case err := <-exited:
		t.Fatalf("reindex ended before its second index call: %v\n%s", err, errOut.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("a stopped reindex exited with %v", err)
		}
	case <-time.After(30 * time.Second): // far more than it needs: the index call is abandoned at once
		cmd.Process.Kill()
		t.Fatalf("reindex went on after SIGTERM:\n%s", errOut.String())
	}
	if !strings.Contains(errOut.String(), "interrupted: run nudge reindex again to go on from where it stopped") {
		t.Fatalf("a stopped reindex says:\n%s", errOut.String())
	}

	cmd, out, errOut := reindex(frontURL) // the same target: a position is kept per index
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the second reindex: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), fmt.Sprintf("going on from message 500 of %d", messages)) {
		t.Errorf("the second reindex did not go on from the first page:\n%s", errOut.String())
	}
	if want := fmt.Sprintf("reindexed %d messages", messages); !strings.Contains(out.String(), want) {
		t.Errorf("the second reindex says %q; want %q", out.String(), want)
	}

	// Every message is in the index, once.
	ctx := context.Background()
	_, ring := openData(t, data)
	ix, err := ops.OpenSearch(ctx, ops.Config{DataDir: data, SearchURL: es.URL, SearchUsername: opts.Username,
		SearchPassword: opts.Password, SearchAPIKey: opts.APIKey, SearchPrefix: opts.Prefix}, ring, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	var seen map[string]int
	for deadline := time.Now().Add(30 * time.Second); ; {
		seen = map[string]int{}
		q := search.Query{Tenant: tenant, Text: "stored", Limit: 100}
		for {
			r, err := ix.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range r.Hits {
				seen[fmt.Sprint(h.ConversationID, "/", h.Seq)]++
			}
			if r.Next == "" {
				break
			}
			q.Cursor = r.Next
		}
		if len(seen) == messages || time.Now().After(deadline) {
			break
		}
	}
	if len(seen) != messages {
		t.Fatalf("%d of %d messages in the index", len(seen), messages)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s found %d times", k, n)
		}
	}
}

// storeWithMessages makes a data folder with one tenant whose conversations
// hold n messages, and returns the tenant.
func storeWithMessages(t *testing.T, data string, n int) string {
	t.Helper()
	ctx := context.Background()
	st, ring := openData(t, data)
	st.SetSealer(ring)
	tn, err := st.CreateTenant(ctx, store.System, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	site, err := st.CreateSite(ctx, store.System, store.Site{TenantID: tn.ID, Name: "shop", Theme: store.DefaultSiteTheme})
	if err != nil {
		t.Fatal(err)
	}
	var convs []string
	for i := range 3 {
		c, err := st.CreateConversation(ctx, store.Conversation{TenantID: tn.ID, SiteID: site.ID, Visitor: fmt.Sprint("visitor", i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		convs = append(convs, c.ID)
	}
	log := chat.NewLog(st, ring, nil)
	defer log.Close()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { // concurrent, so that they commit in groups
			defer wg.Done()
			if _, err := log.Append(ctx, tn.ID, chat.Message{ConversationID: convs[i%len(convs)], Sender: chat.Sender{Kind: "visitor", ID: "visitor"},
				Kind: chat.KindText, Audience: chat.AudienceAll, Text: fmt.Sprintf("stored message %d", i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	return tn.ID
}
