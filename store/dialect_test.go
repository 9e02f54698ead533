package store

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nudgehq/nudge/internal/pgtest"
)

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`:                                 `SELECT 1`,
		`SELECT a FROM t WHERE b = ? AND c = ?`:    `SELECT a FROM t WHERE b = $1 AND c = $2`,
		`SELECT ?1, ?2 WHERE x = ?1`:               `SELECT $1, $2 WHERE x = $1`,
		`WHERE a = ?3 AND b = ? AND c = ?1`:        `WHERE a = $3 AND b = $4 AND c = $1`,
		"SELECT 'it''s ?', ? -- a?\nFROM t, ?":     "SELECT 'it''s ?', $1 -- a?\nFROM t, $2",
		`SELECT 'unterminated ?`:                   `SELECT 'unterminated ?`,
		`UPDATE t SET a = ? WHERE id = ? -- last?`: `UPDATE t SET a = $1 WHERE id = $2 -- last?`,
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q; want %q", in, got, want)
		}
	}
}

// Both databases have the same tables with the same columns at the same
// version: a migration added to one folder and not the other fails here.
func TestSchemasMatch(t *testing.T) {
	ctx := context.Background()
	lite, err := Open(ctx, filepath.Join(t.TempDir(), "nudge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := Open(ctx, pgtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if pg.Dialect() != Postgres || lite.Dialect() != SQLite {
		t.Fatalf("dialects %v %v", lite.Dialect(), pg.Dialect())
	}
	lv, _ := lite.Version(ctx)
	pv, _ := pg.Version(ctx)
	if lv != pv {
		t.Errorf("SQLite is at version %d, PostgreSQL at %d", lv, pv)
	}
	columns := func(s *Store, q string) []string {
		rows, err := s.r.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var table, col string
			if err := rows.Scan(&table, &col); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(table, "goose_") {
				out = append(out, table+"."+col)
			}
		}
		slices.Sort(out)
		return out
	}
	l := columns(lite, `SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`)
	p := columns(pg, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'`)
	if !slices.Equal(l, p) {
		for _, c := range l {
			if !slices.Contains(p, c) {
				t.Errorf("PostgreSQL lacks %s", c)
			}
		}
		for _, c := range p {
			if !slices.Contains(l, c) {
				t.Errorf("SQLite lacks %s", c)
			}
		}
	}
	// The policy rows migrations seed are the same.
	policy := func(s *Store) []string {
		rows, err := s.r.Query(`SELECT ptype || v0 || ':' || v1 || ':' || v2 FROM casbin_rule`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var r string
			rows.Scan(&r)
			out = append(out, r)
		}
		slices.Sort(out)
		return out
	}
	if a, b := policy(lite), policy(pg); !slices.Equal(a, b) || len(a) == 0 {
		t.Errorf("policy rows differ:\nSQLite     %v\nPostgreSQL %v", a, b)
	}
}

// Processes that start together on a new PostgreSQL database take turns at
// the migrations: each opens it, none fails on the other's half-made schema.
func TestStoresMigrateOneAtATime(t *testing.T) {
	url := pgtest.Database(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			s, err := Open(context.Background(), url)
			if err == nil {
				err = s.Ready(context.Background())
				s.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
