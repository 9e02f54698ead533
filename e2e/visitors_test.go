package e2e

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestAnAgentInvitesAVisitorOnTheSite: a visitor browses the demo shop; the
// owner, available in the console, sees them on the Visitors page (their
// page, pages this visit, new), invites them; the visitor's page shows the
// invitation within seconds, they accept, and the chat comes to the owner
// first. The invitation counts in the offer funnel.
func TestAnAgentInvitesAVisitorOnTheSite(t *testing.T) {
	url := startServer(t)
	visitor := browser(t)
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo/pricing")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, visitor, "the guide is on the page", `document.querySelector('[data-nudge=guide]')`)

	console := browser(t)
	err := chromedp.Do(console, append(append(consoleLogin(url), goAvailable()...),
		chromedp.Click(chromedp.CSS(`nav a[href="/visitors"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table[aria-label="Visitors on the site now"]`)))...)
	if err != nil {
		t.Fatal(err)
	}
	row := `[...document.querySelectorAll('table[aria-label="Visitors on the site now"] tr')].find(r => r.textContent.includes('Pricing'))`
	waitFor(t, console, "the visitor, invitable", row+`?.querySelector('button:not([disabled])')?.textContent === 'Invite'`)
	if got := inPage[string](t, console, row+`.textContent`); !containsAny(got, "new") {
		t.Fatalf("row: %s", got)
	}
	screenshot(t, console, "visitors-now")
	// Filtered as one types: a filter that matches nothing hides the row.
	if _, err := chromedp.Run(console, chromedp.Evaluate[bool](`(() => { const i = document.querySelector('input[aria-label="Filter visitors"]'); i.value = 'no-such-page';
		i.dispatchEvent(new Event('input', {bubbles: true})); return true })()`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the filter hides the row", `!`+row+` && [...document.querySelectorAll('.empty')].some(e => e.textContent === 'Nobody matches the filter.')`)
	if _, err := chromedp.Run(console, chromedp.Evaluate[bool](`(() => { const i = document.querySelector('input[aria-label="Filter visitors"]'); i.value = 'pric';
		i.dispatchEvent(new Event('input', {bubbles: true})); return true })()`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the row is back", row)
	if _, err := chromedp.Run(console, chromedp.Evaluate[bool](row+`.querySelector('button').click(), true`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the invitation form", `document.querySelector('form[aria-label="Invitation"]')`)
	if _, err := chromedp.Run(console, chromedp.Evaluate[bool](`(() => { const i = document.querySelector('input[aria-label="Invitation text"]'); i.value = 'Comparing plans? I can help.';
		i.dispatchEvent(new Event('input', {bubbles: true})); return true })()`)); err != nil {
		t.Fatal(err)
	}
	// A click of its own: the form takes the words once it has re-rendered.
	if err := chromedp.Do(console, chromedp.Click(chromedp.CSS(`form[aria-label="Invitation"] button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "invited", `[...document.querySelectorAll('[role=status]')].some(e => e.textContent.startsWith('Invited'))`)

	defer func() {
		if t.Failed() {
			t.Log(inPage[string](t, visitor, `document.visibilityState + ' ' + performance.getEntriesByType('resource').filter(e => e.name.includes('/offers/')).length + ' ' + JSON.stringify(performance.getEntriesByType('resource').filter(e => e.name.includes('/offers/')).slice(-3).map(e => [e.name, e.responseStatus]))`))
		}
	}()
	waitFor(t, visitor, "the invitation on the visitor's page", offerCard+`?.textContent.includes('Comparing plans? I can help.')`)
	chromedp.Run(visitor, chromedp.Evaluate[bool](`[...`+offerCard+`.querySelectorAll('button')].find(b => b.textContent == 'Start chat').click(), true`))
	acceptOffer(t, console)
	waitFor(t, console, "the invited chat on the owner's desk", `document.querySelector('.chat-item.current')`)

	call := ownerAPI(t, url)
	_, sites := call("GET", "/api/sites", nil)
	id := sites["items"].([]any)[0].(map[string]any)["id"].(string)
	today := time.Now().UTC().Format(time.DateOnly)
	deadline := time.Now().Add(time.Minute)
	for {
		_, rep := call("GET", "/api/sites/"+id+"/reports/offers?from="+today+"&to="+today, nil)
		for _, it := range rep["items"].([]any) {
			item := it.(map[string]any)
			if item["rule"] == "invite" {
				v := item["variants"].(map[string]any)["offer"].(map[string]any)
				if v["shown"].(float64) >= 1 && v["accepted"].(float64) >= 1 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the offer funnel has no invitation shown and accepted: %v", rep)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
