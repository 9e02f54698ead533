package server

import (
	"os"
	"testing"

	"github.com/nudgehq/nudge/email/mailtest"
	"github.com/nudgehq/nudge/internal/natstest"
	"github.com/nudgehq/nudge/search/searchtest"
	"github.com/nudgehq/nudge/store/storetest"
)

// The Elasticsearch-API, SMTP and PostgreSQL servers some tests start are stopped after
// them all.
func TestMain(m *testing.M) { os.Exit(searchtest.Run(m, mailtest.Stop, storetest.Stop, natstest.Stop)) }
