package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// joinAs brings a member of a role into the demo tenant by invitation.
func joinAs(t *testing.T, url, email, role string) {
	t.Helper()
	api := ownerAPI(t, url)
	status, inv := api("POST", "/api/invitations", map[string]any{"email": email, "role": role})
	if status != 201 {
		t.Fatalf("invite %s: %d %v", role, status, inv)
	}
	_, token, _ := strings.Cut(inv["url"].(string), "#")
	body, _ := json.Marshal(map[string]any{"token": token, "name": "A " + role, "password": role + "-password"})
	req, _ := http.NewRequest("POST", url+"/api/invitations/join", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("join as %s: %v %v", role, res, err)
	}
	res.Body.Close()
}

// TestEachRoleWalksItsSections: an agent, a supervisor and a marketer each
// see the console's sections their role allows (Visitors, Left messages,
// Contacts and Email among them, or not), and every one of them loads
// without a refused or failed request: no page asks for what its reader may
// not have.
func TestEachRoleWalksItsSections(t *testing.T) {
	url := startServer(t)
	for role, want := range map[string][]string{
		"agent":      {"chats", "visitors", "messages", "transcripts", "sites", "account"},
		"supervisor": {"chats", "visitors", "messages", "transcripts", "contacts", "chatreports", "setup", "reports", "sites", "account"},
		"marketer":   {"offers", "reports", "sites", "account"},
	} {
		t.Run(role, func(t *testing.T) {
			joinAs(t, url, role+"@demo.test", role)
			ctx := browser(t)
			err := chromedp.Do(ctx,
				chromedp.Navigate(url+"/"),
				chromedp.WaitVisible(chromedp.CSS("#login-email")),
				chromedp.SendKeys(chromedp.CSS("#login-email"), role+"@demo.test"),
				chromedp.SendKeys(chromedp.CSS("#login-password"), role+"-password"),
				chromedp.Click(chromedp.CSS(`form[aria-label="Log in"] button`)),
				chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Sections"]`)),
			)
			if err != nil {
				t.Fatal(err)
			}
			got := inPage[[]string](t, ctx, `[...document.querySelectorAll('nav[aria-label="Sections"] a')].map(a => a.getAttribute('href').slice(1))`)
			for _, s := range want {
				if !slices.Contains(got, s) {
					t.Errorf("a %s lacks %s (has %v)", role, s, got)
				}
			}
			for _, s := range got {
				if !slices.Contains(want, s) {
					t.Errorf("a %s sees %s (has %v)", role, s, got)
				}
			}
			for _, s := range got {
				if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav a[href="/`+s+`"]`))); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
				waitFor(t, ctx, s+" loaded", `location.pathname === '/`+s+`' && document.querySelector('main').textContent.trim() !== '' &&
					!document.querySelector('main .loading, main .pending, main [aria-busy=true]')`)
			}
			failed := inPage[[]string](t, ctx, `performance.getEntriesByType('resource').filter(e => e.responseStatus >= 400).map(e => e.name + ' ' + e.responseStatus)`)
			if len(failed) != 0 {
				t.Errorf("a %s's pages made refused or failed requests: %v", role, failed)
			}
		})
	}
}
