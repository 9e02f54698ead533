package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudgehq/nudge/contacts"
)

// TestTheAgentSeesTheCustomerAndTheirHistory: a customer the demo shop
// verifies (a visitor token) chats on one device, then browses and chats on
// another. The owner, answering in the console, sees who they are and how
// that was proved, the pages of this visit, and the earlier conversation,
// which opens in place; the Contacts page finds them by name and lists
// their conversations and visits.
func TestTheAgentSeesTheCustomerAndTheirHistory(t *testing.T) {
	url := startServer(t)
	call := ownerAPI(t, url)
	_, sites := call("GET", "/api/sites", nil)
	site := sites["items"].([]any)[0].(map[string]any)
	_, secret := call("GET", "/api/sites/"+site["id"].(string)+"/secret", nil)
	mint := func() string {
		tok, err := contacts.MintVisitorToken(secret["identity_secret"].(string), site["key"].(string), "cust-77", time.Now(), 10*time.Minute, "ada@example.com", "Ada Byron")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	// The first device: a chat the customer ends.
	agent := connectAgent(t, url)
	first := browser(t)
	if err := chromedp.Do(first, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	loaded(t, first, true)
	chromedp.Run(first, chromedp.Evaluate[bool](`nudge('token', `+jsString(mint())+`), true`))
	openChat(t, first)
	writeFirst(t, first, "Is my meter reading in?")
	conv := agent.until(func(m map[string]any) bool { return m["type"] == "offer" })["conversation"].(string)
	agent.send(map[string]any{"type": "accept", "id": "a", "conversation": conv})
	agent.send(map[string]any{"type": "send", "id": "r1", "conversation": conv, "client_id": "r1", "text": "Yes, received on Monday."})
	waitChat(t, first, "the answer", bubbles+`.includes('Yes, received on Monday.')`)
	agent.send(map[string]any{"type": "close", "id": "c", "conversation": conv})
	agent.until(func(m map[string]any) bool { return m["type"] == "close_ok" })
	agent.c.Close()

	// The console, available; the second device browses, then chats.
	console := browser(t)
	if err := chromedp.Do(console, append(consoleLogin(url), goAvailable()...)...); err != nil {
		t.Fatal(err)
	}
	second := browser(t)
	for _, p := range []string{"/demo", "/demo/pricing"} {
		if err := chromedp.Do(second, chromedp.Navigate(url+p)); err != nil {
			t.Fatal(err)
		}
		loaded(t, second, true)
	}
	// The pages reached the analytics before the chat starts (the page
	// sends them every few seconds).
	deadline := time.Now().Add(time.Minute)
	for {
		_, rt := call("GET", "/api/sites/"+site["id"].(string)+"/reports/realtime", nil)
		if strings.Contains(fmt.Sprint(rt), "/demo/pricing") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second device's pages never reached the analytics: %v", rt)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// This page also says who the visitor is the older way; the token wins,
	// and the page's identify is not sent on the token's socket.
	chromedp.Run(second, chromedp.Evaluate[bool](`nudge('identify', {id: 'cust-77', name: 'Ada'}, 'not-a-hash'), nudge('token', `+jsString(mint())+`), true`))
	openChat(t, second)
	writeFirst(t, second, "And my new tariff?")
	acceptOffer(t, console)
	// Set later too: still not sent, the chat goes on.
	chromedp.Run(second, chromedp.Evaluate[bool](`nudge('identify', {id: 'someone-else'}, 'x'), true`))
	ctx := `document.querySelector('aside.context')`
	waitFor(t, console, "who the customer is", ctx+`?.textContent.includes('Ada Byron') && `+ctx+`.textContent.includes("Verified in this chat by the site's visitor token")`)
	waitFor(t, console, "this visit's pages", `[...document.querySelectorAll('ol[aria-label="Pages of this visit"] li')].map(l => l.title).join(' ').includes('/demo/pricing')`)
	waitFor(t, console, "the earlier conversation", `document.querySelector('ul[aria-label="Earlier conversations"] button')`)
	if err := chromedp.Do(console, chromedp.Click(chromedp.CSS(`ul[aria-label="Earlier conversations"] button`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the earlier conversation, read in place", `document.querySelector('article[aria-label="Earlier conversation"]')?.textContent.includes('Is my meter reading in?') &&
		document.querySelector('article[aria-label="Earlier conversation"]').textContent.includes('Yes, received on Monday.')`)
	screenshot(t, console, "customer-context")
	if said := inChat[string](t, second, `return r.querySelector('.er')?.textContent || ''`); said != "" {
		t.Fatalf("the visitor's panel says %q", said)
	}

	// The Contacts page finds them by a word of their name.
	err := chromedp.Do(console,
		chromedp.Click(chromedp.CSS(`nav a[href="/contacts"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Search contacts"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[aria-label="Words"]`), "byron"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Search contacts"] button[type=submit]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "found", `[...document.querySelectorAll('table[aria-label="Contacts"] button')].some(b => b.textContent === 'Ada Byron')`)
	if _, err := chromedp.Run(console, chromedp.Evaluate[bool](`[...document.querySelectorAll('table[aria-label="Contacts"] button')].find(b => b.textContent === 'Ada Byron').click(), true`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the contact's page", `document.querySelectorAll('table[aria-label="Conversations"] tbody tr').length === 2 && document.querySelectorAll('table[aria-label="Visits"] tbody tr').length >= 2`)
	screenshot(t, console, "contact-page")
}
