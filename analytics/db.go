package analytics

import (
	"context"
	"embed"
	"io/fs"

	"github.com/nudgehq/nudge/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the analytics database file.
type DB = store.DB

// Open opens (creating if needed) the analytics database at path. Its
// synchronous mode is NORMAL: a crash of the process loses nothing committed,
// a power cut may lose the last commits, which analytics can afford.
func Open(ctx context.Context, path string) (*DB, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return store.OpenDB(ctx, path, store.DBOptions{Migrations: sub, Synchronous: "NORMAL"})
}
