package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// newAgent brings an agent into the demo tenant by invitation and connects
// them to the agent socket, available.
func newAgent(t *testing.T, url, email string) *agentSocket {
	t.Helper()
	api := ownerAPI(t, url)
	status, inv := api("POST", "/api/invitations", map[string]any{"email": email, "role": "agent"})
	if status != 201 {
		t.Fatalf("invite: %d %v", status, inv)
	}
	_, token, _ := strings.Cut(inv["url"].(string), "#")
	body, _ := json.Marshal(map[string]any{"token": token, "name": "Ada", "password": "agent-password"})
	req, _ := http.NewRequest("POST", url+"/api/invitations/join", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("join: %v %v", res, err)
	}
	return dialAgent(t, url, res)
}

// TestSupervisorMonitorsWhispersAndBarges: the owner, away, watches the live
// board in the console; a visitor's chat goes to an agent; the owner
// monitors it, whispers to the agent (the visitor never sees it) and barges
// in (the visitor sees that).
func TestSupervisorMonitorsWhispersAndBarges(t *testing.T) {
	url := startServer(t)
	console := browser(t)
	err := chromedp.Do(console, append(consoleLogin(url),
		// A supervisor is away until they choose: the board is theirs, not the chats.
		chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"] .dot.away`)),
		chromedp.Click(chromedp.CSS(`.tabs button:nth-child(2)`)),
		chromedp.WaitVisible(chromedp.CSS(`table[aria-label="Queues"]`)))...)
	if err != nil {
		t.Fatal(err)
	}
	agent := newAgent(t, url, "ada@example.com")
	waitFor(t, console, "the agent on the board", `document.querySelector('table[aria-label="Agents"]')?.textContent.includes('Ada')`)

	visitor, cancel := chromedp.NewContext(console)
	defer cancel()
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo/pricing")); err != nil {
		t.Fatal(err)
	}
	openChat(t, visitor)
	writeFirst(t, visitor, "Is there a student discount?")
	offer := agent.until(func(m map[string]any) bool { return m["type"] == "offer" })
	conv := offer["conversation"].(string)
	agent.send(map[string]any{"type": "accept", "id": "a", "conversation": conv})
	agent.until(func(m map[string]any) bool { return m["type"] == "accept_ok" })
	agent.send(map[string]any{"type": "send", "id": "s1", "conversation": conv, "text": "Let me check that for you."})
	waitChat(t, visitor, "the agent's answer", bubbles+`.includes('Let me check that for you.')`)

	// The board shows the chat with its agent; the owner monitors it.
	waitFor(t, console, "the chat on the board", `document.querySelector('table[aria-label="Open chats"]')?.textContent.includes('Ada')`)
	screenshot(t, console, "live-board")
	if err := chromedp.Do(console, chromedp.Click(chromedp.CSS(`table[aria-label="Open chats"] button[aria-label^="Monitor"]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the conversation while monitoring", `document.querySelector('.banner')?.textContent.includes('Monitoring') &&
		[...document.querySelectorAll('.msg .text')].some(e => e.textContent === 'Is there a student discount?')`)
	err = chromedp.Do(console,
		chromedp.SendKeys(chromedp.CSS(`textarea[aria-label="Whisper to the agent"]`), "Offer the Green plan at 10 % off."),
		chromedp.Click(chromedp.CSS(`.composer button[type=submit]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	whisper := agent.message("Offer the Green plan at 10 % off.")
	if whisper["data"].(map[string]any)["audience"] != "agents" {
		t.Fatalf("the whisper reached the agent as %v", whisper)
	}
	// The agent answers the visitor; by then the whisper would have arrived.
	agent.send(map[string]any{"type": "send", "id": "s2", "conversation": conv, "text": "Students get the Green plan at 10 % off."})
	waitChat(t, visitor, "the agent's second answer", bubbles+`.includes('Students get the Green plan at 10 % off.')`)
	if inChat[bool](t, visitor, `return `+bubbles+`.some(b => b.includes('Offer the Green plan'))`) {
		t.Fatal("the visitor saw the whisper")
	}
	screenshot(t, console, "monitoring")

	// Barge in: the owner's messages reach the visitor.
	err = chromedp.Do(console,
		chromedp.Click(chromedp.CSS(`.banner button`)),
		chromedp.WaitVisible(chromedp.CSS(`textarea[aria-label="Reply"]`)),
		chromedp.SendKeys(chromedp.CSS(`textarea[aria-label="Reply"]`), "Hello, I am the team lead."),
		chromedp.Click(chromedp.CSS(`.composer button[type=submit]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitChat(t, visitor, "the team lead's message", bubbles+`.includes('Hello, I am the team lead.')`)
	agent.message("Hello, I am the team lead.")

	// The chat is in the chat reports: the summary, the chart and the tables.
	err = chromedp.Do(console,
		chromedp.Click(chromedp.CSS(`nav a[href="/chatreports"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dl[aria-label="Chat summary"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "one conversation, answered", `document.querySelector('dl[aria-label="Chat summary"] dd')?.textContent === '1' &&
		document.querySelector('.chart canvas') && document.querySelector('table[aria-label="Chats by agent"]')?.textContent.includes('Ada')`)
	screenshot(t, console, "chat-reports")

	// A chat waits (the agent passed on it): the owner takes it from the board.
	err = chromedp.Do(console, chromedp.Click(chromedp.CSS(`nav a[href="/chats"]`)),
		chromedp.Click(`//div[@aria-label="Desk"]/button[text()="Live board"]`), chromedp.WaitVisible(chromedp.CSS(`table[aria-label="Queues"]`)))
	if err != nil {
		t.Fatal(err)
	}
	second := browser(t) // another visitor: a browser of their own
	if err := chromedp.Do(second, chromedp.Navigate(url+"/demo/billing")); err != nil {
		t.Fatal(err)
	}
	openChat(t, second)
	writeFirst(t, second, "Can someone look at my bill?")
	offer = agent.until(func(m map[string]any) bool { return m["type"] == "offer" })
	agent.send(map[string]any{"type": "decline", "id": "d", "conversation": offer["conversation"]})
	waitFor(t, console, "the waiting chat's Take", `document.querySelector('table[aria-label="Open chats"] button[aria-label^="Take"]')`)
	if err := chromedp.Do(console, chromedp.Click(chromedp.CSS(`table[aria-label="Open chats"] button[aria-label^="Take"]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the taken chat opens", `[...document.querySelectorAll('.msg .text')].some(e => e.textContent === 'Can someone look at my bill?') && document.querySelector('textarea[aria-label="Reply"]')`)
	waitChat(t, second, "the visitor is told who joined", `[...r.querySelectorAll('.s')].some(e => e.textContent.includes('joined the chat'))`)
}
