package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleLogin logs the demo owner in through the console's form, finds
// the demo site, creates a site, invites a member, reloads, and logs out; the
// invited person joins through the link; a wrong password shows an error and
// lets nobody in.
func TestConsoleLogin(t *testing.T) {
	url := startServer(t)
	ctx := browser(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	// Opened logged out, the console makes no request that fails (the
	// browser would log it as an error).
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/"), chromedp.WaitVisible(css("#login-email"))); err != nil {
		t.Fatal(err)
	}
	failed, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`performance.getEntriesByType('resource').filter(e => e.responseStatus >= 400).map(e => e.name + ' ' + e.responseStatus)`))
	if err != nil || len(failed) != 0 {
		t.Fatalf("failed requests on the login page: %v %v", failed, err)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(css("#login-email")),
		chromedp.SendKeys(css("#login-email"), "admin@localhost"),
		chromedp.SendKeys(css("#login-password"), "not-the-password"),
		chromedp.Click(css(`form[aria-label="Log in"] button`)),
		chromedp.WaitVisible(css(`[role=alert]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if alert := text(`[role=alert]`); !strings.Contains(alert, "Wrong email or password") {
		t.Fatalf("wrong password shows %q", alert)
	}
	screenshot(t, ctx, "login-refused")

	err = chromedp.Do(ctx,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(css("#login-email")),
		chromedp.SendKeys(css("#login-email"), "admin@localhost"),
		chromedp.SendKeys(css("#login-password"), demoPassword),
		chromedp.Click(css(`form[aria-label="Log in"] button`)),
		// An owner lands on the chats (owners answer chats too), then looks at the reports.
		chromedp.WaitVisible(css(`section[aria-label="Chats"]`)),
		chromedp.Click(css(`nav a[href="/reports"]`)),
		chromedp.WaitVisible(css(`dl[aria-label="Summary"]`)),
		chromedp.Click(css(`nav a[href="/sites"]`)),
		chromedp.WaitVisible(css(`section[aria-labelledby="h-Sites"] table tbody tr`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if sites := text(`section[aria-labelledby="h-Sites"] table`); !strings.Contains(sites, "Acme Energy (demo)") || !strings.Contains(sites, url) {
		t.Fatalf("sites table: %q", sites)
	}
	if who := text(`header .who`); !strings.Contains(who, "admin@localhost") || !strings.Contains(who, "owner") {
		t.Fatalf("header: %q", who)
	}
	if err := chromedp.Do(ctx, chromedp.Click(css(`section[aria-labelledby="h-Sites"] tbody button.link`)), chromedp.WaitVisible(css("#snippet-code"))); err != nil {
		t.Fatalf("show the snippet: %v", err)
	}
	if code := text("#snippet-code"); !strings.Contains(code, `"demo"`) || !strings.Contains(code, url) || !strings.Contains(text("#snippet-csp"), "connect-src "+url) {
		t.Fatalf("snippet shown: %q", code)
	}
	screenshot(t, ctx, "sites")

	err = chromedp.Do(ctx,
		chromedp.SendKeys(css("#site-name"), "Blog"),
		chromedp.SendKeys(css("#site-origins"), "https://blog.example.com"),
		chromedp.Click(css(`form[aria-label="New site"] button`)),
		chromedp.WaitVisible(`//td[text()="https://blog.example.com"]`),
	)
	if err != nil {
		t.Fatalf("create a site: %v", err)
	}
	// Its settings in a form: privacy, retention and a goal.
	err = chromedp.Do(ctx,
		chromedp.Click(`//tr[td[text()="Blog"]]//button[text()="Settings"]`),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Settings of Blog"]`)),
		chromedp.Click(`//form[@aria-label="Settings of Blog"]//label[contains(., "Keep no visitor id")]/input`),
		chromedp.SendKeys(chromedp.CSS(`#site-edit-goals`), "/thanks"),
		chromedp.SendKeys(chromedp.CSS(`#site-edit-patterns`), "/posts/:slug\n/tags/*"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Settings of Blog"] button[type=submit]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`form[aria-label="Settings of Blog"]`)),
	)
	if err != nil {
		t.Fatalf("edit the site: %v", err)
	}
	api := ownerAPI(t, url)
	_, list := api("GET", "/api/sites", nil)
	var blog map[string]any
	for _, it := range list["items"].([]any) {
		if it.(map[string]any)["name"] == "Blog" {
			blog = it.(map[string]any)
		}
	}
	set := blog["settings"].(map[string]any)
	if set["cookieless"] != true || len(set["goals"].([]any)) != 1 || set["goals"].([]any)[0].(map[string]any)["page"] != "/thanks" ||
		fmt.Sprint(set["page_patterns"]) != "[/posts/:slug /tags/*]" || set["keep_path_ids"] != false {
		t.Fatalf("the site's settings after the form: %v", set)
	}

	err = chromedp.Do(ctx,
		chromedp.Click(css(`nav a[href="/members"]`)),
		chromedp.WaitVisible(css("#invite-email")),
		chromedp.SendKeys(css("#invite-email"), "agent@example.com"),
		chromedp.Click(css(`form[aria-label="Invite someone"] button`)),
		chromedp.WaitVisible(css(`input[aria-label="Invitation link"]`)),
		chromedp.WaitVisible(`//table[@aria-label="Invitations"]//td[text()="agent@example.com"]`),
	)
	if err != nil {
		t.Fatalf("invite a member: %v", err)
	}
	link, err := chromedp.Run(ctx, chromedp.Value(css(`input[aria-label="Invitation link"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, url+"/invite#nudge_inv_") {
		t.Fatalf("invitation link %q", link)
	}
	screenshot(t, ctx, "members")

	// A reload keeps the session and the section; logging out ends both.
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(`//td[text()="agent@example.com"]`)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	path, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
	if err != nil || path != "/members" {
		t.Fatalf("after reload the console is at %q (%v)", path, err)
	}
	// On a phone the console fits the screen: nothing wider than it but the
	// tables and the section bar, which scroll.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(`//td[text()="agent@example.com"]`)); err != nil {
		t.Fatal(err)
	}
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('main *, header')].filter(e => !e.closest('table, nav, pre') &&
		e.getBoundingClientRect().right > innerWidth + 1).map(e => e.tagName + '.' + e.className).slice(0, 5)`))
	if err != nil || len(wide) != 0 {
		t.Fatalf("wider than a phone: %v %v", wide, err)
	}
	screenshot(t, ctx, "members-phone")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(css(`header button.link`)),
		chromedp.WaitVisible(css("#login-email")),
		chromedp.Reload(),
		chromedp.WaitVisible(css("#login-email")),
	)
	if err != nil {
		t.Fatalf("log out: %v", err)
	}

	// The invited person opens the link, sees who invites them, chooses a
	// password and is in, as an agent; the link is spent.
	err = chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(css("#join-password")),
	)
	if err != nil {
		t.Fatalf("open the invitation: %v", err)
	}
	if page := text("main"); !strings.Contains(page, "Demo") || !strings.Contains(page, "agent@example.com") || !strings.Contains(page, "agent") {
		t.Fatalf("the invitation page says %q", page)
	}
	screenshot(t, ctx, "invitation")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(css("#join-name"), "Alex"),
		chromedp.SendKeys(css("#join-password"), "agent-password"),
		chromedp.Click(css(`form[aria-label="Join"] button`)),
		chromedp.WaitVisible(css(`section[aria-label="Chats"]`)),
	)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if who := text(`header .who`); !strings.Contains(who, "agent@example.com") || !strings.Contains(who, "agent") {
		t.Fatalf("header after joining: %q", who)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(css(`header button.link`)),
		chromedp.WaitVisible(css("#login-email")),
		chromedp.Navigate(link),
		chromedp.WaitVisible(css(`[role=alert]`)),
	)
	if err != nil {
		t.Fatalf("open a spent invitation: %v", err)
	}
	if alert := text(`[role=alert]`); !strings.Contains(alert, "not valid") {
		t.Fatalf("a spent invitation shows %q", alert)
	}
}

// TestConsoleListsAndConfirms walks a list page as an admin does: its empty
// state says what the list is for; a created token appears; revoking asks in
// a modal dialog that Escape cancels (focus returns to the button), and the
// dialog's own button revokes it.
func TestConsoleListsAndConfirms(t *testing.T) {
	url := startServer(t)
	ctx := browser(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	err := chromedp.Do(ctx, append(consoleLogin(url),
		chromedp.WaitVisible(css(`section[aria-label="Chats"]`)),
		chromedp.Click(css(`nav a[href="/tokens"]`)),
		chromedp.WaitVisible(css(`section[aria-labelledby="h-API tokens"] p.empty`)),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the empty state explains tokens", `document.querySelector('p.empty').textContent.includes('A token lets a program')`)
	err = chromedp.Do(ctx,
		chromedp.SendKeys(css("#token-name"), "Backend <b>sync</b>"),
		chromedp.Click(css(`form[aria-label="New token"] button[type=submit]`)),
		chromedp.WaitVisible(css(`table[aria-label="API tokens"] tbody tr`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The name is text, never markup.
	waitFor(t, ctx, "the token listed as text", `document.querySelector('table[aria-label="API tokens"] td').textContent === 'Backend <b>sync</b>' && !document.querySelector('table[aria-label="API tokens"] td b')`)
	revoke := `button[aria-label="Revoke Backend <b>sync</b>"]`
	err = chromedp.Do(ctx,
		chromedp.Click(css(revoke)),
		chromedp.WaitVisible(css(`dialog.confirm[open]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "confirm-dialog")
	waitFor(t, ctx, "the dialog names the token", `document.querySelector('dialog.confirm h2').textContent.includes('Backend <b>sync</b>')`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(css(`dialog.confirm`))); err != nil {
		t.Fatalf("Escape closes the dialog: %v", err)
	}
	waitFor(t, ctx, "focus back on the button, the token kept",
		`document.activeElement?.getAttribute('aria-label') === 'Revoke Backend <b>sync</b>' && document.querySelectorAll('table[aria-label="API tokens"] tbody tr').length === 1`)
	err = chromedp.Do(ctx,
		chromedp.Click(css(revoke)),
		chromedp.WaitVisible(css(`dialog.confirm[open]`)),
		chromedp.Click(css(`dialog.confirm button.danger-fill`)),
		chromedp.WaitVisible(css(`section[aria-labelledby="h-API tokens"] p.empty`)),
	)
	if err != nil {
		t.Fatalf("revoke through the dialog: %v", err)
	}
}
