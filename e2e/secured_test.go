package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudgehq/nudge/contacts"
)

// TestASecuredSitesChatFollowsTheCustomerAcrossDevices: the owner secures
// the demo site's chat. A page without a visitor token shows no chat; with
// one (as the site's server hands each page) the launcher appears and the
// customer chats, and the browser keeps nothing that proves who they are.
// On a second device (another browser) the same customer opens the chat
// and finds the same conversation, which goes on from there.
func TestASecuredSitesChatFollowsTheCustomerAcrossDevices(t *testing.T) {
	url := startServer(t)
	call := ownerAPI(t, url)
	_, sites := call("GET", "/api/sites", nil)
	site := sites["items"].([]any)[0].(map[string]any)
	id := site["id"].(string)
	settings := site["settings"].(map[string]any)
	settings["secured_chat"] = true
	if status, body := call("PATCH", "/api/sites/"+id, map[string]any{"settings": settings}); status != 200 {
		t.Fatalf("secure the site: %d %v", status, body)
	}
	_, secret := call("GET", "/api/sites/"+id+"/secret", nil)
	mint := func() string {
		tok, err := contacts.MintVisitorToken(secret["identity_secret"].(string), site["key"].(string), "cust-42", time.Now(), 10*time.Minute, "ada@example.com", "Ada")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	agent := connectAgent(t, url)

	laptop := browser(t)
	if err := chromedp.Do(laptop, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	loaded(t, laptop, true) // the configuration arrived: analytics loaded after it
	if n := count(t, laptop, `document.querySelectorAll('[data-nudge=launcher], script[src*="/w/launcher."]').length`); n != 0 {
		t.Fatal("a secured site showed chat to a visitor without a token")
	}
	if _, err := chromedp.Run(laptop, chromedp.Evaluate[bool](`nudge('token', `+jsString(mint())+`), true`)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Log(inPage[string](t, laptop, `document.querySelector('[data-nudge=chat]')?.shadowRoot.querySelector('.p').innerText`))
		}
	}()
	openChat(t, laptop)
	writeFirst(t, laptop, "Hello from my laptop")
	conv := agent.until(func(m map[string]any) bool { return m["type"] == "offer" })["conversation"].(string)
	agent.send(map[string]any{"type": "accept", "id": "a", "conversation": conv})
	agent.send(map[string]any{"type": "send", "id": "r1", "conversation": conv, "client_id": "r1", "text": "Hi Ada, how can I help?"})
	waitChat(t, laptop, "the answer", bubbles+`.includes('Hi Ada, how can I help?')`)
	if kept := inPage[string](t, laptop, `Object.entries(localStorage).map(([k, v]) => k + '=' + v).join('\n')`); containsAny(kept, "cust-42", "ada@example.com", "nudge_chat_"+site["key"].(string)+"=", "nudge_chat_log_") {
		t.Fatalf("the browser keeps what proves identity:\n%s", kept)
	}

	phone := browser(t)
	if err := chromedp.Do(phone, chromedp.Navigate(url+"/demo/billing")); err != nil {
		t.Fatal(err)
	}
	loaded(t, phone, true)
	if _, err := chromedp.Run(phone, chromedp.Evaluate[bool](`nudge('token', `+jsString(mint())+`), true`)); err != nil {
		t.Fatal(err)
	}
	openChat(t, phone)
	waitChat(t, phone, "the laptop's chat on the phone", bubbles+`.includes('Hello from my laptop') && `+bubbles+`.includes('Hi Ada, how can I help?')`)
	inChat[bool](t, phone, `const i = r.querySelector('textarea'); i.value = 'And from my phone'; r.querySelector('.in .send').click(); return true`)
	agent.message("And from my phone")
	waitChat(t, laptop, "the phone's message on the laptop", bubbles+`.includes('And from my phone')`)
	screenshot(t, phone, "secured-chat-phone")
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
