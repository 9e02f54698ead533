package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// member brings a person into the demo tenant in a role, by invitation, and
// returns the password they log in with.
func member(t *testing.T, url, email, role string) string {
	t.Helper()
	api := ownerAPI(t, url)
	status, inv := api("POST", "/api/invitations", map[string]any{"email": email, "role": role})
	if status != 201 {
		t.Fatalf("invite: %d %v", status, inv)
	}
	_, token, _ := strings.Cut(inv["url"].(string), "#")
	password := role + "-password"
	body, _ := json.Marshal(map[string]any{"token": token, "name": "Mia", "password": password})
	req, _ := http.NewRequest("POST", url+"/api/invitations/join", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("join: %v %v", res, err)
	}
	res.Body.Close()
	return password
}

// loginAs logs a person in to the console: steps for chromedp.Do.
func loginAs(url, email, password string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(url + "/"),
		chromedp.WaitVisible(chromedp.CSS("#login-email")),
		chromedp.SendKeys(chromedp.CSS("#login-email"), email),
		chromedp.SendKeys(chromedp.CSS("#login-password"), password),
		chromedp.Click(chromedp.CSS(`form[aria-label="Log in"] button`)),
	}
}

// rawError finds, in the messages people read (alerts, errors beside fields,
// notices), what only a programmer would:
// a package prefix ("store: …"), a JSON path in brackets, or an id.
const rawError = `(() => { const t = [...document.querySelectorAll('main .alert, main .field-error, main [role=alert], main [role=status], main .notice')].map(e => e.innerText).join('\n');
  const m = t.match(/\b(store|chat|rules|server|auth|json|sql|webhooks|analytics): |\([a-z_]+\.[a-z_.\[\]0-9]+\)|\b[a-z]+\.[a-z]+_[a-z_]+\b|\b[0-9A-HJKMNP-TV-Z]{26}\b/);
  return m ? m[0] : '' })()`

// TestMarketerSavesAChatOfferInTheBuilder: a marketer (not an owner) builds
// a chat offer: the queue picker lists the tenant's queues, a rule without a
// queue or text is refused with a sentence beside each field and beside
// Save, the JSON view says why Save waits for the builder, and the rule saves.
func TestMarketerSavesAChatOfferInTheBuilder(t *testing.T) {
	url := startServer(t)
	password := member(t, url, "mia@localhost", "marketer")
	console := browser(t)
	steps := append(loginAs(url, "mia@localhost", password),
		chromedp.Click(chromedp.CSS(`nav a[href="/offers"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table[aria-label="Rules"]`)),
		chromedp.Click(`//button[text()="New rule"]`),
		chromedp.WaitVisible(chromedp.CSS(`#rule-queue`)),
	)
	if err := chromedp.Do(console, steps...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the queues are offered", `[...document.querySelectorAll('#rule-queue option')].some(o => o.value === 'General')`)
	if n := inPage[int](t, console, `[...document.querySelectorAll('#rule-queue option')].filter(o => !o.disabled && o.value === '').length`); n != 0 {
		t.Fatal("the picker offers no choice the server refuses")
	}
	set(t, console, `#rule-name`, "Help on pricing")
	set(t, console, `#rule-text`, "")
	if err := chromedp.Do(console, chromedp.Click(`//button[text()="Save draft"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the queue's error beside it", `document.querySelector('#rule-queue + .field-error')?.textContent === "Choose the queue that answers this offer's chats."`)
	waitFor(t, console, "the text's error beside it", `document.querySelector('#rule-text + .field-error')?.textContent === 'Required.'`)
	waitFor(t, console, "a sentence beside Save", `[...document.querySelectorAll('.alert')].some(a => a.textContent === 'The rule was not saved: 2 things need fixing, marked beside their fields.')`)
	if raw := inPage[string](t, console, rawError); raw != "" {
		t.Fatalf("the page shows %q", raw)
	}
	screenshot(t, console, "builder-errors")

	// The JSON view: Save waits for the builder, and says so.
	if err := chromedp.Do(console, chromedp.Click(`//button[@role="tab"][text()="JSON"]`), chromedp.WaitVisible(chromedp.CSS(`#rule-json-save`))); err != nil {
		t.Fatal(err)
	}
	if !inPage[bool](t, console, `(() => { const b = [...document.querySelectorAll('button')].find(b => b.textContent === 'Save draft'); return b.disabled && document.getElementById(b.getAttribute('aria-describedby')).textContent.includes('builder') })()`) {
		t.Fatal("in the JSON view Save is disabled with its reason beside it")
	}
	if err := chromedp.Do(console, chromedp.Click(`//button[@role="tab"][text()="Builder"]`), chromedp.WaitVisible(chromedp.CSS(`#rule-queue`))); err != nil {
		t.Fatal(err)
	}

	set(t, console, `#rule-queue`, "General")
	set(t, console, `#rule-text`, "Questions about our prices? Chat with us.")
	if err := chromedp.Do(console, chromedp.Click(`//button[text()="Save draft"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "saved", `document.querySelector('.notice')?.textContent.includes('Saved as a draft') && !document.querySelector('.field-error')`)
	if err := chromedp.Do(console, chromedp.Click(`//button[text()="Publish"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "published", `document.querySelector('.badge.live')`)
}
