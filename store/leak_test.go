package store

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/nudgehq/nudge/internal/pgtest"
)

// TestMain stops the PostgreSQL server the tests started, and fails the
// package's tests when a goroutine they started outlives them.
func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines outlived the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}
