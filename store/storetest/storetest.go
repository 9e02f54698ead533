// Package storetest opens the store a test runs against: SQLite in a
// temporary folder, or, when NUDGE_TEST_STORE=postgres (make test's second
// pass), a database of its own on the PostgreSQL of internal/pgtest. The
// tests of every package that uses the store open it here, so that the
// same tests check both databases.
package storetest

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/nudgehq/nudge/internal/pgtest"
	"github.com/nudgehq/nudge/store"
)

// Postgres reports whether this test run is the PostgreSQL pass.
func Postgres() bool { return os.Getenv("NUDGE_TEST_STORE") == "postgres" }

// Path returns where a test's store lives: a file in dir, or a new
// PostgreSQL database's URL.
func Path(t testing.TB, dir string) string {
	t.Helper()
	if Postgres() {
		return PostgresDatabase(t)
	}
	return filepath.Join(dir, "nudge.db")
}

// Register lets DB and AtRest open a PostgreSQL database a test made
// itself (on a server of its own).
func Register(dsn string) {
	if p, err := url.Parse(dsn); err == nil {
		databases.Store(path.Base(p.Path), dsn)
	}
}

// PostgresDatabase makes a PostgreSQL database for the test, whatever the
// pass (what only PostgreSQL runs: a cluster), and returns its URL.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	u := pgtest.Database(t)
	if p, err := url.Parse(u); err == nil {
		databases.Store(path.Base(p.Path), u)
	}
	return u
}

// Stop stops the PostgreSQL server the tests started, if any: call it after
// m.Run.
func Stop() { pgtest.Stop() }

// Main runs a package's tests, then stops the PostgreSQL server they
// started and the other servers stop names, and fails them when a
// goroutine they started outlives them. A package's TestMain:
// os.Exit(storetest.Main(m)).
func Main(m *testing.M, stop ...func()) int {
	code := m.Run()
	pgtest.Stop()
	for _, s := range stop {
		s()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines outlived the tests:", err)
			code = 1
		}
	}
	return code
}

// databases maps the name of each database Path made to its URL, for AtRest.
var databases sync.Map

// DB opens a handle of the test's own on st's database, closed when the
// test ends, for looking at (or changing) what the store wrote; it takes
// queries written as the store's are.
func DB(t testing.TB, st *store.Store) *sql.DB {
	t.Helper()
	dsn := st.Path()
	if st.Dialect() == store.Postgres {
		u, ok := databases.Load(path.Base(st.Path()))
		if !ok {
			t.Fatalf("storetest: %s was not made by storetest.Path", st.Path())
		}
		dsn = u.(string)
	}
	db, err := store.Connect(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// AtRest returns what is kept at rest of a test's data: every file of dir
// (by name; none when dir is ""), and, on PostgreSQL, every table of st's database (by table:
// each row's values, bytes as stored, text as written), so that a test can
// look for a canary in all of it.
func AtRest(t testing.TB, st *store.Store, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var entries []os.DirEntry
	if dir != "" {
		entries, _ = os.ReadDir(dir)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	if st.Dialect() != store.Postgres {
		return out
	}
	db := DB(t, st)
	tables, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		tables.Scan(&n)
		names = append(names, n)
	}
	tables.Close()
	for _, n := range names {
		rows, err := db.Query(`SELECT * FROM "` + n + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var b []byte
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					b = append(b, v...)
				case string:
					b = append(b, v...)
				default:
					b = fmt.Append(b, v)
				}
				b = append(b, 0)
			}
		}
		rows.Close()
		out["table "+n] = b
	}
	return out
}
