package search

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// ElasticOptions configure the Elasticsearch backend.
type ElasticOptions struct {
	// URL of the cluster (or of any server that speaks its API, under its
	// path: http://host:4080/es for ZincSearch).
	URL                string
	Username, Password string // basic auth
	APIKey             string // instead of basic auth: the base64 "id:key"
	CACert             []byte // PEM, to trust a private CA
	// Prefix names the indices: <prefix>-messages-YYYY.MM (by the month a
	// message was written) and <prefix>-state; "nudge".
	Prefix string
	Logger *slog.Logger
}

// Elastic is the backend for scale: transcripts in an Elasticsearch
// cluster, one index per month (retention and an operator's lifecycle
// policy drop old months whole), words folded by Terms before they are sent
// (so every server folds case and accents the same way, and the same way as
// the embedded index). It uses only the part of the API that Elasticsearch 8
// and ZincSearch share: bulk, search with bool/term/match_phrase/prefix/range
// queries, sort, from/size, index templates.
type Elastic struct {
	// es is the SDK's transport; requests are the SDK's esapi request types
	// that this backend sends, one by one: the client and its API table
	// would bring every one of the hundreds of API types into the binary.
	es     esapi.Transport
	tr     *http.Transport
	o      ElasticOptions
	log    *slog.Logger
	ready  atomic.Bool // the template is in place
	setup  sync.Mutex
	failed atomic.Int64 // docs the cluster refused for good (a mapping error): skipped
}

// retried is what the client retries, with backoff: too many requests and
// a node or proxy that is down or overloaded.
var retried = []int{429, 502, 503, 504}

// OpenElastic makes a client for o.URL. It does not wait for the cluster:
// an unreachable one makes every call fail with ErrUnavailable until it
// answers (the feeder retries; chat goes on). A malformed URL is an error.
func OpenElastic(o ElasticOptions) (*Elastic, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("search: %q is not an http(s) URL of an Elasticsearch server", o.URL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("search: %s: give credentials in their own settings, not in the URL", u.Redacted())
	}
	if o.Prefix == "" {
		o.Prefix = "nudge"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 8
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	base, err := url.Parse(strings.TrimSuffix(o.URL, "/"))
	if err != nil {
		return nil, fmt.Errorf("search: %s: %w", u.Redacted(), err)
	}
	if len(o.CACert) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(o.CACert) {
			return nil, fmt.Errorf("search: %s: the CA file holds no PEM certificate", u.Redacted())
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	tp, err := elastictransport.New(elastictransport.Config{
		URLs:     []*url.URL{base},
		Username: o.Username, Password: o.Password, APIKey: o.APIKey,
		Transport:     tr,
		RetryOnStatus: retried,
		MaxRetries:    3,
		RetryBackoff: func(attempt int) time.Duration {
			d := 50 * time.Millisecond << min(attempt, 6)
			return d/2 + rand.N(d/2)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("search: %s: %w", u.Redacted(), err)
	}
	return &Elastic{es: tp, tr: tr, o: o, log: o.Logger}, nil
}

// Close closes the client's idle connections.
func (e *Elastic) Close() error {
	e.tr.CloseIdleConnections()
	return nil
}

func (e *Elastic) pattern() string { return e.o.Prefix + "-messages-*" }
func (e *Elastic) state() string   { return e.o.Prefix + "-state" }
func (e *Elastic) index(t time.Time) string {
	return e.o.Prefix + "-messages-" + t.UTC().Format("2006.01")
}

// template is the mapping of every month's index: keywords for what filters
// match exactly, words (already folded) split on spaces, the text as written
// (redacted) kept for people who read the index but not searched.
func (e *Elastic) template() map[string]any {
	kw := map[string]any{"type": "keyword"}
	return map[string]any{
		"index_patterns": []string{e.pattern()},
		"priority":       100,
		"template": map[string]any{
			"settings": map[string]any{
				"analysis": map[string]any{"analyzer": map[string]any{
					"nudge_words": map[string]any{"type": "custom", "tokenizer": "whitespace", "filter": []string{"lowercase"}},
				}},
			},
			"mappings": map[string]any{
				"dynamic": false,
				"properties": map[string]any{
					"tenant": kw, "conversation_id": kw, "seq": map[string]any{"type": "long"},
					"sender": kw, "audience": kw,
					"created_at": map[string]any{"type": "date", "format": "epoch_millis"},
					"words":      map[string]any{"type": "text", "analyzer": "nudge_words"},
					"text":       map[string]any{"type": "text", "index": false},
					"site":       kw, "visitor": kw, "queue": kw, "agents": kw, "disposition": kw,
					"closed": map[string]any{"type": "boolean"},
				},
			},
		},
	}
}

// ensure puts the index template in place once the cluster answers.
func (e *Elastic) ensure(ctx context.Context) error {
	if e.ready.Load() {
		return nil
	}
	e.setup.Lock()
	defer e.setup.Unlock()
	if e.ready.Load() {
		return nil
	}
	body, _ := json.Marshal(e.template())
	res, err := esapi.IndicesPutIndexTemplateRequest{Name: e.o.Prefix + "-messages", Body: bytes.NewReader(body)}.Do(ctx, e.es)
	if err := e.check(res, err, "put index template"); err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	e.ready.Store(true)
	return nil
}

// check turns a failed call into an error that says what the server said;
// the server not answering, or refusing us, is ErrUnavailable.
func (e *Elastic) check(res *esapi.Response, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, what, e.redactedURL(), err)
	}
	if !res.IsError() {
		return nil
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	err = fmt.Errorf("search: %s %s: %s: %s", what, e.redactedURL(), res.Status(), bytes.TrimSpace(msg))
	if res.StatusCode == 401 || res.StatusCode == 403 || res.StatusCode >= 500 || res.StatusCode == 429 {
		return errors.Join(ErrUnavailable, err)
	}
	return err
}

func (e *Elastic) redactedURL() string {
	u, _ := url.Parse(e.o.URL)
	return u.Redacted()
}

// esDoc is a message as the index holds it.
type esDoc struct {
	Tenant         string   `json:"tenant"`
	ConversationID string   `json:"conversation_id"`
	Seq            int64    `json:"seq"`
	Sender         string   `json:"sender,omitempty"`
	Audience       string   `json:"audience,omitempty"`
	CreatedAt      int64    `json:"created_at"`
	Words          string   `json:"words"`
	Text           string   `json:"text"`
	Site           string   `json:"site"`
	Visitor        string   `json:"visitor"`
	Queue          string   `json:"queue"`
	Agents         []string `json:"agents"`
	Disposition    string   `json:"disposition"`
	Closed         bool     `json:"closed"`
}

func docID(conv string, seq int64) string { return conv + ":" + strconv.FormatInt(seq, 10) }

// bulkItem is one action of a bulk request: index (with its body) or delete.
type bulkItem struct {
	action, index, id string
	body              []byte
}

// bulkBytes is how much one bulk request carries at most.
const bulkBytes = 4 << 20

// bulk sends items with the bulk API, a few MiB a request. An item the
// cluster could not take for now (429, 5xx) or a request that failed makes
// the whole call fail (the caller retries; writes are idempotent); an item
// it refuses for good (a 4xx: a document it cannot map) is logged, counted
// and skipped, so that one bad message cannot stop indexing.
func (e *Elastic) bulk(ctx context.Context, items []bulkItem, refresh bool) error {
	var body bytes.Buffer
	for len(items) > 0 {
		body.Reset()
		n := 0
		for n < len(items) && (n == 0 || body.Len()+len(items[n].body) < bulkBytes) {
			it := items[n]
			meta, _ := json.Marshal(map[string]map[string]string{it.action: {"_index": it.index, "_id": it.id}})
			body.Write(meta)
			body.WriteByte('\n')
			if it.action != "delete" {
				body.Write(it.body)
				body.WriteByte('\n')
			}
			n++
		}
		if err := e.bulkRequest(ctx, body.Bytes(), items[:n], refresh); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

func (e *Elastic) bulkRequest(ctx context.Context, body []byte, items []bulkItem, refresh bool) error {
	req := esapi.BulkRequest{Body: bytes.NewReader(body)}
	if refresh {
		req.Refresh = "true"
	}
	res, err := req.Do(ctx, e.es)
	if err := e.check(res, err, "bulk"); err != nil {
		return err
	}
	defer res.Body.Close()
	var out struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int `json:"status"`
			Error  struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return fmt.Errorf("%w: bulk %s: read the answer: %w", ErrUnavailable, e.redactedURL(), err)
	}
	if !out.Errors {
		return nil
	}
	var failure error
	for i, m := range out.Items {
		for action, r := range m {
			switch {
			case r.Status < 300:
			case action == "delete" && r.Status == 404:
				// gone already
			case r.Status == 429 || r.Status >= 500:
				if failure == nil {
					failure = fmt.Errorf("%w: bulk %s: %d %s: %s", ErrUnavailable, e.redactedURL(), r.Status, r.Error.Type, r.Error.Reason)
				}
			default:
				e.failed.Add(1)
				it := bulkItem{}
				if i < len(items) {
					it = items[i]
				}
				e.log.Error("search: the index refused a document; skipped", "index", it.index, "id", it.id,
					"status", r.Status, "type", r.Error.Type, "reason", r.Error.Reason)
			}
		}
	}
	return failure
}

// Index writes docs with the bulk API, then the checkpoint.
func (e *Elastic) Index(ctx context.Context, docs []Doc, checkpoint time.Time) error {
	if err := e.ensure(ctx); err != nil {
		return err
	}
	items := make([]bulkItem, 0, len(docs))
	for _, d := range docs {
		words := Terms(d.Text)
		if len(words) == 0 {
			continue
		}
		agents := d.Conv.Agents
		if agents == nil {
			agents = []string{}
		}
		body, err := json.Marshal(esDoc{Tenant: d.Tenant, ConversationID: d.ConversationID, Seq: d.Seq, Sender: d.SenderKind,
			Audience: d.Audience, CreatedAt: d.CreatedAt.UnixMilli(), Words: strings.Join(words, " "), Text: d.Text,
			Site: d.Conv.Site, Visitor: d.Conv.Visitor, Queue: d.Conv.Queue, Agents: agents,
			Disposition: d.Conv.Disposition, Closed: d.Conv.Closed})
		if err != nil {
			return fmt.Errorf("search: encode doc: %w", err)
		}
		items = append(items, bulkItem{action: "index", index: e.index(d.CreatedAt), id: docID(d.ConversationID, d.Seq), body: body})
	}
	if err := e.bulk(ctx, items, false); err != nil {
		return err
	}
	if checkpoint.IsZero() {
		return nil
	}
	body, _ := json.Marshal(map[string]int64{"checkpoint": checkpoint.UnixMilli()})
	res, err := esapi.IndexRequest{Index: e.state(), DocumentID: "checkpoint", Body: bytes.NewReader(body), Refresh: "true"}.Do(ctx, e.es)
	if err := e.check(res, err, "write checkpoint"); err != nil {
		return err
	}
	res.Body.Close()
	return nil
}

// Checkpoint reads the checkpoint document (by a search: ZincSearch has no
// get by id in its Elasticsearch API).
func (e *Elastic) Checkpoint(ctx context.Context) (time.Time, error) {
	var out struct {
		Hits struct {
			Hits []struct {
				Source struct {
					Checkpoint int64 `json:"checkpoint"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := e.searchIn(ctx, e.state()+"*", map[string]any{"query": map[string]any{"match_all": map[string]any{}}, "size": 1}, &out); err != nil {
		return time.Time{}, err
	}
	if len(out.Hits.Hits) == 0 || out.Hits.Hits[0].Source.Checkpoint == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(out.Hits.Hits[0].Source.Checkpoint), nil
}

type esHits struct {
	Hits struct {
		Total struct {
			Value int64 `json:"value"`
		} `json:"total"`
		Hits []struct {
			Index  string `json:"_index"`
			ID     string `json:"_id"`
			Source struct {
				ConversationID string `json:"conversation_id"`
				Seq            int64  `json:"seq"`
				CreatedAt      int64  `json:"created_at"`
			} `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
}

// search runs one search request over every month.
func (e *Elastic) search(ctx context.Context, body map[string]any) (esHits, error) {
	var out esHits
	err := e.searchIn(ctx, e.pattern(), body, &out)
	return out, err
}

func (e *Elastic) searchIn(ctx context.Context, index string, body map[string]any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("search: encode query: %w", err)
	}
	yes := true
	res, err := esapi.SearchRequest{Index: []string{index}, Body: bytes.NewReader(b), IgnoreUnavailable: &yes, AllowNoIndices: &yes}.Do(ctx, e.es)
	if err == nil && res.StatusCode == 400 {
		// ZincSearch answers a pattern that matches no index yet (nothing
		// written) with an error where Elasticsearch finds nothing.
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
		res.Body.Close()
		if bytes.Contains(msg, []byte("no index found")) {
			return nil
		}
		res.Body = io.NopCloser(bytes.NewReader(msg))
	}
	if err := e.check(res, err, "search"); err != nil {
		return err
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("search: read hits: %w", err)
	}
	return nil
}

func term(field string, v any) map[string]any {
	return map[string]any{"term": map[string]any{field: v}}
}

// Search runs q: the words as match_phrase and prefix queries (never as
// query-string syntax), the filters as term and range filters, the tenant
// always among them.
func (e *Elastic) Search(ctx context.Context, q Query) (Result, error) {
	parts, err := ParseQuery(q.Text)
	if err != nil {
		return Result{}, err
	}
	cur, err := parseCursor(q)
	if err != nil {
		return Result{}, err
	}
	if cur.key != 0 {
		return Result{}, errCursor // keyset cursors are the embedded index's
	}
	must := make([]any, 0, len(parts))
	for _, p := range parts {
		if p.Prefix {
			w := p.Words[0]
			must = append(must, map[string]any{"prefix": map[string]any{"words": map[string]any{"value": w}}})
			continue
		}
		must = append(must, map[string]any{"match_phrase": map[string]any{"words": strings.Join(p.Words, " ")}})
	}
	filter := []any{term("tenant", q.Tenant)}
	for _, f := range []struct{ field, v string }{{"site", q.Site}, {"visitor", q.Visitor}, {"queue", q.Queue},
		{"agents", q.Agent}, {"disposition", q.Disposition}} {
		if f.v != "" {
			filter = append(filter, term(f.field, f.v))
		}
	}
	switch q.Status {
	case "open", "closed":
		filter = append(filter, term("closed", q.Status == "closed"))
	}
	// One upper bound: ZincSearch keeps only one of lt and lte.
	asOf := cur.asOf
	if asOf == 0 {
		asOf = time.Now().UnixMilli()
	}
	created := map[string]any{"lte": asOf}
	if !q.To.IsZero() {
		created["lte"] = min(asOf, q.To.UnixMilli()-1)
	}
	if !q.From.IsZero() {
		created["gte"] = q.From.UnixMilli()
	}
	filter = append(filter, map[string]any{"range": map[string]any{"created_at": created}})
	sort := []any{map[string]any{"created_at": map[string]any{"order": "desc"}},
		map[string]any{"conversation_id": map[string]any{"order": "desc"}}, map[string]any{"seq": map[string]any{"order": "desc"}}}
	if q.Order == ByRelevance {
		sort = append([]any{"_score"}, sort...)
	}
	limit := q.limit()
	hits, err := e.search(ctx, map[string]any{
		"query":   map[string]any{"bool": map[string]any{"must": must, "filter": filter}},
		"sort":    sort,
		"from":    cur.offset,
		"size":    limit + 1,
		"_source": []string{"conversation_id", "seq", "created_at"},
	})
	if err != nil {
		return Result{}, err
	}
	res := Result{Hits: []Hit{}}
	for _, h := range hits.Hits.Hits {
		res.Hits = append(res.Hits, Hit{ConversationID: h.Source.ConversationID, Seq: h.Source.Seq, CreatedAt: time.UnixMilli(h.Source.CreatedAt)})
	}
	if len(res.Hits) > limit {
		res.Hits = res.Hits[:limit]
		if deepEnough(cur.offset+limit, limit) {
			res.Next = cursor{offset: cur.offset + limit, asOf: asOf}.String()
		}
	}
	return res, nil
}

// Count counts a tenant's docs.
func (e *Elastic) Count(ctx context.Context, tenant string) (int64, error) {
	query := map[string]any{"match_all": map[string]any{}}
	if tenant != "" {
		query = map[string]any{"bool": map[string]any{"filter": []any{term("tenant", tenant)}}}
	}
	hits, err := e.search(ctx, map[string]any{"query": query, "size": 0, "track_total_hits": true})
	return hits.Hits.Total.Value, err
}

// Health asks the server who it is.
func (e *Elastic) Health(ctx context.Context) error {
	res, err := esapi.InfoRequest{}.Do(ctx, e.es)
	if err := e.check(res, err, "info"); err != nil {
		return err
	}
	res.Body.Close()
	return e.ensure(ctx)
}

// DeleteConversations finds the conversations' docs and deletes them by id
// in bulk, a page of ids at a time. It makes recent writes visible first,
// so a message indexed just before its erasure goes with it.
func (e *Elastic) DeleteConversations(ctx context.Context, tenant string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	yes := true
	if res, err := (esapi.IndicesRefreshRequest{Index: []string{e.pattern()}, IgnoreUnavailable: &yes, AllowNoIndices: &yes}).Do(ctx, e.es); err == nil {
		res.Body.Close()
	}
	const page = 1000
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		for {
			hits, err := e.search(ctx, map[string]any{
				"query": map[string]any{"bool": map[string]any{"filter": []any{term("tenant", tenant),
					map[string]any{"terms": map[string]any{"conversation_id": chunk}}}}},
				"size": page, "_source": []string{"conversation_id"},
			})
			if err != nil {
				return err
			}
			items := make([]bulkItem, 0, len(hits.Hits.Hits))
			for _, h := range hits.Hits.Hits {
				items = append(items, bulkItem{action: "delete", index: h.Index, id: h.ID})
			}
			if err := e.bulk(ctx, items, true); err != nil {
				return err
			}
			if len(hits.Hits.Hits) < page {
				break
			}
		}
		ids = ids[n:]
	}
	return nil
}

// Refused counts the documents the cluster would not take.
func (e *Elastic) Refused() int64 { return e.failed.Load() }
