package analytics

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nudgehq/nudge/store"
)

// Errors of Accept.
var (
	// ErrFull means the queue is at its bound: the client should retry later.
	ErrFull = errors.New("analytics: ingestion queue is full")
	// ErrClosed means the ingester is shutting down.
	ErrClosed = errors.New("analytics: ingester is closed")
)

// VisitTimeout ends a visit after this long without activity.
const VisitTimeout = 30 * time.Minute

// Meta is what the request, not the body, says.
type Meta struct {
	IP        string
	UserAgent string
	Now       time.Time
}

// Result says what Accept did with a batch.
type Result struct {
	Accepted int
	Dropped  int // bots, unverified identities
}

// Stats are counters since start, for metrics.
type Stats struct {
	Accepted, Persisted, Bots, Unverified, Full, Failed atomic.Int64
}

// Options tune the ingester; zero values take the defaults.
type Options struct {
	MaxQueued      int   // events accepted but not yet committed
	MaxQueuedBytes int64 // and their size in memory, roughly
	MaxTx          int   // events per transaction
}

// Ingester enriches accepted batches in the caller's goroutine and commits
// them from one writer goroutine, grouping whatever has queued into one
// transaction. Memory stays bounded: past MaxQueued events or MaxQueuedBytes
// of them, Accept refuses.
type Ingester struct {
	db    *DB
	log   *slog.Logger
	opts  Options
	Stats Stats

	mu     sync.RWMutex // guards queue against Close
	closed bool
	queue  chan *job
	queued atomic.Int64
	bytes  atomic.Int64 // of the queued events
	done   chan struct{}

	salts    salts
	sessions sessions
	zones    sync.Map // time zone name -> *time.Location
	paths    pathRuleCache

	botsMu sync.Mutex
	bots   map[botKey]int64 // events dropped as bots, not yet stored
}

type botKey struct {
	site int64
	day  string
}

type job struct {
	rows  []row
	bytes int64         // the rows' size in memory, roughly
	flush chan struct{} // closed once every job before it is committed
}

// row is one enriched event with what its visit needs.
type row struct {
	site             int64
	visitor, visit   string
	visitN           int
	ts               int64
	typ, path, title string
	name, props      string
	engaged          int64
	scroll           int
	userID           string
	loc              *time.Location
	src              source
	cl               client
	lang, screen     string
	pairs            [][2]string // event properties, flattened
	offer            *Offer
	goal             bool // one of the site's goals
}

// NewIngester starts the writer over db.
func NewIngester(db *DB, log *slog.Logger, opts Options) *Ingester {
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = 100_000 // about two seconds at full speed: bursts wait, memory stays bounded
	}
	if opts.MaxQueuedBytes <= 0 {
		opts.MaxQueuedBytes = 64 << 20 // large batches must not take the process to a gigabyte
	}
	if opts.MaxTx <= 0 {
		opts.MaxTx = 10_000
	}
	in := &Ingester{db: db, log: log, opts: opts, queue: make(chan *job, max(opts.MaxQueued/10, 16)), done: make(chan struct{})}
	in.salts.db = db
	in.sessions.m = map[string]*session{}
	go in.write()
	return in
}

// Accept enriches a batch for site and queues it. Bots are dropped without an
// error, so that they learn nothing.
func (in *Ingester) Accept(ctx context.Context, site *store.Site, b *Batch, m Meta) (Result, error) {
	cl := parseUA(m.UserAgent)
	if cl.bot {
		in.Stats.Bots.Add(int64(len(b.Events)))
		in.countBots(ctx, site, len(b.Events), m.Now)
		return Result{Dropped: len(b.Events)}, nil
	}
	now := m.Now.UnixMilli()
	loc := in.zone(site.TimeZone)
	num, _, err := in.db.site(ctx, site.ID, true)
	if err != nil {
		return Result{}, err
	}
	visitor, visit, visitN := b.Visitor, b.Visit, b.VisitN
	if site.Settings.Cookieless || visitor == "" {
		salt, err := in.salts.get(ctx, m.Now)
		if err != nil {
			return Result{}, err
		}
		h := sha256.New()
		h.Write(salt)
		fmt.Fprintf(h, "%s|%s|%s", site.ID, m.IP, m.UserAgent)
		visitor = "h" + hex.EncodeToString(h.Sum(nil)[:10])
		visit, visitN = in.sessions.visit(site.ID+visitor, now)
	}
	skew := int64(0)
	if b.Sent > 0 {
		skew = now - b.Sent
	}
	lang, screen := clip(b.Lang, 35), b.Screen
	paths := in.paths.get(site.ID, site.Settings.PagePatterns, site.Settings.KeepPathIDs)
	var res Result
	rows := make([]row, 0, len(b.Events))
	for i := range b.Events {
		e := &b.Events[i]
		ts := now
		if e.TS > 0 {
			ts = min(max(e.TS+skew, now-24*3600*1000), now)
		}
		r := row{site: num, visitor: visitor, visit: visit, visitN: max(visitN, 1), ts: ts, typ: e.Type,
			path: paths.normalise(pagePath(e.URL)), title: clip(e.Title, maxText),
			engaged: e.EngagedMS, scroll: e.Scroll, loc: loc, cl: cl, lang: lang, screen: screen}
		switch e.Type {
		case "pageview":
			r.src = attribute(e.URL, e.Ref)
		case "event":
			r.name = e.Name
			r.props, r.pairs = flatten(e.Props)
		case "set":
			r.props, _ = flatten(e.Vars)
		case "offer":
			r.offer = e.Offer
			r.name = e.Offer.Stage
			r.props, _ = flatten(map[string]any{"rule": e.Offer.Rule, "variant": e.Offer.Variant, "v": float64(e.Offer.V)})
		case "identify":
			if !VerifyIdentity(site.IdentitySecret, e.User.ID, e.Hash) {
				in.Stats.Unverified.Add(1)
				res.Dropped++
				continue
			}
			// The user id links visits; the email and the name are not kept here
			// (a chat carries them to the agent who needs them).
			r.userID = e.User.ID
		}
		r.goal = isGoal(site.Settings.Goals, paths, &r)
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return res, nil
	}
	size := int64(0)
	for i := range rows {
		size += rows[i].size()
	}
	if err := in.enqueue(&job{rows: rows, bytes: size}); err != nil {
		return Result{}, err
	}
	res.Accepted = len(rows)
	in.Stats.Accepted.Add(int64(len(rows)))
	return res, nil
}

// countBots adds dropped events to the site's day; the writer stores the
// counts with its next commit (a bot's batch wakes it when none are pending,
// so that a flood costs a map update, not a write, per request).
func (in *Ingester) countBots(ctx context.Context, site *store.Site, n int, now time.Time) {
	num, _, err := in.db.site(ctx, site.ID, true)
	if err != nil || n == 0 {
		return
	}
	k := botKey{num, now.In(in.zone(site.TimeZone)).Format(time.DateOnly)}
	in.botsMu.Lock()
	first := len(in.bots) == 0
	if in.bots == nil {
		in.bots = map[botKey]int64{}
	}
	in.bots[k] += int64(n)
	in.botsMu.Unlock()
	if first {
		in.enqueue(&job{})
	}
}

// storeBots writes the pending bot counts.
func (in *Ingester) storeBots() {
	in.botsMu.Lock()
	bots := in.bots
	in.bots = nil
	in.botsMu.Unlock()
	if len(bots) == 0 {
		return
	}
	err := in.db.Tx(context.Background(), func(tx *sql.Tx) error {
		for k, n := range bots {
			if _, err := tx.Exec(`INSERT INTO bot_days (site, day, events) VALUES (?, ?, ?)
				ON CONFLICT (site, day) DO UPDATE SET events = events + excluded.events`, k.site, k.day, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		in.log.Error("analytics: store bot counts", "err", err)
	}
}

func (in *Ingester) enqueue(j *job) error {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if in.closed {
		return ErrClosed
	}
	n := int64(len(j.rows))
	full := func() error {
		in.queued.Add(-n)
		in.bytes.Add(-j.bytes)
		in.Stats.Full.Add(n)
		return ErrFull
	}
	events, bytes := in.queued.Add(n), in.bytes.Add(j.bytes)
	if (events > int64(in.opts.MaxQueued) || bytes > in.opts.MaxQueuedBytes) && n > 0 {
		return full()
	}
	select {
	case in.queue <- j:
		return nil
	default:
		return full()
	}
}

// Flush waits until everything accepted so far is committed.
func (in *Ingester) Flush(ctx context.Context) error {
	j := &job{flush: make(chan struct{})}
	in.mu.RLock()
	if in.closed {
		in.mu.RUnlock()
		return ErrClosed
	}
	select {
	case in.queue <- j:
	case <-ctx.Done():
		in.mu.RUnlock()
		return ctx.Err()
	}
	in.mu.RUnlock()
	select {
	case <-j.flush:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting, commits what is queued, and waits for the writer.
func (in *Ingester) Close() {
	in.mu.Lock()
	if !in.closed {
		in.closed = true
		close(in.queue)
	}
	in.mu.Unlock()
	<-in.done
}

// Full reports whether the queue is at its bound, so that a caller can refuse
// a request before spending anything on it.
func (in *Ingester) Full() bool {
	return in.queued.Load() >= int64(in.opts.MaxQueued) || in.bytes.Load() >= in.opts.MaxQueuedBytes || len(in.queue) >= cap(in.queue)
}

// QueuedBytes is the rough size in memory of the events not yet committed.
func (in *Ingester) QueuedBytes() int64 { return in.bytes.Load() }

// Queued is the number of events accepted and not yet committed.
func (in *Ingester) Queued() int64 { return in.queued.Load() }

// write is the writer goroutine: it takes every job waiting (up to MaxTx
// events) and commits them in one transaction.
func (in *Ingester) write() {
	defer close(in.done)
	for j := range in.queue {
		jobs := []*job{j}
		n := len(j.rows)
		size := j.bytes
	more:
		for n < in.opts.MaxTx {
			select {
			case j2, ok := <-in.queue:
				if !ok {
					break more
				}
				jobs = append(jobs, j2)
				n += len(j2.rows)
				size += j2.bytes
			default:
				break more
			}
		}
		if n > 0 {
			if err := in.commit(jobs); err != nil {
				in.Stats.Failed.Add(int64(n))
				in.log.Error("analytics: commit failed; events lost", "events", n, "err", err)
			} else {
				in.Stats.Persisted.Add(int64(n))
			}
			in.queued.Add(-int64(n))
		}
		in.bytes.Add(-size)
		in.storeBots()
		for _, j := range jobs {
			if j.flush != nil {
				close(j.flush)
			}
		}
	}
}

type visitKey struct {
	site  int64
	visit string
}

// visitAgg is what one transaction adds to one visit.
type visitAgg struct {
	first, last            *row // earliest event; latest pageview
	start, end             int64
	pageviews, events      int
	engaged                int64
	userID, entry, visitor string
	visitN                 int
}

type pageKey struct {
	site        int64
	visit, path string
}
type pageAgg struct {
	views   int
	engaged int64
	scroll  int
}
type eventKey struct {
	site        int64
	visit, name string
}
type propKey struct {
	site                    int64
	visit, name, key, value string
}

func (in *Ingester) commit(jobs []*job) error {
	visits := map[visitKey]*visitAgg{}
	var order []visitKey
	pages := map[pageKey]*pageAgg{}
	events := map[eventKey]int{}
	props := map[propKey]int{}
	offers := map[offerKey]*offerAgg{}
	var offerOrder []offerKey
	var goals []*row
	return in.db.Tx(context.Background(), func(tx *sql.Tx) error {
		ins := multiRow{tx: tx, cols: 13, head: `INSERT INTO events (site, ts, visitor, visit, type, path, title, ref_host, name, props, engaged_ms, scroll, user_id) VALUES `}
		for _, j := range jobs {
			for i := range j.rows {
				r := &j.rows[i]
				if err := ins.add(r.site, r.ts, r.visitor, r.visit, r.typ, r.path, r.title, r.src.refHost, r.name, r.props, r.engaged, r.scroll, r.userID); err != nil {
					return fmt.Errorf("insert events: %w", err)
				}
				k := visitKey{r.site, r.visit}
				v := visits[k]
				if v == nil {
					v = &visitAgg{first: r, start: r.ts, end: r.ts, visitor: r.visitor, visitN: r.visitN}
					visits[k] = v
					order = append(order, k)
				}
				if r.ts < v.start || (r.ts == v.start && r.typ == "pageview" && v.first.typ != "pageview") {
					v.start, v.first = min(v.start, r.ts), r
				}
				v.end = max(v.end, r.ts)
				switch r.typ {
				case "pageview":
					v.pageviews++
					if v.last == nil || r.ts >= v.last.ts {
						v.last = r
					}
					pages[pageKey{r.site, r.visit, r.path}] = addPage(pages[pageKey{r.site, r.visit, r.path}], 1, 0, r.scroll)
				case "leave":
					v.engaged += r.engaged
					pages[pageKey{r.site, r.visit, r.path}] = addPage(pages[pageKey{r.site, r.visit, r.path}], 0, r.engaged, r.scroll)
				case "event":
					v.events++
					events[eventKey{r.site, r.visit, r.name}]++
					for _, p := range r.pairs {
						props[propKey{r.site, r.visit, r.name, p[0], p[1]}]++
					}
				case "identify":
					v.userID = r.userID
				case "offer":
					k := offerKey{r.site, r.visit, r.offer.Rule, r.offer.Variant}
					o := offers[k]
					if o == nil {
						o = &offerAgg{visitor: r.visitor, version: r.offer.V, start: r.ts, stages: map[string]int{}}
						offers[k] = o
						offerOrder = append(offerOrder, k)
					}
					o.start = min(o.start, r.ts)
					o.version = max(o.version, r.offer.V)
					o.stages[r.offer.Stage]++
				}
				if r.goal {
					goals = append(goals, r)
				}
			}
		}
		if err := ins.flush(); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		days := make(map[visitKey]string, len(visits))
		up, err := tx.Prepare(`INSERT INTO visits (site, visit, visitor, visit_n, day, hour, start_ts, end_ts, pageviews, events, engaged_ms,
				entry_path, exit_path, ref_host, source, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
				browser, os, device, language, screen, user_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (site, visit) DO UPDATE SET
				entry_path = CASE WHEN excluded.start_ts < start_ts THEN excluded.entry_path ELSE entry_path END,
				exit_path = CASE WHEN excluded.exit_path <> '' AND excluded.end_ts >= end_ts THEN excluded.exit_path ELSE exit_path END,
				start_ts = min(start_ts, excluded.start_ts),
				end_ts = max(end_ts, excluded.end_ts),
				pageviews = pageviews + excluded.pageviews,
				events = events + excluded.events,
				engaged_ms = engaged_ms + excluded.engaged_ms,
				user_id = CASE WHEN excluded.user_id <> '' THEN excluded.user_id ELSE user_id END
			RETURNING day`)
		if err != nil {
			return err
		}
		defer up.Close()
		for _, k := range order {
			v := visits[k]
			f := v.first
			t := time.UnixMilli(v.start).In(f.loc)
			exit := ""
			if v.last != nil {
				exit = v.last.path
			}
			var day string
			err := up.QueryRow(k.site, k.visit, v.visitor, v.visitN, t.Format(time.DateOnly), t.Hour(), v.start, v.end, v.pageviews, v.events, v.engaged,
				f.path, exit, f.src.refHost, f.src.source, f.src.medium, f.src.utm[0], f.src.utm[1], f.src.utm[2], f.src.utm[3], f.src.utm[4],
				f.cl.browser, f.cl.os, f.cl.device, f.lang, f.screen, v.userID).Scan(&day)
			if err != nil {
				return fmt.Errorf("upsert visit: %w", err)
			}
			days[k] = day
		}
		if err := upsertRollups(tx, visits, days, pages, events, props); err != nil {
			return err
		}
		// Offers before goals: a goal in the same batch counts for an offer decided before it.
		if err := upsertOffers(tx, offers, offerOrder, goals); err != nil {
			return err
		}
		return markDirty(context.Background(), tx, days)
	})
}

// size is a row's rough footprint in memory: the struct and its strings.
func (r *row) size() int64 {
	n := 512 + len(r.visitor) + len(r.visit) + len(r.path) + len(r.title) + len(r.name) + len(r.props) + len(r.userID) +
		len(r.src.refHost) + len(r.src.source) + len(r.src.medium) + len(r.lang) + len(r.screen)
	for _, u := range r.src.utm {
		n += len(u)
	}
	for _, p := range r.pairs {
		n += 32 + len(p[0]) + len(p[1])
	}
	return int64(n)
}

type offerKey struct {
	site                 int64
	visit, rule, variant string
}

type offerAgg struct {
	visitor string
	version int
	start   int64
	stages  map[string]int
}

// isGoal reports whether an event reaches one of the site's goals: a custom
// event of the goal's name, or a pageview of the goal's path (normalised as
// the pageview's is, so that a goal may name /orders/:id or /orders/1).
func isGoal(goals []store.SiteGoal, paths *pathRules, r *row) bool {
	for _, g := range goals {
		if (g.Event != "" && r.typ == "event" && r.name == g.Event) ||
			(g.Page != "" && r.typ == "pageview" && (r.path == g.Page || r.path == paths.normalise(g.Page))) {
			return true
		}
	}
	return false
}

// upsertOffers adds a commit's offer steps to offer_visits, then marks the
// offers that a goal of the same visit followed as converted.
func upsertOffers(tx *sql.Tx, offers map[offerKey]*offerAgg, order []offerKey, goals []*row) error {
	if len(offers) > 0 {
		up, err := tx.Prepare(`INSERT INTO offer_visits (site, visit, rule, variant, visitor, version, start_ts, qualified, shown, accepted, declined, dismissed, chats)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (site, visit, rule, variant) DO UPDATE SET version = max(version, excluded.version), start_ts = min(start_ts, excluded.start_ts),
				qualified = qualified + excluded.qualified, shown = shown + excluded.shown, accepted = accepted + excluded.accepted,
				declined = declined + excluded.declined, dismissed = dismissed + excluded.dismissed, chats = chats + excluded.chats`)
		if err != nil {
			return err
		}
		defer up.Close()
		for _, k := range order {
			o := offers[k]
			s := o.stages
			if _, err := up.Exec(k.site, k.visit, k.rule, k.variant, o.visitor, o.version, o.start,
				s["qualified"], s["shown"], s["accepted"], s["declined"], s["dismissed"], s["chat"]); err != nil {
				return fmt.Errorf("upsert offer: %w", err)
			}
		}
	}
	for _, g := range goals {
		if _, err := tx.Exec(`UPDATE offer_visits SET converted = 1 WHERE site = ? AND visit = ? AND converted = 0 AND start_ts <= ?`,
			g.site, g.visit, g.ts); err != nil {
			return fmt.Errorf("offer conversions: %w", err)
		}
	}
	return nil
}

func addPage(p *pageAgg, views int, engaged int64, scroll int) *pageAgg {
	if p == nil {
		p = &pageAgg{}
	}
	p.views += views
	p.engaged += engaged
	p.scroll = max(p.scroll, scroll)
	return p
}

func upsertRollups(tx *sql.Tx, visits map[visitKey]*visitAgg, days map[visitKey]string, pages map[pageKey]*pageAgg, events map[eventKey]int, props map[propKey]int) error {
	pv := multiRow{tx: tx, cols: 8, head: `INSERT INTO page_visits (site, visit, path, visitor, day, views, engaged_ms, scroll) VALUES `,
		tail: ` ON CONFLICT DO UPDATE SET views = views + excluded.views, engaged_ms = engaged_ms + excluded.engaged_ms, scroll = max(scroll, excluded.scroll)`}
	for k, p := range pages {
		vk := visitKey{k.site, k.visit}
		if err := pv.add(k.site, k.visit, k.path, visits[vk].visitor, days[vk], p.views, p.engaged, p.scroll); err != nil {
			return fmt.Errorf("upsert page visits: %w", err)
		}
	}
	ev := multiRow{tx: tx, cols: 6, head: `INSERT INTO event_visits (site, visit, name, visitor, day, count) VALUES `,
		tail: ` ON CONFLICT DO UPDATE SET count = count + excluded.count`}
	for k, n := range events {
		vk := visitKey{k.site, k.visit}
		if err := ev.add(k.site, k.visit, k.name, visits[vk].visitor, days[vk], n); err != nil {
			return fmt.Errorf("upsert event visits: %w", err)
		}
	}
	pr := multiRow{tx: tx, cols: 8, head: `INSERT INTO event_props (site, visit, name, key, value, visitor, day, count) VALUES `,
		tail: ` ON CONFLICT DO UPDATE SET count = count + excluded.count`}
	for k, n := range props {
		vk := visitKey{k.site, k.visit}
		if err := pr.add(k.site, k.visit, k.name, k.key, k.value, visits[vk].visitor, days[vk], n); err != nil {
			return fmt.Errorf("upsert event properties: %w", err)
		}
	}
	return errors.Join(pv.flush(), ev.flush(), pr.flush())
}

// multiRow writes rows with multi-row statements, rowsPerStatement at a time:
// one statement of 32 rows costs far less than 32 statements.
type multiRow struct {
	tx         *sql.Tx
	cols       int
	head, tail string
	full       *sql.Stmt
	args       []any
	n          int
}

const rowsPerStatement = 32

func (m *multiRow) statement(rows int) string {
	var b strings.Builder
	b.WriteString(m.head)
	one := "(" + strings.Repeat("?,", m.cols-1) + "?)"
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	b.WriteString(m.tail)
	return b.String()
}

func (m *multiRow) add(values ...any) error {
	m.args = append(m.args, values...)
	if m.n++; m.n < rowsPerStatement {
		return nil
	}
	if m.full == nil {
		var err error
		if m.full, err = m.tx.Prepare(m.statement(rowsPerStatement)); err != nil {
			return err
		}
	}
	_, err := m.full.Exec(m.args...)
	m.args, m.n = m.args[:0], 0
	return err
}

// flush writes the rows left and releases the statement.
func (m *multiRow) flush() error {
	if m.full != nil {
		defer m.full.Close()
	}
	if m.n == 0 {
		return nil
	}
	_, err := m.tx.Exec(m.statement(m.n), m.args...)
	m.args, m.n = m.args[:0], 0
	return err
}

// flatten stores a property map as JSON and as sorted key/value pairs.
func flatten(m map[string]any) (string, [][2]string) {
	if len(m) == 0 {
		return "", nil
	}
	b, _ := json.Marshal(m)
	pairs := make([][2]string, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, [2]string{k, propString(v)})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i][0] < pairs[j][0] })
	return string(b), pairs
}

// VerifyIdentity checks the HMAC-SHA256 (hex) of id under the site's identity secret.
func VerifyIdentity(secret, id, hash string) bool {
	want, err := hex.DecodeString(hash)
	if err != nil || secret == "" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id))
	return hmac.Equal(mac.Sum(nil), want)
}

// IdentityHash is what a site's server computes for nudge('identify', …, hash).
func IdentityHash(secret, id string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id))
	return hex.EncodeToString(mac.Sum(nil))
}

func (in *Ingester) zone(name string) *time.Location {
	if l, ok := in.zones.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = time.UTC
	}
	in.zones.Store(name, l)
	return l
}

// salts are the daily random salts of the visitor hash. Only today's and
// yesterday's exist: older ones are deleted, so a hash cannot be recomputed.
type salts struct {
	db *DB
	mu sync.Mutex
	m  map[string][]byte
}

func (s *salts) get(ctx context.Context, now time.Time) ([]byte, error) {
	day := now.UTC().Format(time.DateOnly)
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.m[day]; ok {
		return b, nil
	}
	b := make([]byte, 32)
	rand.Read(b)
	var salt []byte
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO salts (day, salt) VALUES (?, ?) ON CONFLICT DO NOTHING`, day, b); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT salt FROM salts WHERE day = ?`, day).Scan(&salt); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM salts WHERE day < ?`, now.UTC().Add(-48*time.Hour).Format(time.DateOnly))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: salt of %s: %w", day, err)
	}
	s.m = map[string][]byte{day: salt} // drops yesterday's from memory
	return salt, nil
}

// sessions turn the hashed visitors of cookieless sites into visits: a new
// visit after VisitTimeout without activity.
type sessions struct {
	mu      sync.Mutex
	m       map[string]*session
	counter int
}

type session struct {
	visit string
	last  int64
	n     int
}

func (s *sessions) visit(key string, now int64) (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counter++; s.counter%10_000 == 0 {
		for k, v := range s.m {
			if now-v.last > VisitTimeout.Milliseconds() {
				delete(s.m, k)
			}
		}
	}
	v := s.m[key]
	if v == nil || now-v.last > VisitTimeout.Milliseconds() {
		n := 1
		if v != nil {
			n = v.n + 1
		}
		v = &session{visit: store.NewID(), n: n}
		s.m[key] = v
	}
	v.last = now
	return v.visit, v.n
}
