package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"runtime"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// openPostgresDB opens a PostgreSQL database and migrates it. Nodes that
// start together take turns: the migrations run under an advisory lock.
func openPostgresDB(ctx context.Context, dsn string, o DBOptions) (*DB, error) {
	name := dsn
	if u, err := url.Parse(dsn); err == nil {
		name = "postgres://" + u.Host + u.Path // never the password
	}
	if o.PostgresMigrations == nil {
		return nil, fmt.Errorf("store: %s: this database has no PostgreSQL schema", name)
	}
	pool, err := openPostgres(dsn, max(16, 4*runtime.NumCPU()))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", name, err)
	}
	db := &DB{W: pool, R: pool, Dialect: Postgres, path: name}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300)) // poll each second, up to 5 min
	if err != nil {
		pool.Close()
		return nil, err
	}
	if db.provider, err = goose.NewProvider(goose.DialectPostgres, pool, o.PostgresMigrations, goose.WithSessionLocker(locker)); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: migrations of %s: %w", name, err)
	}
	if o.Version > 0 {
		_, err = db.provider.UpTo(ctx, o.Version)
	} else {
		_, err = db.provider.Up(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", name, err)
	}
	return db, nil
}

// Connect opens a plain handle on a database file or server, without
// migrating it, that takes queries written as the store's are (SQLite's
// parameters): for tools and tests that read what the store wrote.
func Connect(path string) (*sql.DB, error) {
	if IsDatabaseURL(path) {
		return openPostgres(path, 4)
	}
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
}
