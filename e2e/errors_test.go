package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleErrorsAreSentences walks the console's error paths as a person
// meets them (the only owner giving up the owner role, a site origin that is
// not one, a queue setting out of range, a skill routing without skills) and
// reads every refusal on the page: each is a sentence in the person's terms,
// with no package prefix, JSON path or id.
func TestConsoleErrorsAreSentences(t *testing.T) {
	url := startServer(t)
	ctx := browser(t)
	if err := chromedp.Do(ctx, append(consoleLogin(url), chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"]`)))...); err != nil {
		t.Fatal(err)
	}
	shown := func(what string) string {
		t.Helper()
		waitFor(t, ctx, what, `[...document.querySelectorAll('main .alert, main .field-error, main [role=alert]')].some(e => e.offsetParent && e.textContent.trim())`)
		if raw := inPage[string](t, ctx, rawError); raw != "" {
			t.Fatalf("%s: the page shows %q:\n%s", what, raw, inPage[string](t, ctx, `[...document.querySelectorAll('main .alert, main .field-error, main [role=alert]')].map(e => e.textContent).join('\n')`))
		}
		msg := inPage[string](t, ctx, `[...document.querySelectorAll('main .alert, main .field-error, main [role=alert]')].filter(e => e.offsetParent).map(e => e.textContent).join(' | ')`)
		t.Logf("%s: %s", what, msg)
		return msg
	}

	// The only owner cannot stop being one.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav a[href="/members"]`)), chromedp.WaitVisible(chromedp.CSS(`select[aria-label="Role of admin@localhost"]`))); err != nil {
		t.Fatal(err)
	}
	set(t, ctx, `select[aria-label="Role of admin@localhost"]`, "admin")
	if msg := shown("the last owner's refusal"); msg == "" {
		t.Fatal("no refusal shown")
	}

	// A site origin that is not one.
	err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav a[href="/sites"]`)),
		chromedp.Click(chromedp.CSS(`button[aria-label^="Settings of"]`)), chromedp.WaitVisible(chromedp.CSS(`#site-edit-origins`)))
	if err != nil {
		t.Fatal(err)
	}
	set(t, ctx, `#site-edit-origins`, "https://shop.example.com/path")
	if err := chromedp.Do(ctx, chromedp.Click(`//button[text()="Save the site"]`)); err != nil {
		t.Fatal(err)
	}
	shown("the origin's refusal")

	// A queue with skill routing and no skill.
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav a[href="/setup"]`)), chromedp.WaitVisible(chromedp.CSS(`#queue-name`)))
	if err != nil {
		t.Fatal(err)
	}
	set(t, ctx, `#queue-name`, "Experts")
	set(t, ctx, `#queue-routing`, "skills")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[aria-label="New queue"] button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	shown("the queue's refusal")
}
