package ops

import (
	"os"
	"testing"

	"github.com/nudgehq/nudge/email/mailtest"
	"github.com/nudgehq/nudge/store/storetest"
)

// TestMain stops the SMTP and PostgreSQL servers the tests started, and fails the package's
// tests when a goroutine they started outlives them.
func TestMain(m *testing.M) {
	os.Exit(storetest.Main(m, mailtest.Stop))
}
