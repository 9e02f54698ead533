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
	"strconv"
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

// BlindPrefix marks a user id kept as its fingerprint (Options.Blind), and
// tells it from one an earlier release kept in clear (BlindUserIDs).
const BlindPrefix = "~"

// VisitTimeout ends a visit after this long without activity.
const VisitTimeout = 30 * time.Minute

// Meta is what the request, not the body, says.
type Meta struct {
	IP        string
	UserAgent string
	Language  string // Accept-Language: the visitor's language when the batch names none
	Now       time.Time
}

// Identified is a verified identity a page reported: the user id its site
// signed, on one of its visitors, with the email and name the page gave.
type Identified struct {
	Tenant, Site, Visitor string
	ID, Email, Name       string
	At                    time.Time
}

// Result says what Accept did with a batch.
type Result struct {
	Accepted int
	Dropped  int // bots, unverified identities
}

// Stats are counters since start, for metrics. OverBudget and TooLarge are
// events dropped past a site's daily budget, or larger than its limit.
type Stats struct {
	Accepted, Persisted, Bots, Unverified, Full, Failed, OverBudget, TooLarge atomic.Int64
}

// Options tune the ingester; zero values take the defaults.
type Options struct {
	MaxQueued      int   // events accepted but not yet committed
	MaxQueuedBytes int64 // and their size in memory, roughly
	MaxTx          int   // events per transaction
	// Linger is how long the writer waits after the first job of a
	// transaction for more (a negative Linger: not at all). A commit's cost
	// is mostly per transaction (the pages it touches go to the log once),
	// so under load a few milliseconds buy larger, cheaper transactions;
	// Flush does not wait for it.
	Linger time.Duration
	// Blind, if set, turns a verified user id into what the database keeps
	// of it (a keyed fingerprint): an id may be an email, and the analytics
	// file holds no email in clear. Kept with BlindPrefix before it.
	Blind func(ctx context.Context, tenant, id string) (string, error)
	// Identified, if set, is told of each verified identity a page reports
	// (nudge('identify') with the site's signature), as the batch is
	// accepted; it must not block.
	Identified func(Identified)
	// A batch that finds the queue full waits up to MaxWait for room (a
	// negative MaxWait: not at all), while the batches waiting hold at most
	// MaxWaitingBytes; past either, Accept refuses with ErrFull.
	MaxWait         time.Duration
	MaxWaitingBytes int64
}

// Ingester enriches accepted batches in the caller's goroutine and commits
// them from one writer goroutine, grouping whatever has queued into one
// transaction. Memory stays bounded: past MaxQueued events or MaxQueuedBytes
// of them, Accept waits a moment for room (so that a client is slowed to the
// writer's pace rather than refused), and refuses when the wait is over or
// too many bytes are waiting.
type Ingester struct {
	db    *DB
	log   *slog.Logger
	opts  Options
	Stats Stats

	mu      sync.RWMutex // guards queue against Close
	closed  bool
	queue   chan *job
	queued  atomic.Int64
	bytes   atomic.Int64 // of the queued events
	waiting atomic.Int64 // bytes of the batches waiting for room
	roomMu  sync.Mutex
	room    chan struct{} // closed (and replaced) when a commit frees room
	done    chan struct{}

	salts    salts
	sessions sessions
	zones    sync.Map // time zone name -> *time.Location
	uas      userAgents
	blinded  blinded
	paths    pathRuleCache

	botsMu sync.Mutex
	bots   map[botKey]int64 // events dropped as bots, not yet stored

	usageMu sync.Mutex
	usage   map[botKey]*usage // per site and day, against the budget
}

// usage is a site's day against its budget: accepted and dropped in all, and
// what of it the file does not hold yet.
type usage struct {
	loaded                  bool
	accepted, dropped       int64
	newAccepted, newDropped int64
}

type botKey struct {
	site int64
	day  string
}

type job struct {
	batch batchInfo     // what the rows share
	rows  []row         // one visit's
	log   []byte        // the rows as a JSON array, for event_log
	bytes int64         // the rows' size in memory, roughly
	flush chan struct{} // closed once every job before it is committed
}

// Jobs are reused once committed: a batch's rows and its log are most of what
// ingestion allocates, and allocating them anew for every request made the
// collector run tens of times a second under load (docs/benchmarks.md).
var jobPool = sync.Pool{New: func() any { return &job{rows: make([]row, 0, 32), log: make([]byte, 0, 4096)} }}

// release returns a committed (or refused) job to the pool, without what its
// rows point to; a job grown by a large batch is left to the collector.
func (j *job) release() {
	if j.flush != nil || cap(j.rows) == 0 || cap(j.rows) > 4*MaxEvents || cap(j.log) > 2*MaxBody {
		return
	}
	clear(j.rows[:cap(j.rows)]) // the budget may have cut rows off the end
	*j = job{rows: j.rows[:0], log: j.log[:0]}
	jobPool.Put(j)
}

// batchInfo is what every event of a batch has in common: one visit's.
type batchInfo struct {
	site           int64
	visitor, visit string
	visitN         int
	loc            *time.Location
	cl             client
	lang, screen   string
}

// row is one enriched event; b is its batch's.
type row struct {
	b                *batchInfo
	ts               int64
	typ, path, title string
	name, props      string
	engaged          int64
	scroll           int
	userID           string
	src              *source     // a pageview's
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
		opts.MaxQueuedBytes = 32 << 20 // large batches must not take the process to a gigabyte
	}
	if opts.MaxTx <= 0 {
		opts.MaxTx = 10_000
	}
	if opts.Linger == 0 {
		opts.Linger = 10 * time.Millisecond
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = time.Second
	}
	if opts.MaxWaitingBytes <= 0 {
		opts.MaxWaitingBytes = opts.MaxQueuedBytes / 4
	}
	in := &Ingester{db: db, log: log, opts: opts, queue: make(chan *job, max(opts.MaxQueued/10, 16)), done: make(chan struct{}), room: make(chan struct{})}
	in.salts.db = db
	in.sessions.m = map[string]*session{}
	go in.write()
	return in
}

// Accept enriches a batch for site and queues it. Bots are dropped without an
// error, so that they learn nothing.
func (in *Ingester) Accept(ctx context.Context, site *store.Site, b *Batch, m Meta) (Result, error) {
	cl := in.uas.parse(m.UserAgent)
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
		visit, visitN = in.sessions.visit(site.ID+visitor, now, nil)
	} else if visit == "" {
		// The page keeps a visitor id only: the visit is the server's (a new
		// one after VisitTimeout without activity, in any tab), continued
		// from the file after a restart.
		visit, visitN = in.sessions.visit(site.ID+"\x00"+visitor, now, func() (string, int, int64) {
			return in.db.lastVisit(ctx, num, visitor)
		})
	}
	skew := int64(0)
	if b.Sent > 0 {
		skew = now - b.Sent
	}
	lang, screen := clip(b.Lang, 35), b.Screen
	if lang == "" {
		// A copy: the header's bytes are the server's to reuse after the request.
		lang = strings.Clone(firstLanguage(m.Language))
	}
	paths := in.paths.get(site.ID, site.Settings.PagePatterns, site.Settings.KeepPathIDs)
	var res Result
	j := jobPool.Get().(*job)
	j.batch = batchInfo{site: num, visitor: visitor, visit: visit, visitN: max(visitN, 1), loc: loc, cl: cl, lang: lang, screen: screen}
	rows := j.rows
	for i := range b.Events {
		e := &b.Events[i]
		ts := now
		if e.TS > 0 {
			ts = min(max(e.TS+skew, now-24*3600*1000), now)
		}
		r := row{b: &j.batch, ts: ts, typ: e.Type,
			path: paths.normalise(pagePath(e.pageURL())), title: clean(clip(e.Title, maxText)),
			engaged: e.EngagedMS, scroll: e.Scroll}
		switch e.Type {
		case "pageview":
			if src := attribute(e.pageURL(), e.Ref); src != (source{}) {
				r.src = &src
			}
		case "event":
			r.name = clean(e.Name)
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
			// but go to the contact (sealed), with the user's devices.
			r.userID = e.User.ID
			if in.opts.Blind != nil {
				key := site.TenantID + "\x00" + e.User.ID
				id, ok := in.blinded.get(key)
				if !ok {
					fp, err := in.opts.Blind(ctx, site.TenantID, e.User.ID)
					if err != nil {
						return Result{}, fmt.Errorf("analytics: fingerprint a user id: %w", err)
					}
					id = BlindPrefix + fp
					in.blinded.put(key, id)
				}
				r.userID = id
			}
			// On a secured site only visitor tokens prove who a visitor is:
			// a hash never expires, so a copied one links no contact.
			if in.opts.Identified != nil && !site.Settings.SecuredChat {
				in.opts.Identified(Identified{Tenant: site.TenantID, Site: site.ID, Visitor: visitor, ID: e.User.ID,
					Email: e.User.Email, Name: e.User.Name, At: time.UnixMilli(ts)})
			}
		}
		r.goal = isGoal(site.Settings.Goals, paths, &r)
		rows = append(rows, r)
	}
	rows, refund := in.budget(ctx, site, num, rows, m.Now, &res)
	j.rows = rows
	if len(rows) == 0 {
		j.release()
		return res, nil
	}
	size := int64(0)
	log := append(j.log, '[')
	for i := range rows {
		size += rows[i].size()
		if i > 0 {
			log = append(log, ',')
		}
		log = rows[i].appendJSON(log)
	}
	log = append(log, ']')
	size += int64(len(log))
	j.log, j.bytes = log, size
	if err := in.enqueue(ctx, j); err != nil {
		refund() // refused (the page sends them again): they do not spend the budget
		j.release()
		return Result{}, err
	}
	res.Accepted = len(rows)
	in.Stats.Accepted.Add(int64(len(rows)))
	return res, nil
}

// budget keeps the rows the site's budget allows: none larger than its
// event limit, and no more today than its daily budget. What it drops is
// counted (metrics, and the site's day for the dashboard), not stored.
// refund gives the kept rows' share back when they are refused after all.
func (in *Ingester) budget(ctx context.Context, site *store.Site, num int64, rows []row, now time.Time, res *Result) (kept []row, refund func()) {
	limit := int64(site.Settings.EventBytes())
	kept = rows[:0]
	for i := range rows {
		if rows[i].size()-512 > limit {
			in.Stats.TooLarge.Add(1)
			continue
		}
		kept = append(kept, rows[i])
	}
	tooLarge := len(rows) - len(kept)
	k := botKey{num, now.In(in.zone(site.TimeZone)).Format(time.DateOnly)}
	in.usageMu.Lock()
	u := in.usage[k]
	if u == nil || !u.loaded {
		in.usageMu.Unlock()
		var before int64
		in.db.R.QueryRowContext(ctx, `SELECT accepted FROM site_days WHERE site = ? AND day = ?`, k.site, k.day).Scan(&before)
		in.usageMu.Lock()
		if in.usage == nil {
			in.usage = map[botKey]*usage{}
		}
		if u = in.usage[k]; u == nil {
			u = &usage{}
			in.usage[k] = u
		}
		if !u.loaded {
			u.loaded, u.accepted = true, u.accepted+before
		}
	}
	grant := max(0, min(int64(len(kept)), int64(site.Settings.DailyEvents())-u.accepted))
	over := int64(len(kept)) - grant
	u.accepted += grant
	u.newAccepted += grant
	u.dropped += over + int64(tooLarge)
	u.newDropped += over + int64(tooLarge)
	in.usageMu.Unlock()
	in.Stats.OverBudget.Add(over)
	res.Dropped += int(over) + tooLarge
	if grant == 0 && over+int64(tooLarge) > 0 {
		in.enqueue(ctx, &job{}) // the writer stores the counts with its next commit
	}
	return kept[:grant], func() {
		in.usageMu.Lock()
		u.accepted -= grant
		u.newAccepted -= grant
		in.usageMu.Unlock()
	}
}

// storeUsage writes what the sites' days gained since the last commit, and
// forgets the days before yesterday.
func (in *Ingester) storeUsage() {
	type delta struct {
		k                 botKey
		accepted, dropped int64
	}
	var ds []delta
	in.usageMu.Lock()
	yesterday := time.Now().AddDate(0, 0, -2).Format(time.DateOnly)
	for k, u := range in.usage {
		if u.newAccepted != 0 || u.newDropped != 0 {
			ds = append(ds, delta{k, u.newAccepted, u.newDropped})
			u.newAccepted, u.newDropped = 0, 0
		} else if k.day < yesterday {
			delete(in.usage, k)
		}
	}
	in.usageMu.Unlock()
	if len(ds) == 0 {
		return
	}
	err := in.db.Tx(context.Background(), func(tx *sql.Tx) error {
		for _, d := range ds {
			if _, err := tx.Exec(`INSERT INTO site_days (site, day, accepted, dropped) VALUES (?, ?, ?, ?)
				ON CONFLICT (site, day) DO UPDATE SET accepted = site_days.accepted + excluded.accepted, dropped = site_days.dropped + excluded.dropped`,
				d.k.site, d.k.day, d.accepted, d.dropped); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		in.log.Error("analytics: store the sites' daily counts", "err", err)
	}
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
		in.enqueue(ctx, &job{})
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
				ON CONFLICT (site, day) DO UPDATE SET events = bot_days.events + excluded.events`, k.site, k.day, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		in.log.Error("analytics: store bot counts", "err", err)
	}
}

// enqueue queues a job, waiting for room as Options say.
func (in *Ingester) enqueue(ctx context.Context, j *job) error {
	var deadline *time.Timer
	for {
		room := in.roomSignal()
		err := in.tryEnqueue(j)
		if !errors.Is(err, ErrFull) || len(j.rows) == 0 {
			return err
		}
		if in.opts.MaxWait < 0 || in.waiting.Add(j.bytes) > in.opts.MaxWaitingBytes {
			if in.opts.MaxWait >= 0 {
				in.waiting.Add(-j.bytes)
			}
			in.Stats.Full.Add(int64(len(j.rows)))
			return ErrFull
		}
		if deadline == nil {
			deadline = time.NewTimer(in.opts.MaxWait)
			defer deadline.Stop()
		}
		select {
		case <-room:
			in.waiting.Add(-j.bytes)
		case <-deadline.C:
			in.waiting.Add(-j.bytes)
			in.Stats.Full.Add(int64(len(j.rows)))
			return ErrFull
		case <-ctx.Done():
			in.waiting.Add(-j.bytes)
			return ctx.Err()
		}
	}
}

// roomSignal is closed when the writer next frees room.
func (in *Ingester) roomSignal() chan struct{} {
	in.roomMu.Lock()
	defer in.roomMu.Unlock()
	return in.room
}

// freed wakes the batches waiting for room.
func (in *Ingester) freed() {
	in.roomMu.Lock()
	close(in.room)
	in.room = make(chan struct{})
	in.roomMu.Unlock()
}

// tryEnqueue queues a job if there is room, else returns ErrFull.
func (in *Ingester) tryEnqueue(j *job) error {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if in.closed {
		return ErrClosed
	}
	n := int64(len(j.rows))
	full := func() error {
		in.queued.Add(-n)
		in.bytes.Add(-j.bytes)
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

// Full reports whether the queue is at its bound and no more batches may
// wait for room, so that a caller can refuse a request before spending
// anything on it.
func (in *Ingester) Full() bool {
	full := in.queued.Load() >= int64(in.opts.MaxQueued) || in.bytes.Load() >= in.opts.MaxQueuedBytes || len(in.queue) >= cap(in.queue)
	return full && (in.opts.MaxWait < 0 || in.waiting.Load() >= in.opts.MaxWaitingBytes)
}

// QueuedBytes is the rough size in memory of the events not yet committed.
func (in *Ingester) QueuedBytes() int64 { return in.bytes.Load() }

// Queued is the number of events accepted and not yet committed.
func (in *Ingester) Queued() int64 { return in.queued.Load() }

// write is the writer goroutine: it takes every job waiting (up to MaxTx
// events) and commits them in one transaction.
func (in *Ingester) write() {
	defer close(in.done)
	defer in.freed() // waiting batches learn that the ingester is closed
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for j := range in.queue {
		jobs := []*job{j}
		n := len(j.rows)
		size := j.bytes
		var wait <-chan time.Time // nil: take what is queued, do not wait
		if j.flush == nil && in.opts.Linger > 0 {
			linger.Reset(in.opts.Linger)
			wait = linger.C
		}
	more:
		for n < in.opts.MaxTx && jobs[len(jobs)-1].flush == nil {
			var j2 *job
			ok := true
			if wait == nil {
				select {
				case j2, ok = <-in.queue:
				default:
					break more
				}
			} else {
				select {
				case j2, ok = <-in.queue:
				case <-wait:
					wait = nil
					break more
				}
			}
			if !ok {
				break more
			}
			jobs = append(jobs, j2)
			n += len(j2.rows)
			size += j2.bytes
		}
		if wait != nil {
			linger.Stop()
		}
		if n > 0 {
			if err := in.commit(jobs); err != nil {
				in.Stats.Failed.Add(int64(n))
				in.log.Error("analytics: commit failed; events lost", "events", n, "err", err)
			} else {
				in.Stats.Persisted.Add(int64(n))
				for i, j := range jobs {
					if len(j.rows) > 0 && (i == 0 || len(jobs[i-1].rows) == 0 || jobs[i-1].batch.site != j.batch.site) {
						in.db.changed(j.batch.site)
					}
				}
			}
			in.queued.Add(-int64(n))
		}
		in.bytes.Add(-size)
		in.freed()
		in.storeBots()
		in.storeUsage()
		for _, j := range jobs {
			if j.flush != nil {
				close(j.flush)
			} else {
				j.release()
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
	pages                  map[string]*pageAgg
	pageOrder              []string // the pages in the order first viewed: the visit's list keeps it
	evs                    map[string]int64
	props                  map[[3]string]int64
}

type pageAgg struct {
	views, engaged int64
	scroll         int
}

func (in *Ingester) commit(jobs []*job) error {
	visits := map[visitKey]*visitAgg{}
	var order []visitKey
	offers := map[offerKey]*offerAgg{}
	var offerOrder []offerKey
	var goals []*row
	// event_log's rows go by their batch's latest event.
	stamps := make([]int64, 0, len(jobs))
	for _, j := range jobs {
		latest := int64(0)
		for i := range j.rows {
			latest = max(latest, j.rows[i].ts)
		}
		stamps = append(stamps, latest)
	}
	if err := in.db.ensurePartitions(context.Background(), stamps); err != nil {
		return err
	}
	return in.db.Tx(context.Background(), func(tx *sql.Tx) error {
		log := multiRow{tx: tx, cols: 6, head: `INSERT INTO event_log (site, ts, visit, visitor, n, data) VALUES `}
		for _, j := range jobs {
			if len(j.rows) == 0 {
				continue
			}
			latest := int64(0)
			for i := range j.rows {
				latest = max(latest, j.rows[i].ts)
			}
			b := &j.batch
			if err := log.add(b.site, latest, b.visit, b.visitor, len(j.rows), j.log); err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
			for i := range j.rows {
				r := &j.rows[i]
				k := visitKey{b.site, b.visit}
				v := visits[k]
				if v == nil {
					v = &visitAgg{first: r, start: r.ts, end: r.ts, visitor: b.visitor, visitN: b.visitN}
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
					v.page(r.path).views++
					v.page(r.path).scroll = max(v.page(r.path).scroll, r.scroll)
				case "leave":
					v.engaged += r.engaged
					p := v.page(r.path)
					p.engaged += r.engaged
					p.scroll = max(p.scroll, r.scroll)
				case "event":
					v.events++
					if v.evs == nil {
						v.evs = map[string]int64{}
					}
					v.evs[r.name]++
					for _, pr := range r.pairs {
						if v.props == nil {
							v.props = map[[3]string]int64{}
						}
						v.props[[3]string{r.name, pr[0], pr[1]}]++
					}
				case "identify":
					v.userID = r.userID
				case "offer":
					k := offerKey{b.site, b.visit, r.offer.Rule, r.offer.Variant}
					o := offers[k]
					if o == nil {
						o = &offerAgg{visitor: b.visitor, version: r.offer.V, start: r.ts, stages: map[string]int{}}
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
		if err := log.flush(); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		days := make(map[visitKey]string, len(visits))
		up, err := tx.Prepare(`INSERT INTO visits (site, visit, visitor, visit_n, day, hour, start_ts, end_ts, pageviews, events, engaged_ms,
				entry_path, exit_path, exit_title, ref_host, source, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
				browser, os, device, language, screen, user_id, pages, evs, props)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (site, visit) DO UPDATE SET
				entry_path = CASE WHEN excluded.start_ts < visits.start_ts THEN excluded.entry_path ELSE visits.entry_path END,
				exit_title = CASE WHEN excluded.exit_path <> '' AND excluded.end_ts >= visits.end_ts THEN excluded.exit_title ELSE visits.exit_title END,
				exit_path = CASE WHEN excluded.exit_path <> '' AND excluded.end_ts >= visits.end_ts THEN excluded.exit_path ELSE visits.exit_path END,
				start_ts = CASE WHEN excluded.start_ts < visits.start_ts THEN excluded.start_ts ELSE visits.start_ts END,
				end_ts = CASE WHEN excluded.end_ts > visits.end_ts THEN excluded.end_ts ELSE visits.end_ts END,
				pageviews = visits.pageviews + excluded.pageviews,
				events = visits.events + excluded.events,
				engaged_ms = visits.engaged_ms + excluded.engaged_ms,
				user_id = CASE WHEN excluded.user_id <> '' THEN excluded.user_id ELSE visits.user_id END,
				pages = nudge_merge_pages(visits.pages, excluded.pages),
				evs = nudge_merge_evs(visits.evs, excluded.evs),
				props = nudge_merge_props(visits.props, excluded.props)
			RETURNING day`)
		if err != nil {
			return err
		}
		defer up.Close()
		var pages, evs, props, key []byte
		for _, k := range order {
			v := visits[k]
			f := v.first
			t := time.UnixMilli(v.start).In(f.b.loc)
			src := f.src
			if src == nil {
				src = &source{}
			}
			exit, title := "", ""
			if v.last != nil {
				exit, title = v.last.path, v.last.title
			}
			pages, evs, props = pages[:0], evs[:0], props[:0]
			for _, path := range v.pageOrder {
				p := v.pages[path]
				pages = appendEntry(pages, docKey(key, path), 3, [3]int64{p.views, p.engaged, int64(p.scroll)})
			}
			for name, n := range v.evs {
				evs = appendEntry(evs, docKey(key, name), 1, [3]int64{n})
			}
			for kv, n := range v.props {
				props = appendEntry(props, docKey(key, kv[0], kv[1], kv[2]), 1, [3]int64{n})
			}
			var day string
			err := up.QueryRow(k.site, k.visit, v.visitor, v.visitN, t.Format(time.DateOnly), t.Hour(), v.start, v.end, v.pageviews, v.events, v.engaged,
				f.path, exit, title, src.refHost, src.source, src.medium, src.utm[0], src.utm[1], src.utm[2], src.utm[3], src.utm[4],
				f.b.cl.browser, f.b.cl.os, f.b.cl.device, f.b.lang, f.b.screen, v.userID, nilIfEmpty(pages), nilIfEmpty(evs), nilIfEmpty(props)).Scan(&day)
			if err != nil {
				return fmt.Errorf("upsert visit: %w", err)
			}
			days[k] = day
		}
		// Offers before goals: a goal in the same batch counts for an offer decided before it.
		if err := upsertOffers(tx, offers, offerOrder, goals); err != nil {
			return err
		}
		return markDirty(context.Background(), tx, days)
	})
}

func (v *visitAgg) page(path string) *pageAgg {
	if v.pages == nil {
		v.pages = map[string]*pageAgg{}
	}
	p := v.pages[path]
	if p == nil {
		p = &pageAgg{}
		v.pages[path] = p
		v.pageOrder = append(v.pageOrder, path)
	}
	return p
}

// nilIfEmpty stores an empty list as NULL.
func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// appendJSON appends the row as event_log keeps it: the enriched event,
// empty fields left out.
func (r *row) appendJSON(b []byte) []byte {
	b = append(b, `{"ts":`...)
	b = strconv.AppendInt(b, r.ts, 10)
	b = appendField(b, "type", r.typ)
	b = appendField(b, "path", r.path)
	b = appendField(b, "title", r.title)
	if r.src != nil {
		b = appendField(b, "ref_host", r.src.refHost)
	}
	b = appendField(b, "name", r.name)
	if r.props != "" {
		b = append(b, `,"props":`...)
		b = append(b, r.props...) // JSON already
	}
	if r.engaged != 0 {
		b = append(b, `,"engaged_ms":`...)
		b = strconv.AppendInt(b, r.engaged, 10)
	}
	if r.scroll != 0 {
		b = append(b, `,"scroll":`...)
		b = strconv.AppendInt(b, int64(r.scroll), 10)
	}
	b = appendField(b, "user_id", r.userID)
	return append(b, '}')
}

func appendField(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

// appendJSONString quotes valid UTF-8 as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// size is a row's rough footprint in memory: the struct and its strings.
func (r *row) size() int64 {
	n := 512 + len(r.b.visitor) + len(r.b.visit) + len(r.path) + len(r.title) + len(r.name) + len(r.props) + len(r.userID) +
		len(r.b.lang) + len(r.b.screen)
	if r.src != nil {
		n += len(r.src.refHost) + len(r.src.source) + len(r.src.medium)
		for _, u := range r.src.utm {
			n += len(u)
		}
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
			ON CONFLICT (site, visit, rule, variant) DO UPDATE SET
				version = CASE WHEN excluded.version > offer_visits.version THEN excluded.version ELSE offer_visits.version END,
				start_ts = CASE WHEN excluded.start_ts < offer_visits.start_ts THEN excluded.start_ts ELSE offer_visits.start_ts END,
				qualified = offer_visits.qualified + excluded.qualified, shown = offer_visits.shown + excluded.shown,
				accepted = offer_visits.accepted + excluded.accepted, declined = offer_visits.declined + excluded.declined,
				dismissed = offer_visits.dismissed + excluded.dismissed, chats = offer_visits.chats + excluded.chats`)
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
			g.b.site, g.b.visit, g.ts); err != nil {
			return fmt.Errorf("offer conversions: %w", err)
		}
	}
	return nil
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
	m = withoutNUL(m)
	b, _ := json.Marshal(m)
	pairs := make([][2]string, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, [2]string{clean(k), clean(propString(v))})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i][0] < pairs[j][0] })
	return string(b), pairs
}

// withoutNUL drops NUL characters from property names and text values: the
// raw events keep their JSON, and no database's JSON reads a \u0000 back
// as text (PostgreSQL's refuses it). m is copied only when one has one.
func withoutNUL(m map[string]any) map[string]any {
	has := func(s string) bool { return strings.IndexByte(s, 0) >= 0 }
	found := false
	for k, v := range m {
		if s, ok := v.(string); has(k) || ok && has(s) {
			found = true
			break
		}
	}
	if !found {
		return m
	}
	drop := func(s string) string { return strings.ReplaceAll(s, "\x00", "") }
	out := make(map[string]any, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			v = drop(s)
		}
		out[drop(k)] = v
	}
	return out
}

// firstLanguage is the first tag of an Accept-Language header, if it is one.
func firstLanguage(h string) string {
	tag, _, _ := strings.Cut(h, ",")
	tag, _, _ = strings.Cut(tag, ";")
	if tag = strings.TrimSpace(tag); langRE.MatchString(tag) {
		return tag
	}
	return ""
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

// sessions turn visitors into visits: a new visit after VisitTimeout without
// activity. They hold the hashed visitors of cookieless sites and the
// visitors of pages that keep no visit id; at most maxSessions, the idle
// ones going first.
type sessions struct {
	mu      sync.Mutex
	m       map[string]*session
	counter int
}

// maxSessions bounds the sessions in memory (about 150 bytes each): a flood
// of made-up visitor ids costs visits split, not memory.
const maxSessions = 500_000

type session struct {
	visit string
	last  int64
	n     int
}

// visit returns the visit of key at now. last, if set, gives a visitor's
// latest stored visit (id, number, last activity) when memory has none.
func (s *sessions) visit(key string, now int64, last func() (string, int, int64)) (string, int) {
	s.mu.Lock()
	v := s.m[key]
	s.mu.Unlock()
	var stored *session
	if v == nil && last != nil {
		if id, n, end := last(); id != "" {
			stored = &session{visit: id, n: n, last: end}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counter++; s.counter%10_000 == 0 || len(s.m) >= maxSessions {
		s.prune(now)
	}
	if v = s.m[key]; v == nil {
		v = stored
	}
	if v == nil || now-v.last > VisitTimeout.Milliseconds() {
		n := 1
		if v != nil {
			n = v.n + 1
		}
		v = &session{visit: store.NewID(), n: n}
	}
	s.m[key] = v
	v.last = max(v.last, now)
	return v.visit, v.n
}

// prune drops idle sessions and, past maxSessions still, any.
func (s *sessions) prune(now int64) {
	for k, v := range s.m {
		if now-v.last > VisitTimeout.Milliseconds() {
			delete(s.m, k)
		}
	}
	for k := range s.m {
		if len(s.m) < maxSessions*9/10 {
			break
		}
		delete(s.m, k)
	}
}

// blinded remembers the stored ids of the user ids identified last: a
// logged-in visitor's page identifies them on every view, and their keyed
// hash was most of what an identify cost. At most maxBlinded are kept.
type blinded struct {
	mu sync.Mutex
	m  map[string]string // tenant, 0x00, user id → BlindPrefix + fingerprint
}

const maxBlinded = 16_384

func (b *blinded) get(key string) (string, bool) {
	b.mu.Lock()
	id, ok := b.m[key]
	b.mu.Unlock()
	return id, ok
}

func (b *blinded) put(key, id string) {
	b.mu.Lock()
	if len(b.m) >= maxBlinded || b.m == nil {
		b.m = make(map[string]string, 1024)
	}
	b.m[key] = id
	b.mu.Unlock()
}
