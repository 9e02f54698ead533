package search

import "testing"

// Contract runs the contract suite for the tests of other packages (the
// Elasticsearch tests need searchtest, which imports this package).
func Contract(t *testing.T, open func(t *testing.T) Index, lacks map[string]string) {
	contract(t, backend{open: open, lacks: lacks})
}
