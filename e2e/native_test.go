package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
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

	login, err := http.Post(url+"/api/auth/login", "application/json", strings.NewReader(`{"email":"admin@localhost","password":"`+demoPassword+`"}`))
	if err != nil || login.StatusCode != 200 {
		t.Fatalf("login: %v %v", login, err)
	}
	login.Body.Close()
	cookie := strings.Split(login.Header.Get("Set-Cookie"), ";")[0]
	get := func(path string, out any) {
		t.Helper()
		req, _ := http.NewRequest("GET", url+path, nil)
		req.Header.Set("Cookie", cookie)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(out) != nil {
			t.Fatalf("GET %s: %s", path, res.Status)
		}
	}
	var sites struct {
		Items []struct{ ID, Key string } `json:"items"`
	}
	get("/api/sites", &sites)
	var secret struct {
		IdentitySecret string `json:"identity_secret"`
	}
	get("/api/sites/"+sites.Items[0].ID+"/secret", &secret)

	bin := filepath.Join(t.TempDir(), "visitor")
	if out, err := exec.Command("go", "build", "-o", bin, "../docs/examples/visitor").CombinedOutput(); err != nil {
		t.Fatalf("build the example: %v\n%s", err, out)
	}
	var out bytes.Buffer
	app := exec.Command(bin, "--url", url, "--site", sites.Items[0].Key, "--secret", secret.IdentitySecret, "--user", "cust-42",
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
	var contacts struct {
		Items []struct {
			ExternalID string `json:"external_id"`
			VerifiedBy string `json:"verified_by"`
			Email      string `json:"email"`
		} `json:"items"`
	}
	// The contact is recorded in the background: wait for it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		get("/api/contacts", &contacts)
		if len(contacts.Items) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(contacts.Items) != 1 || contacts.Items[0].ExternalID != "cust-42" || contacts.Items[0].VerifiedBy != "token" || contacts.Items[0].Email != "app.user@example.com" {
		t.Fatalf("contacts: %+v", contacts.Items)
	}
}
