package loadgen

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nudgehq/nudge/search"
)

// SearchOptions shape a search benchmark: the same synthetic messages go
// into the embedded index and, when Elastic is set, into Elasticsearch,
// and the same queries run on both.
type SearchOptions struct {
	Messages int                    // messages indexed
	Batch    int                    // messages per Index call, as the feeder sends them
	Queries  int                    // runs of each kind of query
	Dir      string                 // folder for the embedded index
	Elastic  *search.ElasticOptions // nil: the embedded index only
}

// SearchReport is one backend's figures.
type SearchReport struct {
	Backend   string
	Messages  int
	Elapsed   time.Duration
	CPU       time.Duration // this process's CPU while indexing (for Elasticsearch: the client's)
	IndexSize int64         // bytes on disk (embedded only)
	Queries   []QueryFigure
}

// QueryFigure is the latency of one kind of query.
type QueryFigure struct {
	Kind     string
	P50, P95 time.Duration
	Hits     float64 // mean hits per page
}

func (r SearchReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d messages in %s: %.0f messages/s, CPU %.1f µs per message", r.Backend, r.Messages, r.Elapsed.Round(time.Millisecond),
		float64(r.Messages)/r.Elapsed.Seconds(), float64(r.CPU.Microseconds())/float64(r.Messages))
	if r.IndexSize > 0 {
		fmt.Fprintf(&b, ", %.0f MB on disk", float64(r.IndexSize)/1e6)
	}
	for _, q := range r.Queries {
		fmt.Fprintf(&b, "\n  %-22s p50 %6.2f ms  p95 %6.2f ms  (%.1f hits a page)", q.Kind, ms(q.P50), ms(q.P95), q.Hits)
	}
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// corpus makes chat-like messages: words drawn from a Zipf-distributed
// vocabulary of made-up words, 4 to 24 a message, conversations of 20
// messages, 5 tenants, over six months.
type corpus struct {
	words []string
	zipf  *rand.Zipf
	rng   *rand.Rand
	start time.Time
}

func newCorpus() *corpus {
	rng := rand.New(rand.NewPCG(1, 2))
	syll := []string{"ka", "re", "fun", "do", "li", "ver", "pa", "sel", "or", "der", "mo", "bi", "tan", "el", "ro", "gu", "ne", "sta", "po", "chi"}
	seen := map[string]bool{}
	c := &corpus{rng: rng, start: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	for len(c.words) < 20_000 {
		var w strings.Builder
		for range 1 + rng.IntN(4) {
			w.WriteString(syll[rng.IntN(len(syll))])
		}
		if !seen[w.String()] {
			seen[w.String()] = true
			c.words = append(c.words, w.String())
		}
	}
	c.zipf = rand.NewZipf(rng, 1.07, 2, uint64(len(c.words)-1))
	return c
}

func (c *corpus) doc(i int) search.Doc {
	n := 4 + c.rng.IntN(21)
	words := make([]string, n)
	for j := range words {
		words[j] = c.words[c.zipf.Uint64()]
	}
	conv := i / 20
	tenant := fmt.Sprintf("t%d", conv%5)
	return search.Doc{Tenant: tenant, ConversationID: fmt.Sprintf("c%07d", conv), Seq: int64(i%20 + 1), SenderKind: []string{"visitor", "agent"}[i%2],
		Audience: "all", Text: strings.Join(words, " ") + ".", CreatedAt: c.start.Add(time.Duration(i) * 15 * time.Second),
		Conv: search.Conv{Site: tenant + "-s" + fmt.Sprint(conv%2), Visitor: fmt.Sprintf("v%d", conv/3), Queue: tenant + "-q" + fmt.Sprint(conv%3),
			Agents: []string{tenant + "-a" + fmt.Sprint(conv%10)}, Disposition: []string{"resolved", "refund", "sale", "spam"}[conv%4], Closed: conv%5 != 0}}
}

// SearchBench indexes o.Messages into each backend and times queries.
func SearchBench(ctx context.Context, o SearchOptions, progress io.Writer) ([]SearchReport, error) {
	emb, err := search.OpenEmbedded(ctx, filepath.Join(o.Dir, "search.db"), func(_ context.Context, tenant string) ([]byte, error) {
		k := sha256.Sum256([]byte("loadgen " + tenant))
		return k[:], nil
	})
	if err != nil {
		return nil, err
	}
	defer emb.Close()
	backends := []struct {
		name string
		ix   search.Index
	}{{"embedded", emb}}
	if o.Elastic != nil {
		es, err := search.OpenElastic(*o.Elastic)
		if err != nil {
			return nil, err
		}
		if err := es.Health(ctx); err != nil {
			return nil, err
		}
		backends = append(backends, struct {
			name string
			ix   search.Index
		}{"elasticsearch", es})
	}
	var out []SearchReport
	for _, b := range backends {
		rep, err := benchIndex(ctx, b.name, b.ix, o, progress)
		if err != nil {
			return out, fmt.Errorf("%s: %w", b.name, err)
		}
		if b.name == "embedded" {
			files, _ := filepath.Glob(filepath.Join(o.Dir, "search.db*"))
			for _, f := range files {
				if st, err := os.Stat(f); err == nil {
					rep.IndexSize += st.Size()
				}
			}
		}
		out = append(out, rep)
		fmt.Fprintln(progress, rep)
	}
	return out, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchIndex(ctx context.Context, name string, ix search.Index, o SearchOptions, progress io.Writer) (SearchReport, error) {
	c := newCorpus()
	rep := SearchReport{Backend: name, Messages: o.Messages}
	var phrases []string // two words that follow one another in some message
	batch := make([]search.Doc, 0, o.Batch)
	began, cpu := time.Now(), cpuTime()
	for i := range o.Messages {
		d := c.doc(i)
		if i%(o.Messages/200+1) == 0 {
			if w := strings.Fields(strings.TrimSuffix(d.Text, ".")); len(w) > 1 {
				phrases = append(phrases, w[0]+" "+w[1])
			}
		}
		batch = append(batch, d)
		if len(batch) == o.Batch || i == o.Messages-1 {
			if err := ix.Index(ctx, batch, time.Time{}); err != nil {
				return rep, err
			}
			batch = batch[:0]
		}
		if (i+1)%100_000 == 0 {
			fmt.Fprintf(progress, "%s: %d messages indexed\n", name, i+1)
		}
	}
	rep.Elapsed, rep.CPU = time.Since(began), cpuTime()-cpu
	// Elasticsearch makes writes searchable about a second later.
	for {
		n, err := ix.Count(ctx, "")
		if err != nil {
			return rep, err
		}
		if n >= int64(o.Messages) {
			break
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	kinds := []struct {
		name string
		q    func(i int) search.Query
	}{
		{"common word", func(i int) search.Query { return search.Query{Text: c.words[rng.IntN(5)]} }},
		{"rare word", func(i int) search.Query { return search.Query{Text: c.words[2000+rng.IntN(5000)]} }},
		{"two words", func(i int) search.Query {
			return search.Query{Text: c.words[rng.IntN(20)] + " " + c.words[100+rng.IntN(500)]}
		}},
		{"phrase", func(i int) search.Query { return search.Query{Text: `"` + phrases[rng.IntN(len(phrases))] + `"`} }},
		{"prefix", func(i int) search.Query {
			w := c.words[50+rng.IntN(1000)]
			for len(w) < search.MinPrefix {
				w = c.words[50+rng.IntN(1000)]
			}
			return search.Query{Text: prefix(w) + "*"}
		}},
		{"word + 3 filters", func(i int) search.Query {
			t := fmt.Sprintf("t%d", i%5)
			return search.Query{Text: c.words[rng.IntN(50)], Agent: t + "-a" + fmt.Sprint(rng.IntN(10)), Status: "closed", Disposition: "refund"}
		}},
		{"word by relevance", func(i int) search.Query {
			return search.Query{Text: c.words[10+rng.IntN(200)], Order: search.ByRelevance}
		}},
	}
	for _, k := range kinds {
		lat := make([]time.Duration, 0, o.Queries)
		hits := 0
		for i := range o.Queries {
			q := k.q(i)
			if q.Tenant == "" {
				q.Tenant = fmt.Sprintf("t%d", i%5)
			}
			t := time.Now()
			r, err := ix.Search(ctx, q)
			if err != nil {
				return rep, fmt.Errorf("%s %q: %w", k.name, q.Text, err)
			}
			lat = append(lat, time.Since(t))
			hits += len(r.Hits)
		}
		rep.Queries = append(rep.Queries, QueryFigure{Kind: k.name, P50: percentile(lat, 50), P95: percentile(lat, 95), Hits: float64(hits) / float64(o.Queries)})
	}
	return rep, nil
}

// prefix is a word's first 4 letters (its whole if shorter): at least
// search.MinPrefix, as a query needs.
func prefix(w string) string { return w[:min(len(w), 4)] }

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}
