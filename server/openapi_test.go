package server

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPICoversRoutes fails when a route is missing from the OpenAPI
// document, or the document names an operation the router does not have.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res := h.anonymous().call("GET", "/api/openapi.json", nil)
	if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("openapi.json: %d %s", res.Status, res.Header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	param := regexp.MustCompile(`:(\w+)`)
	var served []string
	for _, r := range h.srv.App().GetRoutes(true) {
		if r.Method == http.MethodHead || r.Path == "/*" || strings.HasPrefix(r.Path, "/assets/") || strings.HasPrefix(r.Path, "/demo") {
			continue // the console and the demo shop are pages, not API
		}
		op := r.Method + " " + param.ReplaceAllString(r.Path, "{$1}")
		served = append(served, op)
		if !documented[op] {
			t.Errorf("%s is served but missing from server/openapi.json", op)
		}
	}
	for op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("server/openapi.json documents %s, which the router does not serve", op)
		}
	}
}
