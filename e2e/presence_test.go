package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPresenceLastsTheConsoleSession: an agent who goes available on the
// Chats page stays available on every other page; a chat offered meanwhile
// shows on the page they are on with the time left; when it lapses the desk
// says why it set them away; going available offers the chat again, and
// accepting it opens it on the Chats page.
func TestPresenceLastsTheConsoleSession(t *testing.T) {
	url := startServer(t)
	api := ownerAPI(t, url)
	status, qs := api("GET", "/api/queues", nil)
	if status != 200 {
		t.Fatalf("queues: %d", status)
	}
	for _, q := range qs["items"].([]any) {
		q := q.(map[string]any)
		cfg := q["config"].(map[string]any)
		cfg["offer_timeout"] = 5 // the shortest allowed: the offer lapses within the test
		if status, body := api("PATCH", "/api/queues/"+q["id"].(string), map[string]any{"config": cfg}); status != 200 {
			t.Fatalf("queue: %d %v", status, body)
		}
	}
	console := browser(t)
	steps := append(consoleLogin(url), goAvailable()...)
	for _, page := range []string{"transcripts", "chatreports", "reports", "offers"} {
		steps = append(steps, chromedp.Click(chromedp.CSS(`nav a[href="/`+page+`"]`)), chromedp.WaitVisible(chromedp.CSS(`.desk-strip`)))
	}
	if err := chromedp.Do(console, steps...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "still available on Reports' neighbour", `document.querySelector('.desk-strip .dot.available') && document.querySelector('.desk-strip').textContent.includes('Available for chats')`)

	visitor, cancel := chromedp.NewContext(console)
	defer cancel()
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo/billing")); err != nil {
		t.Fatal(err)
	}
	openChat(t, visitor)
	writeFirst(t, visitor, "Is anyone there?")
	waitFor(t, console, "the offer on the Offers page, counting down", `/\d+ s left to accept/.test(document.querySelector('.desk-strip .strip-offer')?.textContent ?? '')`)
	screenshot(t, console, "desk-strip-offer")

	waitFor(t, console, "the desk says why it set the agent away", `!document.querySelector('.desk-strip .strip-offer') && document.querySelector('.desk-strip .dot.away') &&
		document.querySelector('.desk-strip').textContent.includes('You missed a chat')`)
	if err := chromedp.Do(console, chromedp.Click(`//div[contains(@class,"desk-strip")]//button[text()="Go available"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the missed chat is offered again", `document.querySelector('.desk-strip .strip-offer button') && !document.querySelector('.desk-strip').textContent.includes('You missed a chat')`)
	if err := chromedp.Do(console, chromedp.Click(`//span[contains(@class,"strip-offer")]//button[text()="Accept"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the chat opens on the Chats page", `!document.querySelector('.desk-strip') && document.querySelector('.chat-item.current') &&
		/^\/chats\/[0-9A-Z]{26}$/.test(location.pathname) && document.querySelector('nav a[aria-current=page]').getAttribute('href') === '/chats'`)
	waitFor(t, console, "the visitor's message", `[...document.querySelectorAll('.msg .text')].some(e => e.textContent === 'Is anyone there?')`)
}

// TestAChatGivenOnAnotherPageIsAnnounced: the owner, away on the Reports page,
// is given a waiting chat by a supervisor: the strip says so and opens it.
func TestAChatGivenOnAnotherPageIsAnnounced(t *testing.T) {
	url := startServer(t)
	password := member(t, url, "sam@localhost", "supervisor")
	console := browser(t)
	if err := chromedp.Do(console, append(consoleLogin(url), chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"] .dot.away`)),
		chromedp.Click(chromedp.CSS(`nav a[href="/reports"]`)), chromedp.WaitVisible(chromedp.CSS(`.desk-strip`)))...); err != nil {
		t.Fatal(err)
	}
	_, me := ownerAPI(t, url)("GET", "/api/me", nil)
	owner := me["user"].(map[string]any)["id"].(string)

	login, err := http.Post(url+"/api/auth/login", "application/json", strings.NewReader(`{"email":"sam@localhost","password":"`+password+`"}`))
	if err != nil || login.StatusCode != 200 {
		t.Fatalf("login: %v %v", login, err)
	}
	sam := dialAgent(t, url, login) // available: the chat is offered to Sam, who passes
	visitor := browser(t)
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	openChat(t, visitor)
	writeFirst(t, visitor, "Hello, my bill please")
	offer := sam.until(func(m map[string]any) bool { return m["type"] == "offer" })
	conv := offer["conversation"].(string)
	sam.send(map[string]any{"type": "decline", "id": "d", "conversation": conv})
	sam.send(map[string]any{"type": "assign", "id": "as", "conversation": conv, "agent": owner})
	sam.until(func(m map[string]any) bool { return m["id"] == "as" && m["type"] == "assign_ok" })

	waitFor(t, console, "the strip announces the chat", `document.querySelector('.desk-strip')?.textContent.includes('A chat is yours now')`)
	if err := chromedp.Do(console, chromedp.Click(`//div[contains(@class,"desk-strip")]//button[text()="Open"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the chat opens", `[...document.querySelectorAll('.msg .text')].some(e => e.textContent === 'Hello, my bill please')`)
}
