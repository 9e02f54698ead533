package ops

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/nudgehq/nudge/email/mailtest"
)

// TestMain stops the SMTP server the tests started, and fails the package's
// tests when a goroutine they started outlives them.
func TestMain(m *testing.M) {
	code := m.Run()
	mailtest.Stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines outlived the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}
