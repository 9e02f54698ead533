// Package store is nudge's system of record: the SQLite database (pure Go, WAL),
// its embedded migrations, and the queries the rest of the program runs against it.
//
// SQLite has one writer at a time, so the store keeps two handles on the same file:
// a single-connection writer (writes queue in Go instead of failing with
// SQLITE_BUSY) and a pool of read-only connections that WAL lets run beside it.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrNotFound means no row matched, within the caller's tenant.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique value (an email, a site key) is taken.
	ErrConflict = errors.New("already exists")
)

// Store is the open database.
type Store struct {
	w        *sql.DB // the one writer connection
	r        *sql.DB // read-only pool
	path     string
	provider *goose.Provider
}

// Open opens (creating if needed) the database file at path and applies every
// pending migration.
func Open(ctx context.Context, path string) (*Store, error) {
	s, err := open(path)
	if err != nil {
		return nil, err
	}
	if _, err := s.provider.Up(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", path, err)
	}
	return s, nil
}

// OpenAt opens the database and migrates it up to version only. Tests use it to
// build a database as an earlier release left it.
func OpenAt(ctx context.Context, path string, version int64) (*Store, error) {
	s, err := open(path)
	if err != nil {
		return nil, err
	}
	if _, err := s.provider.UpTo(ctx, version); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: migrate %s to %d: %w", path, version, err)
	}
	return s, nil
}

func open(path string) (*Store, error) {
	// synchronous(FULL): a commit is on disk before it returns, because chat
	// messages are acknowledged after their commit; group commit pays for it.
	pragmas := url.Values{}
	pragmas.Add("_pragma", "busy_timeout(10000)")
	pragmas.Add("_pragma", "journal_mode(WAL)")
	pragmas.Add("_pragma", "foreign_keys(1)")
	pragmas.Add("_pragma", "synchronous(FULL)")
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
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, w, sub)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	return &Store{w: w, r: r, path: path, provider: p}, nil
}

// Close closes both handles.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Ready reports whether the database answers and every migration is applied.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	pending, err := s.provider.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("store: migration status: %w", err)
	}
	if pending {
		return errors.New("store: migrations pending")
	}
	return nil
}

// Version is the schema version the database is at.
func (s *Store) Version(ctx context.Context) (int64, error) {
	return s.provider.GetDBVersion(ctx)
}

// tx runs fn in one write transaction, committed when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

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

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	type coder interface{ Code() int }
	var c coder
	if errors.As(err, &c) {
		// SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555).
		return c.Code() == 2067 || c.Code() == 1555
	}
	return false
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
