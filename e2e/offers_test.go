package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudgehq/nudge/rules"
)

// ownerAPI logs the demo owner in over HTTP and returns a caller of the API.
func ownerAPI(t *testing.T, url string) func(method, path string, body any) (int, map[string]any) {
	res, err := http.Post(url+"/api/auth/login", "application/json", strings.NewReader(`{"email":"admin@localhost","password":"`+demoPassword+`"}`))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login: %v %v", res, err)
	}
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	json.NewDecoder(res.Body).Decode(&login)
	cookie := strings.Split(res.Header.Get("Set-Cookie"), ";")[0]
	return func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, url+path, r)
		req.Header.Set("Cookie", cookie)
		req.Header.Set("X-CSRF-Token", login.CSRF)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
}

// waitLong polls a JS condition for up to a minute, running act between tries.
func waitLong(t *testing.T, ctx context.Context, what, cond, act string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`)); err == nil && ok {
			return
		}
		if act != "" {
			chromedp.Run(ctx, chromedp.Evaluate[bool](`(`+act+`, true)`))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s (%s)", what, cond)
}

const offerCard = `document.querySelector('[data-nudge=guide]')?.shadowRoot.querySelector('.o')`

// TestOfferToChatOnTheDemo: on the demo's billing page the published chat
// offer appears after its delay (an agent is available), the visitor accepts,
// and the agent in the console gets the chat with the rule and its metadata;
// a decline is respected on the next visit.
func TestOfferToChatOnTheDemo(t *testing.T) {
	url := startServer(t)
	console := browser(t)
	if err := chromedp.Do(console, append(consoleLogin(url), goAvailable()...)...); err != nil {
		t.Fatal(err)
	}
	visitor, cancel := chromedp.NewContext(console)
	defer cancel()
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo/billing")); err != nil {
		t.Fatal(err)
	}
	waitLong(t, visitor, "the billing offer appears", offerCard+`?.textContent.includes('Questions about your bill?')`, "")
	// Its close button can be seen: not white on the white card.
	if c := inPage[string](t, visitor, `getComputedStyle(`+offerCard+`.querySelector('.x')).color`); c == "rgb(255, 255, 255)" || c == inPage[string](t, visitor, `getComputedStyle(`+offerCard+`).backgroundColor`) {
		t.Fatalf("the close button's colour is %s on the card", c)
	}
	if n := count(t, visitor, `document.querySelectorAll('script[src*="/w/chat."]').length`); n != 0 {
		t.Fatal("the chat panel's code loaded before anyone needed it")
	}
	screenshot(t, visitor, "offer")
	chromedp.Run(visitor, chromedp.Evaluate[bool](`[...`+offerCard+`.querySelectorAll('button')].find(b => b.textContent == 'Start chat').click(), true`))
	waitChat(t, visitor, "the chat opens", `r.querySelector('.p').style.display == 'flex'`)

	acceptOffer(t, console)
	if err := chromedp.Do(console, chromedp.WaitVisible(chromedp.CSS(`.chat-item.current`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the context names the rule", `document.querySelector('aside.context').textContent.includes('Rule “Billing help” (v1)')`)
	waitFor(t, console, "and its words and metadata", `document.querySelector('aside.context').textContent.includes('Questions about your bill?') && document.querySelector('aside.context').textContent.includes('topic: billing')`)
	screenshot(t, console, "offer-context")

	// A second visitor (another browser profile) declines; their next visit shows nothing.
	other := browser(t)
	chromedp.Do(other, chromedp.Navigate(url+"/demo/checkout"))
	waitLong(t, other, "the offer appears", offerCard, "")
	chromedp.Run(other, chromedp.Evaluate[bool](`[...`+offerCard+`.querySelectorAll('button')].find(b => b.textContent == 'No thanks').click(), true`))
	waitFor(t, other, "the offer goes", `!`+offerCard)
	chromedp.Run(other, chromedp.Evaluate[bool](`(() => { const s = JSON.parse(localStorage.nudge_g); s.t -= 31 * 60 * 1000; localStorage.nudge_g = JSON.stringify(s); return true })()`))
	chromedp.Do(other, chromedp.Navigate(url+"/demo/billing"))
	// The rule's delay is 8 s of the page's own clock: past it, the offer would be up.
	waitLong(t, other, "the page has been open past the rule's delay", `performance.now() > 10000 && document.querySelector('[data-nudge=guide]')`, "")
	if n := count(t, other, `document.querySelectorAll('[data-nudge=guide]').length && `+offerCard+` ? 1 : 0`); n != 0 {
		t.Fatal("a declined offer came back on the next visit")
	}
}

// TestOfferControlPushAndPublish: a visitor in the exit offer's control group
// sees nothing but is counted; an offer pushed by the API reaches an open
// page; a rule published while a page is open shows without a reload.
func TestOfferControlPushAndPublish(t *testing.T) {
	url := startServer(t)
	api := ownerAPI(t, url)
	_, list := api("GET", "/api/sites/demo/rules", nil)
	exit := ""
	for _, r := range list["items"].([]any) {
		if r.(map[string]any)["draft"].(map[string]any)["name"] == "Exit discount" {
			exit = r.(map[string]any)["id"].(string)
		}
	}
	control := ""
	for i := 0; control == ""; i++ {
		if v := fmt.Sprintf("control-%d", i); rules.Bucket(v, exit) < 10 {
			control = v
		}
	}
	ctx := browser(t)
	chromedp.Do(ctx, chromedp.Navigate(url+"/demo"))
	loaded(t, ctx, true)
	chromedp.Run(ctx, chromedp.Evaluate[bool](`localStorage.setItem('nudge_v_demo', '`+control+`'), true`))
	chromedp.Do(ctx, chromedp.Navigate(url+"/demo/pricing"))
	waitFor(t, ctx, "the guide is on the page", `document.querySelector('[data-nudge=guide]')`)
	exitIntent := `document.dispatchEvent(new MouseEvent('mouseout', {clientY: 0, relatedTarget: null, bubbles: true}))`
	chromedp.Run(ctx, chromedp.Evaluate[bool](exitIntent+`, true`))
	// Counted, through the analytics pipeline: the report shows the control visit.
	to := time.Now().UTC().Format(time.DateOnly)
	deadline := time.Now().Add(time.Minute)
	for {
		_, rep := api("GET", "/api/sites/demo/reports/offers?from="+to+"&to="+to, nil)
		if items, _ := rep["items"].([]any); len(items) > 0 {
			v := items[0].(map[string]any)["variants"].(map[string]any)
			if c, ok := v["control"].(map[string]any); ok && c["qualified"].(float64) == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the control visit was not counted: %v", rep)
		}
		chromedp.Run(ctx, chromedp.Evaluate[bool](`document.dispatchEvent(new Event('visibilitychange')), true`))
		time.Sleep(200 * time.Millisecond)
	}
	if n := count(t, ctx, offerCard+` ? 1 : 0`); n != 0 {
		t.Fatal("the control group saw the offer")
	}

	// Pushed by the site's backend to this visitor's open page.
	waitLong(t, ctx, "the page polls for pushed offers", `performance.getEntriesByType('resource').some(e => e.name.includes('/offers/demo?'))`, "")
	status, body := api("POST", "/api/sites/demo/visitors/"+control+"/offers", map[string]any{"queue": "General", "title": "Your order", "text": "Your order has shipped: questions?"})
	if status != 202 {
		t.Fatalf("push: %d %v", status, body)
	}
	waitLong(t, ctx, "the pushed offer shows", offerCard+`?.textContent.includes('Your order has shipped')`, "")
	chromedp.Run(ctx, chromedp.Evaluate[bool](offerCard+`.querySelector('.x').click(), true`))

	// Published while the page is open: shown without a reload.
	status, created := api("POST", "/api/sites/demo/rules", json.RawMessage(`{"name": "Pricing help", "priority": 20,
		"when": {"fact": "page.path", "op": "starts_with", "value": "/demo/pricing"},
		"action": {"type": "content_offer", "template": "`+templateID(t, api)+`"}}`))
	if status != 201 {
		t.Fatalf("create: %d %v", status, created)
	}
	if status, _ := api("POST", "/api/sites/demo/rules/"+created["id"].(string)+"/publish", nil); status != 200 {
		t.Fatalf("publish: %d", status)
	}
	waitLong(t, ctx, "the new rule's offer shows", offerCard+`?.textContent.includes('10 % off')`, `history.pushState({}, '', location.pathname + '?n=' + Date.now())`)
	screenshot(t, ctx, "offer-published")
}

func templateID(t *testing.T, api func(string, string, any) (int, map[string]any)) string {
	_, ts := api("GET", "/api/sites/demo/templates", nil)
	return ts["items"].([]any)[0].(map[string]any)["id"].(string)
}

// TestPageOfferOnAPhone: page code offers a chat with nudge('offer'); on a
// 390 px wide screen the offer fits the screen; the visitor accepts and the
// agent sees an offer from the page's code with its metadata.
func TestPageOfferOnAPhone(t *testing.T) {
	url := startServer(t)
	agent := connectAgent(t, url)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(url+"/demo/pricing")); err != nil {
		t.Fatal(err)
	}
	loaded(t, ctx, true)
	chromedp.Run(ctx, chromedp.Evaluate[bool](`window.seen = []; nudge('on', 'offer:shown', d => seen.push(d.queue)); nudge('offer', 'General', {text: 'Your cart is saved: questions?', cart: 129}), true`))
	waitLong(t, ctx, "the page's offer shows", offerCard+`?.textContent.includes('Your cart is saved')`, "")
	if n := count(t, ctx, `Math.round(`+offerCard+`.getBoundingClientRect().width)`); n > 390-24 || n < 300 {
		t.Errorf("the offer is %d px wide on a 390 px screen", n)
	}
	if n := count(t, ctx, `Math.round(`+offerCard+`.querySelector('.x').getBoundingClientRect().height)`); n < 40 {
		t.Errorf("the close control is %d px high", n)
	}
	screenshot(t, ctx, "offer-phone")
	chromedp.Run(ctx, chromedp.Evaluate[bool](`nudge('accept'), true`))
	offer := agent.until(func(m map[string]any) bool { return m["type"] == "offer" })
	meta := offer["data"].(map[string]any)["conversation"].(map[string]any)["metadata"].(map[string]any)["offer"].(map[string]any)
	if meta["source"] != "page" || meta["data"].(map[string]any)["cart"] != "129" {
		t.Fatalf("the agent sees %v", meta)
	}
	if n := count(t, ctx, `seen.length`); n != 1 {
		t.Errorf("offer:shown fired %d times", n)
	}
}
