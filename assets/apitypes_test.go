package assets

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "write src/api.gen.ts from ../server/openapi.json")

// TestAPITypes fails when the console's API types are not those of the
// OpenAPI document (which the server's tests check every answer against).
func TestAPITypes(t *testing.T) {
	doc, err := os.ReadFile("../server/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := APITypes(doc)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("src/api.gen.ts", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("src/api.gen.ts")
	if err != nil || string(got) != want {
		t.Fatalf("src/api.gen.ts is not what server/openapi.json gives: run `go test ./assets -run TestAPITypes -update` (%v)", err)
	}
}
