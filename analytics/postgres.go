package analytics

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/nudgehq/nudge/store"
)

// openPostgres opens the analytics tables in their schema of a PostgreSQL
// database, making the schema first (goose keeps its version table there
// too, apart from the store's).
func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	pg, err := fs.Sub(migrations, "migrations/postgres")
	if err != nil {
		return nil, err
	}
	conn, err := store.Connect(dsn)
	if err != nil {
		return nil, err
	}
	_, err = conn.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+Schema)
	conn.Close()
	if err != nil {
		return nil, fmt.Errorf("analytics: make schema %s: %w", Schema, err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("analytics: the database URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", Schema)
	u.RawQuery = q.Encode()
	db, err := store.OpenDB(ctx, u.String(), store.DBOptions{PostgresMigrations: pg})
	if err != nil {
		return nil, err
	}
	return &DB{DB: db}, nil
}
