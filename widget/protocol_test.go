package widget

import (
	"flag"
	"os"
	"testing"

	"github.com/nudgehq/nudge/assets"
)

var update = flag.Bool("update", false, "write src/protocol.gen.ts from ../server/openapi.json")

// TestProtocolTypes fails when the chat module's protocol types are not those
// of the frame schemas in the OpenAPI document, which the server's tests
// check every frame against. They are types only: they cost the bundle nothing.
func TestProtocolTypes(t *testing.T) {
	doc, err := os.ReadFile("../server/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := assets.APITypes(doc, "VisitorCommand", "VisitorFrame", "WelcomeState")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("src/protocol.gen.ts", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("src/protocol.gen.ts")
	if err != nil || string(got) != want {
		t.Fatalf("src/protocol.gen.ts is not what server/openapi.json gives: run `go test ./widget -run TestProtocolTypes -update` (%v)", err)
	}
}
