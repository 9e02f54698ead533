package server

import (
	"os"
	"testing"

	"github.com/nudgehq/nudge/search/searchtest"
)

// The Elasticsearch-API server some tests start is stopped after them all.
func TestMain(m *testing.M) { os.Exit(searchtest.Run(m)) }
