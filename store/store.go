// Package store is nudge's system of record: a SQLite database (pure Go, WAL) by
// default or a PostgreSQL server in a cluster, their embedded migrations, and
// the queries the rest of the program runs against them (one set for both;
// the differences are in dialect.go).
//
// SQLite has one writer at a time, so the store keeps two handles on the same file:
// a single-connection writer (writes queue in Go instead of failing with
// SQLITE_BUSY) and a pool of read-only connections that WAL lets run beside it.
// On PostgreSQL both are one pool.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrNotFound means no row matched, within the caller's tenant.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique value (an email, a site key) is taken.
	ErrConflict = errors.New("already exists")
)

// DB is one SQLite file (a single-connection writer, a read-only pool) or
// one PostgreSQL database (W and R the same pool), and the migrations that
// shape it. Other packages with a database of their own (analytics) open it
// with OpenDB.
type DB struct {
	W        *sql.DB // SQLite: the one writer connection; transactions begin IMMEDIATE
	R        *sql.DB // SQLite: the read-only pool
	Dialect  Dialect
	path     string // the file, or the server and database (never a password)
	provider *goose.Provider

	cp            *sql.DB // the checkpointer's connection, when Checkpoint is set
	stop, stopped chan struct{}
	closeOnce     sync.Once
}

// DBOptions shape a database file.
type DBOptions struct {
	// Migrations holds the goose SQL files at its root; PostgresMigrations
	// the same schema's for PostgreSQL.
	Migrations, PostgresMigrations fs.FS
	// Synchronous is SQLite's synchronous pragma: FULL (every commit on disk
	// before it returns) or NORMAL (survives a crash of the process, not of
	// the machine).
	Synchronous string
	// Version stops the migrations at this version; 0 applies them all.
	Version int64
	// Pragmas are more pragmas for every connection, e.g. "cache_size(-65536)".
	Pragmas []string
	// Checkpoint moves the WAL into the database file from a connection of
	// its own, every interval, so that commits do not copy pages; see
	// DB.checkpoint.
	Checkpoint time.Duration
}

// restartFrames is the WAL length (in pages) from which the checkpointer
// lets the writer start the WAL over: about 40 MiB of 4 KiB pages.
const restartFrames = 10000

// OpenDB opens (creating if needed) the file at path, or the PostgreSQL
// database a postgres:// URL names, and migrates it.
func OpenDB(ctx context.Context, path string, o DBOptions) (*DB, error) {
	if IsDatabaseURL(path) {
		return openPostgresDB(ctx, path, o)
	}
	// The files hold customer data (sealed or not): only the server's user
	// reads them. SQLite gives its -wal and -shm files the database's mode.
	// The folder is made here too, so that a command run before the first
	// serve (nudge user create) finds it.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: make the data folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	f.Close()
	pragmas := url.Values{}
	pragmas.Add("_pragma", "busy_timeout(10000)")
	pragmas.Add("_pragma", "journal_mode(WAL)")
	pragmas.Add("_pragma", "foreign_keys(1)")
	pragmas.Add("_pragma", "synchronous("+o.Synchronous+")")
	for _, p := range o.Pragmas {
		pragmas.Add("_pragma", p)
	}
	if o.Checkpoint > 0 {
		// The checkpointer keeps the WAL short; a writer's own automatic
		// checkpoint would stall a commit for a copy and two fsyncs.
		pragmas.Add("_pragma", "wal_autocheckpoint(0)")
	}
	w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas.Encode()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	pragmas.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", "file:"+path+"?"+pragmas.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(max(4, runtime.NumCPU()))
	db := &DB{W: w, R: r, path: path}
	if db.provider, err = goose.NewProvider(goose.DialectSQLite3, w, o.Migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrations of %s: %w", path, err)
	}
	if o.Version > 0 {
		_, err = db.provider.UpTo(ctx, o.Version)
	} else {
		_, err = db.provider.Up(ctx)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", path, err)
	}
	if o.Checkpoint > 0 {
		// synchronous stays FULL here whatever the writer's: a checkpoint
		// then flushes the WAL before copying it, which bounds what
		// synchronous(NORMAL) commits can lose to one interval.
		cp, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(1000)&_pragma=synchronous(FULL)")
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		cp.SetMaxOpenConns(1)
		db.cp, db.stop, db.stopped = cp, make(chan struct{}), make(chan struct{})
		go db.checkpoint(o.Checkpoint)
	}
	return db, nil
}

// checkpoint runs PASSIVE checkpoints: they copy what they can without
// waiting for the writer or blocking it. That alone never lets the WAL
// start over under a steady load: SQLite rewinds it only when a write
// begins with every page already copied, and the writer always adds pages
// while the copy runs. So once the WAL is long, the checkpointer takes the
// writer connection for a moment and copies, on it, the few pages written
// since (plus SQLite's fsyncs); the next write then rewinds the WAL. A
// commit waits at most for that short copy, never for a full one.
func (db *DB) checkpoint(every time.Duration) {
	defer close(db.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			if err := db.checkpointStep(); err != nil {
				slog.Warn("store: checkpoint on the writer", "path", db.path, "err", err)
			}
		}
	}
}

// checkpointStep is one round of the checkpointer: a PASSIVE copy, and once
// the WAL is long, the catch-up on the writer connection.
func (db *DB) checkpointStep() error {
	frames, err := db.passive()
	if err != nil || frames < restartFrames {
		return err
	}
	return db.catchUp()
}

// passive copies what it can without waiting for the writer, and returns
// the WAL's length in frames.
func (db *DB) passive() (int, error) {
	var busy, frames, copied int
	err := db.cp.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	return frames, err
}

// catchUp checkpoints on the writer connection, between two transactions.
func (db *DB) catchUp() error {
	ctx := context.Background()
	conn, err := db.W.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
	return err
}

// Close closes the handles.
func (db *DB) Close() error {
	var err error
	if db.cp != nil {
		db.closeOnce.Do(func() {
			close(db.stop)
			<-db.stopped
			err = db.cp.Close()
		})
	}
	if db.R == db.W {
		return errors.Join(err, db.W.Close())
	}
	return errors.Join(err, db.R.Close(), db.W.Close())
}

// Ready reports whether the file answers and every migration is applied.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.R.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", db.path, err)
	}
	pending, err := db.provider.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("store: migration status of %s: %w", db.path, err)
	}
	if pending {
		return fmt.Errorf("store: %s has migrations pending", db.path)
	}
	return nil
}

// Tx runs fn in one write transaction, committed when fn returns nil.
func (db *DB) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Store is the main database: accounts, sites, and (later) conversations.
type Store struct {
	db   *DB
	w, r *sql.DB
	d    Dialect

	stmts map[string]*sql.Stmt // prepared on w at open, by query; read-only after
	seqs  seqCache             // conversations' last seqs, for the chat log's inserts

	sealer Sealer // seals secrets at rest; nil keeps them in clear (tools, tests)
}

// Open opens (creating if needed) the main database file at path and applies
// every pending migration.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenAt opens the main database and migrates it up to version only (0: all).
// Tests use it to build a database as an earlier release left it.
func OpenAt(ctx context.Context, path string, version int64) (*Store, error) {
	return OpenWith(ctx, path, Options{Version: version})
}

// Durability of commits (Options.Sync).
const (
	// SyncFull: every commit is on disk before it returns, so nothing
	// acknowledged is lost even when the machine loses power; a commit
	// then takes the disk's flush time (its slow tail included).
	SyncFull = "full"
	// SyncNormal: a commit is in the WAL before it returns, which a crash
	// of the process cannot lose; the disk is flushed by the checkpointer
	// every half second, so a crash of the machine may lose that much.
	SyncNormal = "normal"
)

// Options shape the main database.
type Options struct {
	Sync    string // SyncFull (default) or SyncNormal
	Version int64  // migrate up to this version only (0: all)
}

// OpenWith opens the main database with options.
func OpenWith(ctx context.Context, path string, o Options) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	pg, err := fs.Sub(migrations, "migrations/postgres")
	if err != nil {
		return nil, err
	}
	sync := "FULL"
	switch o.Sync {
	case "", SyncFull:
	case SyncNormal:
		sync = "NORMAL"
	default:
		return nil, fmt.Errorf("store: sync %q: want %s or %s", o.Sync, SyncFull, SyncNormal)
	}
	db, err := OpenDB(ctx, path, DBOptions{Migrations: sub, PostgresMigrations: pg, Synchronous: sync, Version: o.Version,
		Pragmas: []string{"cache_size(-32768)"}, Checkpoint: 500 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	st := &Store{db: db, w: db.W, r: db.R, d: db.Dialect}
	if o.Version == 0 {
		if err := st.prepare(); err != nil {
			db.Close()
			return nil, err
		}
	}
	return st, nil
}

// Close closes the database.
func (s *Store) Close() error {
	for _, st := range s.stmts {
		st.Close()
	}
	return s.db.Close()
}

// Path is the database file, or the PostgreSQL server and database.
func (s *Store) Path() string { return s.db.path }

// Dialect is the database the store runs on.
func (s *Store) Dialect() Dialect { return s.d }

// Ready reports whether the database answers and every migration is applied.
func (s *Store) Ready(ctx context.Context) error { return s.db.Ready(ctx) }

// Version is the schema version the database is at.
func (s *Store) Version(ctx context.Context) (int64, error) { return s.db.Version(ctx) }

// Version is the schema version the database is at.
func (db *DB) Version(ctx context.Context) (int64, error) { return db.provider.GetDBVersion(ctx) }

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error { return s.db.Tx(ctx, fn) }

// NewID returns a new time-ordered id.
func NewID() string {
	return ulid.MustNew(ulid.Now(), rand.Reader).String()
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullMillis(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromNullMillis(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMillis(n.Int64)
	return &t
}

// Page asks for one page of a list ordered by id: at most Limit rows after the
// cursor After (an id from the previous page, empty for the first).
type Page struct {
	Limit int
	After string
}

// limit is the page size to query: one more than asked, to know whether a next
// page exists.
func (p Page) limit() int {
	if p.Limit <= 0 || p.Limit > 500 {
		return 51
	}
	return p.Limit + 1
}

// trim cuts rows to the page size and returns the cursor of the next page.
func trim[T any](p Page, rows []T, id func(T) string) ([]T, string) {
	n := p.limit() - 1
	if len(rows) > n {
		return rows[:n], id(rows[n-1])
	}
	return rows, ""
}
