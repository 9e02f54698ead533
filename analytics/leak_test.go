package analytics

import (
	"os"
	"testing"

	"github.com/nudgehq/nudge/store/storetest"
)

// TestMain stops the PostgreSQL server the tests started, and fails the
// package's tests when a goroutine they started outlives them.
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// testDB is where a test's analytics database lives: a file, or, on make
// test's PostgreSQL pass, a database of its own.
func testDB(t testing.TB) string { return storetest.Path(t, t.TempDir()) }
