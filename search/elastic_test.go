package search_test

import (
	"os"
	"testing"

	"github.com/nudgehq/nudge/search"
	"github.com/nudgehq/nudge/search/searchtest"
)

func TestMain(m *testing.M) { os.Exit(searchtest.Run(m)) }

func TestElasticContract(t *testing.T) {
	search.Contract(t, func(t *testing.T) search.Index {
		ix, err := search.OpenElastic(searchtest.Options(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ix.Close() })
		return ix
	}, nil)
}
