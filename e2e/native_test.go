package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The example app client of docs/protocol.md, built and run as a developer
// would, chats with the demo's agent: its visitor token (signed with the
// site's identity secret) stands in for a browser's Origin, the agent
// answers, and the contact it makes says it was proved by a token.
func TestExampleAppClientChats(t *testing.T) {
	url := startServer(t)
	agent := connectAgent(t, url)

	get := owner(t, url)
	site := get("/api/sites")["items"].([]any)[0].(map[string]any)
	key, secret := site["key"].(string), get("/api/sites/" + site["id"].(string) + "/secret")["identity_secret"].(string)

	bin := filepath.Join(t.TempDir(), "visitor")
	if out, err := exec.Command("go", "build", "-o", bin, "../docs/examples/visitor").CombinedOutput(); err != nil {
		t.Fatalf("build the example: %v\n%s", err, out)
	}
	var out bytes.Buffer
	app := exec.Command(bin, "--url", url, "--site", key, "--secret", secret, "--user", "cust-42",
		"--name", "App User", "--email", "app.user@example.com", "--topic", "My bill", "--text", "Hello from the app", "--replies", "1", "--timeout", "60s")
	app.Stdout, app.Stderr = &out, &out
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	offer := agent.until(func(m map[string]any) bool { return m["type"] == "offer" })
	conv := offer["data"].(map[string]any)["conversation"].(map[string]any)["id"].(string)
	agent.send(map[string]any{"type": "accept", "id": "a", "conversation": conv})
	agent.until(func(m map[string]any) bool { return m["type"] == "accept_ok" })
	agent.message("Hello from the app")
	agent.send(map[string]any{"type": "send", "id": "r", "conversation": conv, "text": "Your order left today."})
	if err := app.Wait(); err != nil {
		t.Fatalf("the example: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "sent: Hello from the app") || !strings.Contains(out.String(), "(agent): Your order left today.") {
		t.Fatalf("the example printed:\n%s", out.String())
	}
	// The contact is recorded in the background: wait for it.
	var contacts []any
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		contacts = get("/api/contacts")["items"].([]any)
		if len(contacts) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(contacts) != 1 {
		t.Fatalf("contacts: %v", contacts)
	}
	if c := contacts[0].(map[string]any); c["external_id"] != "cust-42" || c["verified_by"] != "token" || c["email"] != "app.user@example.com" {
		t.Fatalf("the contact: %v", c)
	}
}
