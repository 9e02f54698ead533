package analytics

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"

	"github.com/nudgehq/nudge/store"
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Schema is where the analytics tables live in a PostgreSQL database that
// the store shares: their names (sites, visits) are the store's too.
const Schema = "nudge_analytics"

// DB is the analytics database: its own SQLite file, or a schema of the
// store's PostgreSQL database.
type DB struct {
	*store.DB
	numbers sync.Map // site id -> site number
	// removals counts erasures and deletions: a day table read before one
	// is read again at once (ingestion only adds, and waits liveTableAge).
	removals atomic.Int64
	gens     sync.Map // site number -> *atomic.Int64: commits of events
	parts    sync.Map // UTC day number -> true: event_log's day tables made (PostgreSQL)
}

// changed records that a commit changed a site's visits.
func (db *DB) changed(site int64) {
	g, _ := db.gens.LoadOrStore(site, new(atomic.Int64))
	g.(*atomic.Int64).Add(1)
}

// generation counts the commits that changed a site's visits.
func (db *DB) generation(site int64) int64 {
	if g, ok := db.gens.Load(site); ok {
		return g.(*atomic.Int64).Load()
	}
	return 0
}

// Open opens (creating if needed) the analytics database at path, or in the
// PostgreSQL database a postgres:// URL names (in Schema). A SQLite file's
// synchronous mode is NORMAL: a crash of the process loses nothing committed,
// a power cut may lose the last commits, which analytics can afford.
func Open(ctx context.Context, path string) (*DB, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if store.IsDatabaseURL(path) {
		return openPostgres(ctx, path)
	}
	// A 32 MiB page cache per connection and memory-mapped reads (at most
	// 256 MiB, which count in the resident memory): the indexes of a busy site
	// outgrow SQLite's 2 MiB default at once, and every insert that misses the
	// cache becomes a read from the file. 64 MiB and 1 GiB took a flood's
	// peak to 430 MiB for no rate that shows (benchmarks.md, 2026-12-06). A checkpoint
	// every 64 MiB of WAL rather than every 4 MiB: checkpoints run on the
	// writer's thread, and at full load the default had them stall it several
	// times a second (38k against 55k events/s persisted; docs/benchmarks.md).
	db, err := store.OpenDB(ctx, path, store.DBOptions{Migrations: sub, Synchronous: "NORMAL",
		Pragmas: []string{"cache_size(-32768)", "mmap_size(268435456)", "temp_store(MEMORY)", "wal_autocheckpoint(16384)", "journal_size_limit(67108864)"}})
	if err != nil {
		return nil, err
	}
	// No ANALYZE statistics: sampled ones mislead the planner here, and the
	// day-range scans name their index (INDEXED BY) instead.
	db.W.ExecContext(ctx, `DROP TABLE IF EXISTS sqlite_stat1`)
	return &DB{DB: db}, nil
}

// site returns the number that stands for siteID in every table, making one
// when create is set; ok is false when the site has none (no data yet).
func (db *DB) site(ctx context.Context, siteID string, create bool) (n int64, ok bool, err error) {
	if v, ok := db.numbers.Load(siteID); ok {
		return v.(int64), true, nil
	}
	err = db.R.QueryRowContext(ctx, `SELECT site FROM sites WHERE site_id = ?`, siteID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) && create {
		err = db.W.QueryRowContext(ctx, `INSERT INTO sites (site_id) VALUES (?)
			ON CONFLICT (site_id) DO UPDATE SET site_id = excluded.site_id RETURNING site`, siteID).Scan(&n)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("analytics: number of site %s: %w", siteID, err)
	}
	db.numbers.Store(siteID, n)
	return n, true, nil
}

// lastVisit returns a visitor's latest stored visit: its id, number and last
// activity ("" when none).
func (db *DB) lastVisit(ctx context.Context, site int64, visitor string) (id string, n int, end int64) {
	db.R.QueryRowContext(ctx, `SELECT visit, visit_n, end_ts FROM visits`+db.Dialect.IndexedBy("visits_visitor")+`
		WHERE site = ? AND visitor = ? ORDER BY end_ts DESC LIMIT 1`, site, visitor).Scan(&id, &n, &end)
	return id, n, end
}
