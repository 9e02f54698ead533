package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/nudgehq/nudge/internal/pgtest"
)

// openTest opens the store of this pass: SQLite, or PostgreSQL when
// NUDGE_TEST_STORE=postgres (store/storetest, which imports this package,
// does the same for the others).
func openTest(t *testing.T) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nudge.db")
	if os.Getenv("NUDGE_TEST_STORE") == "postgres" {
		path = pgtest.Database(t)
	}
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openSQLite opens a SQLite store, for what only SQLite has (its files,
// pragmas and WAL).
func openSQLite(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "nudge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenAppliesMigrationsAndIsReady(t *testing.T) {
	s := openSQLite(t)
	ctx := context.Background()
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	v, err := s.Version(ctx)
	if err != nil || v < 2 {
		t.Fatalf("Version = %d, %v; want >= 2", v, err)
	}
	var fk, mode string
	s.w.QueryRow(`PRAGMA foreign_keys`).Scan(&fk)
	s.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if fk != "1" || mode != "wal" {
		t.Fatalf("foreign_keys=%s journal_mode=%s; want 1, wal", fk, mode)
	}
	if _, err := s.r.Exec(`DELETE FROM tenants`); err == nil {
		t.Fatal("the read pool accepted a write")
	}
}

// A database left by the first release (schema version 1, with a tenant and an
// owner) upgrades in place and keeps its data.
// The data folder and the database files (WAL and shared memory too) are
// the server's user's alone; the folder is made when missing.
func TestDatabaseFilesAreTheOwnersOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet")
	path := filepath.Join(dir, "nudge.db")
	st, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CreateTenant(context.Background(), System, "Acme"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data folder: %v %v", fi.Mode(), err)
	}
	for _, name := range []string{"nudge.db", "nudge.db-wal", "nudge.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v; want 0600", name, fi.Mode().Perm())
		}
	}
}

// An upgrade keeps the data: SQLite from its first version, PostgreSQL from
// its first release (the baseline at 23), each to the latest, whose cluster
// tables then work.
func TestUpgradeFromTheFirstReleaseKeepsData(t *testing.T) {
	ctx := context.Background()
	path, first := filepath.Join(t.TempDir(), "nudge.db"), int64(1)
	if os.Getenv("NUDGE_TEST_STORE") == "postgres" {
		path, first = pgtest.Database(t), 23
	}
	old, err := OpenAt(ctx, path, first)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Ready(ctx); err == nil {
		t.Fatal("Ready on a version-1 database = nil; want migrations pending")
	}
	tn, err := old.CreateTenant(ctx, System, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := old.CreateUser(ctx, System, tn.ID, User{Email: "o@acme.test", PasswordHash: "x"}, "owner")
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := s.Member(ctx, tn.ID, u.ID)
	if err != nil || m.Role != "owner" || m.Email != "o@acme.test" {
		t.Fatalf("after upgrade Member = %+v, %v", m, err)
	}
	if _, err := s.CreateSite(ctx, System, Site{TenantID: tn.ID, Name: "Shop", Theme: DefaultSiteTheme}); err != nil {
		t.Fatalf("sites table missing after upgrade: %v", err)
	}
	if err := s.HeartbeatNode(ctx, "n1", "", false); err != nil {
		t.Fatalf("cluster tables missing after upgrade: %v", err)
	}
	if epoch, ok, err := s.AcquireLease(ctx, tn.ID, "n1", time.Minute, 0); err != nil || !ok || epoch != 1 {
		t.Fatalf("a lease after upgrade: %d %v %v", epoch, ok, err)
	}
}

func TestUsersAndMemberships(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, _ := s.CreateTenant(ctx, System, "A")
	b, _ := s.CreateTenant(ctx, System, "B")
	owner, err := s.CreateUser(ctx, System, a.ID, User{Email: "Owner@A.test", PasswordHash: "h"}, "owner")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, System, a.ID, User{Email: "owner@a.TEST", PasswordHash: "h"}, "agent"); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate email (other case) = %v; want ErrConflict", err)
	}
	if got, err := s.UserByEmail(ctx, "OWNER@a.test"); err != nil || got.ID != owner.ID {
		t.Fatalf("UserByEmail ignores case: %v %v", got, err)
	}
	if err := s.SetMembership(ctx, System, b.ID, owner.ID, "agent"); err != nil {
		t.Fatal(err)
	}
	ms, _ := s.Memberships(ctx, owner.ID)
	if len(ms) != 2 || ms[0].TenantID != a.ID || ms[0].Role != "owner" || ms[1].Role != "agent" {
		t.Fatalf("Memberships = %+v", ms)
	}
	if _, err := s.Member(ctx, b.ID, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Member(unknown) = %v", err)
	}
	if err := s.SetMembership(ctx, System, a.ID, owner.ID, "admin"); !errors.Is(err, ErrLastOwner) {
		t.Fatalf("demoting the last owner = %v; want ErrLastOwner", err)
	}
	if err := s.RemoveMembership(ctx, System, a.ID, owner.ID); !errors.Is(err, ErrLastOwner) {
		t.Fatalf("removing the last owner = %v; want ErrLastOwner", err)
	}
	if err := s.SetMembership(ctx, System, a.ID, owner.ID, "bogus"); err == nil {
		t.Fatal("unknown role accepted")
	}
	if m, _ := s.Member(ctx, a.ID, owner.ID); m.Role != "owner" {
		t.Fatalf("role after refused changes = %q", m.Role)
	}
	if err := s.RemoveMembership(ctx, System, b.ID, owner.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveMembership(ctx, System, b.ID, owner.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second removal = %v; want ErrNotFound", err)
	}
	log, _, _ := s.Audit(ctx, a.ID, AuditFilter{}, Page{})
	if len(log) == 0 || log[0].Action == "" {
		t.Fatalf("audit log of A is empty")
	}
}

func TestSetPasswordEndsOtherSessions(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	tn, _ := s.CreateTenant(ctx, System, "A")
	u, _ := s.CreateUser(ctx, System, tn.ID, User{Email: "u@a.test", PasswordHash: "h"}, "agent")
	now := time.Now()
	for _, id := range []string{"one", "two"} {
		if err := s.CreateSession(ctx, Session{IDHash: []byte(id), UserID: u.ID, CSRFToken: "c", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetPassword(ctx, System, u.ID, "new", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, []byte("one"), now); err != nil {
		t.Fatalf("the session that changed the password ended: %v", err)
	}
	if _, err := s.Session(ctx, []byte("two"), now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other session = %v; want ended", err)
	}
	if _, err := s.Session(ctx, []byte("one"), now.Add(2*time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired session = %v; want ErrNotFound", err)
	}
}

func TestSitesAreTenantScoped(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, _ := s.CreateTenant(ctx, System, "A")
	b, _ := s.CreateTenant(ctx, System, "B")
	st, err := s.CreateSite(ctx, System, Site{TenantID: a.ID, Name: " Shop ", AllowedOrigins: []string{"HTTPS://Shop.Example.com/", "https://shop.example.com"},
		Theme: DefaultSiteTheme, Settings: DefaultSiteSettings})
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "Shop" || len(st.AllowedOrigins) != 1 || st.AllowedOrigins[0] != "https://shop.example.com" || len(st.Key) != 16 || st.IdentitySecret == "" {
		t.Fatalf("created site = %+v", st)
	}
	if _, err := s.Site(ctx, b.ID, st.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("site read from another tenant = %v; want ErrNotFound", err)
	}
	if _, err := s.UpdateSite(ctx, System, b.ID, st.ID, func(*Site) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("site updated from another tenant = %v", err)
	}
	if err := s.DeleteSite(ctx, System, b.ID, st.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("site deleted from another tenant = %v", err)
	}
	if _, err := s.RotateSiteSecret(ctx, System, b.ID, st.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("secret rotated from another tenant = %v", err)
	}
	if list, _, _ := s.Sites(ctx, b.ID, Page{}); len(list) != 0 {
		t.Fatalf("tenant B lists %d sites", len(list))
	}
	if _, err := s.CreateSite(ctx, System, Site{TenantID: b.ID, Key: st.Key, Name: "x", Theme: DefaultSiteTheme}); err == nil {
		t.Fatal("duplicate key accepted")
	}
	_, err = s.UpdateSite(ctx, System, a.ID, st.ID, func(x *Site) error { x.TimeZone = "Mars/Olympus"; x.Key = "other"; return nil })
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "time_zone" {
		t.Fatalf("bad time zone = %v; want a FieldError on time_zone", err)
	}
	got, _ := s.SiteByKey(ctx, st.Key)
	if got.TimeZone != "UTC" || got.Key != st.Key {
		t.Fatalf("a refused update changed the site: %+v", got)
	}
}

func TestSiteValidationAndOrigins(t *testing.T) {
	good := Site{Key: "demo", Name: "Demo", Theme: DefaultSiteTheme}
	for _, tc := range []struct {
		field string
		edit  func(*Site)
	}{
		{"name", func(s *Site) { s.Name = "  " }},
		{"key", func(s *Site) { s.Key = "Bad Key" }},
		{"key", func(s *Site) { s.Key = "ab" }},
		{"allowed_origins", func(s *Site) { s.AllowedOrigins = []string{"ftp://x.test"} }},
		{"allowed_origins", func(s *Site) { s.AllowedOrigins = []string{"https://x.test/path"} }},
		{"allowed_origins", func(s *Site) { s.AllowedOrigins = []string{"https://a.*.test"} }},
		{"theme.color", func(s *Site) { s.Theme.Color = "red" }},
		{"theme.position", func(s *Site) { s.Theme.Position = "top" }},
	} {
		s := good
		tc.edit(&s)
		var fe *FieldError
		if err := s.Validate(); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Validate(%+v) = %v; want error on %s", s, err, tc.field)
		}
	}
	s := Site{AllowedOrigins: []string{"https://shop.test", "https://*.example.com", "http://localhost:8080"}}
	for origin, want := range map[string]bool{
		"https://shop.test":       true,
		"https://SHOP.test":       true,
		"http://shop.test":        false,
		"https://a.example.com":   true,
		"https://a.b.example.com": true,
		"https://example.com":     false,
		"https://evilexample.com": false,
		"http://localhost:8080":   true,
		"http://localhost:8081":   false,
		"null":                    false,
		"":                        false,
	} {
		if got := s.AllowsOrigin(origin); got != want {
			t.Errorf("AllowsOrigin(%q) = %v; want %v", origin, got, want)
		}
	}
}

func TestTokensAndPolicyRows(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, _ := s.CreateTenant(ctx, System, "A")
	u, _ := s.CreateUser(ctx, System, a.ID, User{Email: "u@a.test", PasswordHash: "h"}, "admin")
	past := time.Now().Add(-time.Minute)
	tok, err := s.CreateToken(ctx, System, Token{TenantID: a.ID, Name: "ci", Role: "bot", Hash: []byte("hash")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateToken(ctx, System, Token{TenantID: a.ID, Name: "old", Role: "bot", Hash: []byte("old"), ExpiresAt: &past}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TokenByHash(ctx, []byte("hash"), time.Now()); err != nil || got.ID != tok.ID {
		t.Fatalf("TokenByHash = %+v, %v", got, err)
	}
	if _, err := s.TokenByHash(ctx, []byte("old"), time.Now()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired token = %v; want ErrNotFound", err)
	}
	rows, err := s.PolicyRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"g user:" + u.ID + " admin " + a.ID: false, "g token:" + tok.ID + " bot " + a.ID: false, "p owner sites write": false}
	for _, r := range rows {
		key := r[0]
		for _, v := range r[1:] {
			key += " " + v
		}
		if _, ok := want[key]; ok {
			want[key] = true
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("policy row %q missing", k)
		}
	}
}

func TestPagination(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, _ := s.CreateTenant(ctx, System, "A")
	for range 5 {
		if _, err := s.CreateSite(ctx, System, Site{TenantID: a.ID, Name: "s", Theme: DefaultSiteTheme}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	p := Page{Limit: 2}
	for pages := 0; ; pages++ {
		list, next, err := s.Sites(ctx, a.ID, p)
		if err != nil || pages > 5 {
			t.Fatal(err, pages)
		}
		for _, st := range list {
			seen = append(seen, st.ID)
		}
		if next == "" {
			break
		}
		p.After = next
	}
	if len(seen) != 5 {
		t.Fatalf("paged through %d sites; want 5", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("pages out of order: %v", seen)
		}
	}
}

func TestSiteGoalsAndRetention(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	tn, _ := s.CreateTenant(ctx, System, "A")
	for _, tc := range []struct {
		settings SiteSettings
		ok       bool
	}{
		{SiteSettings{RetentionDays: 30, Goals: []SiteGoal{{Event: "signup"}, {Page: "/thanks"}}}, true},
		{SiteSettings{RetentionDays: -1}, false},
		{SiteSettings{Goals: []SiteGoal{{Event: "a", Page: "/b"}}}, false},
		{SiteSettings{Goals: []SiteGoal{{}}}, false},
		{SiteSettings{Goals: []SiteGoal{{Page: "thanks"}}}, false},
	} {
		_, err := s.CreateSite(ctx, System, Site{TenantID: tn.ID, Name: "x", Theme: DefaultSiteTheme, Settings: tc.settings})
		if (err == nil) != tc.ok {
			t.Errorf("settings %+v: %v", tc.settings, err)
		}
	}
	list, err := s.SitesWithRetention(ctx)
	if err != nil || len(list) != 1 || list[0].Settings.RetentionDays != 30 || len(list[0].Settings.Goals) != 2 {
		t.Fatalf("SitesWithRetention = %+v, %v", list, err)
	}
}

func TestSyncModes(t *testing.T) {
	ctx := context.Background()
	for mode, want := range map[string]int{"": 2, SyncFull: 2, SyncNormal: 1} {
		s, err := OpenWith(ctx, filepath.Join(t.TempDir(), "nudge.db"), Options{Sync: mode})
		if err != nil {
			t.Fatal(err)
		}
		var got int
		s.w.QueryRow(`PRAGMA synchronous`).Scan(&got)
		s.Close()
		if got != want {
			t.Errorf("sync %q: synchronous = %d; want %d", mode, got, want)
		}
	}
	if _, err := OpenWith(ctx, filepath.Join(t.TempDir(), "nudge.db"), Options{Sync: "off"}); err == nil {
		t.Error("sync off was accepted")
	}
}

// A steady stream of commits never leaves a moment in which every WAL page
// is copied, which is when SQLite starts the WAL over; the checkpointer must
// make that moment, or the WAL grows without end.
func TestWALStartsOverUnderSteadyWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "steady.db")
	migrations := fstest.MapFS{"00001_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);\n")}}
	// The test drives the checkpointer by hand (its ticker never fires): its
	// PASSIVE copy runs while each write transaction is open, as under a
	// steady load, and its catch-up between transactions. A real ticker
	// racing the write loop made the result depend on the machine's load.
	db, err := OpenDB(ctx, path, DBOptions{Migrations: migrations, Synchronous: "NORMAL", Checkpoint: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blob := make([]byte, 3000) // one overflow page per row
	var largest int64
	for i := 0; i < 5*restartFrames/20; i++ {
		var frames int
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			for j := range 20 {
				if _, err := tx.Exec(`INSERT OR REPLACE INTO t (id, b) VALUES (?, ?)`, (i*20+j)%50000, blob); err != nil {
					return err
				}
			}
			var err error
			frames, err = db.passive()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if frames >= restartFrames {
			if err := db.catchUp(); err != nil {
				t.Fatal(err)
			}
		}
		if fi, err := os.Stat(path + "-wal"); err == nil {
			largest = max(largest, fi.Size())
		}
	}
	if limit := int64(2 * restartFrames * 4096); largest > limit {
		t.Fatalf("the WAL grew to %d bytes under steady writes, more than %d", largest, limit)
	}
}

// Two owners who demote each other at the same moment leave the tenant
// one owner, whichever database runs the two transactions side by side.
func TestTwoOwnersCannotDemoteEachOtherAtOnce(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for round := range 20 {
		tn, _ := s.CreateTenant(ctx, System, "T")
		a, err := s.CreateUser(ctx, System, tn.ID, User{Email: fmt.Sprintf("a%d@t.test", round), PasswordHash: "h"}, "owner")
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.CreateUser(ctx, System, tn.ID, User{Email: fmt.Sprintf("b%d@t.test", round), PasswordHash: "h"}, "owner")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, u := range []User{a, b} {
			wg.Go(func() { s.SetMembership(ctx, System, tn.ID, u.ID, "admin") })
		}
		wg.Wait()
		owners := 0
		for _, u := range []User{a, b} {
			if m, err := s.Member(ctx, tn.ID, u.ID); err == nil && m.Role == "owner" {
				owners++
			}
		}
		if owners != 1 {
			t.Fatalf("round %d: %d owners left", round, owners)
		}
	}
}
