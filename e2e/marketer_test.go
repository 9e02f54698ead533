package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// setField sets a form control's value as a person would (input and change
// events), for selects and inputs of the console.
func setField(sel, value string) chromedp.Action[bool] {
	return chromedp.Evaluate[bool](`(() => { const e = document.querySelector(` + jsString(sel) + `); if (!e) return false;
		const proto = e instanceof HTMLSelectElement ? HTMLSelectElement.prototype : e instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
		Object.getOwnPropertyDescriptor(proto, 'value').set.call(e, ` + jsString(value) + `);
		e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); return true })()`)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func set(t *testing.T, ctx context.Context, sel, value string) {
	t.Helper()
	ok, err := chromedp.Run(ctx, setField(sel, value))
	if err != nil || !ok {
		t.Fatalf("set %s: %v (found: %v)", sel, err, ok)
	}
}

// TestMarketerBuildsPreviewsAndPublishesARule: in the console's Offers page
// the owner builds a rule with the condition builder (no JSON typed), checks
// the JSON view round-trips, previews it against the visit of a page open on
// the demo, sees the offer drawn by the guide module, publishes it, and the
// open page shows the offer without a reload.
func TestMarketerBuildsPreviewsAndPublishesARule(t *testing.T) {
	url := startServer(t)
	console := browser(t)
	visitor, cancel := chromedp.NewContext(console)
	defer cancel()
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo/pricing")); err != nil {
		t.Fatal(err)
	}
	loaded(t, visitor, true)
	err := chromedp.Do(console, append(consoleLogin(url),
		chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"]`)),
		chromedp.Click(chromedp.CSS(`nav a[href="/offers"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table[aria-label="Rules"]`)),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the demo's rules are listed", `document.querySelector('table[aria-label="Rules"]').textContent.includes('Billing help')`)
	if err := chromedp.Do(console, chromedp.Click(`//button[text()="New rule"]`), chromedp.WaitVisible(chromedp.CSS(`#rule-name`))); err != nil {
		t.Fatal(err)
	}
	set(t, console, `#rule-name`, "Pricing nudge")
	set(t, console, `#rule-priority`, "30")
	set(t, console, `select[aria-label="Fact of when.all[0]"]`, "page.path")
	set(t, console, `select[aria-label="Operator of when.all[0]"]`, "starts_with")
	set(t, console, `input[aria-label="Value of when.all[0]"]`, "/demo/pricing")
	set(t, console, `#rule-type`, "content_offer")
	waitFor(t, console, "the template choice", `document.querySelectorAll('#rule-template option').length > 1`)
	tpl := inPage[string](t, console, `document.querySelectorAll('#rule-template option')[1].value`)
	set(t, console, `#rule-template`, tpl)

	// The offer as pages show it, drawn by the guide module in the frame.
	waitFor(t, console, "the offer's look", `document.querySelector('iframe.offer-look')?.contentDocument?.querySelector('[data-nudge=guide]')?.shadowRoot.querySelector('.o')?.textContent.includes('10 % off')`)

	// The JSON view holds what the builder made, and comes back unchanged.
	if err := chromedp.Do(console, chromedp.Click(`//button[@role="tab"][text()="JSON"]`), chromedp.WaitVisible(chromedp.CSS(`textarea[aria-label="Rule as JSON"]`))); err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Name     string
		Priority int
		When     struct{ All []map[string]any }
		Action   map[string]any
	}
	if err := json.Unmarshal([]byte(inPage[string](t, console, `document.querySelector('textarea[aria-label="Rule as JSON"]').value`)), &rule); err != nil {
		t.Fatal(err)
	}
	if rule.Name != "Pricing nudge" || rule.Priority != 30 || len(rule.When.All) != 1 || rule.When.All[0]["fact"] != "page.path" ||
		rule.When.All[0]["op"] != "starts_with" || rule.When.All[0]["value"] != "/demo/pricing" || rule.Action["template"] != tpl {
		t.Fatalf("the rule as JSON: %+v", rule)
	}
	if err := chromedp.Do(console, chromedp.Click(`//button[@role="tab"][text()="Builder"]`), chromedp.WaitVisible(chromedp.CSS(`#rule-name`))); err != nil {
		t.Fatal(err)
	}
	if v := inPage[string](t, console, `document.querySelector('input[aria-label="Value of when.all[0]"]').value`); v != "/demo/pricing" {
		t.Fatalf("after the JSON view the builder has %q", v)
	}
	if err := chromedp.Do(console, chromedp.Click(`//button[text()="Save draft"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "saved", `document.querySelector('.notice')?.textContent.includes('Saved as a draft')`)

	// Preview against the open page's visit: it qualifies, condition by condition.
	waitLong(t, console, "the visit is listed", `[...document.querySelectorAll('#preview-visit option')].some(o => o.textContent.includes('/demo/pricing'))`,
		`[...document.querySelectorAll('button')].find(b => b.textContent === 'Refresh the visits').click()`)
	val := inPage[string](t, console, `[...document.querySelectorAll('#preview-visit option')].find(o => o.textContent.includes('/demo/pricing')).value`)
	set(t, console, `#preview-visit`, val)
	if err := chromedp.Do(console, chromedp.Click(`//button[text()="Try the rule"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the preview says it qualifies", `document.querySelector('[aria-label="Preview result"]')?.textContent.includes('This visitor qualifies') &&
		document.querySelector('.steps li.passed')`)
	screenshot(t, console, "rule-editor")

	if err := chromedp.Do(console, chromedp.Click(`//button[text()="Publish"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "published", `document.querySelector('.notice')?.textContent.includes('Published') && document.querySelector('.badge.live')`)
	waitFor(t, console, "the history", `document.querySelector('[aria-label="History"]').textContent.includes('v1')`)
	waitLong(t, visitor, "the open page shows the new offer", offerCard+`?.textContent.includes('10 % off')`, `history.pushState({}, '', location.pathname + '?n=' + Date.now())`)
	if !strings.Contains(inPage[string](t, visitor, `location.pathname`), "/demo/pricing") {
		t.Fatal("the page moved")
	}

	// A template edited with its live preview: the open page gets the change.
	err = chromedp.Do(console,
		chromedp.Click(`//button[text()="Back to the rules"]`),
		chromedp.WaitVisible(chromedp.CSS(`table[aria-label="Templates"]`)),
		chromedp.Click(`//table[@aria-label="Templates"]//button[text()="Exit discount"]`),
		chromedp.WaitVisible(chromedp.CSS(`#tpl-title`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	set(t, console, `#tpl-title`, "Stay: 15 % off today")
	waitFor(t, console, "the preview follows the edit", `document.querySelector('iframe.offer-look')?.contentDocument?.querySelector('[data-nudge=guide]')?.shadowRoot.querySelector('.o h2')?.textContent === 'Stay: 15 % off today'`)
	if err := chromedp.Do(console, chromedp.Click(`//button[text()="Save template"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the template is saved", `document.querySelector('.notice')?.textContent.includes('Saved')`)
	screenshot(t, console, "template-editor")
}

// inPage evaluates JS in the page.
func inPage[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}
