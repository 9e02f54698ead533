package e2e

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nudgehq/nudge/email/mailtest"
)

// TestEmailFromTheConsoleToTheVisitor: the owner sets up the SMTP server on
// the Email page and sends a test email; a visitor on the demo shop chats,
// ends the chat, asks for the transcript in the widget and gets it; the
// delivery log shows both.
func TestEmailFromTheConsoleToTheVisitor(t *testing.T) {
	mp := mailtest.Shared(t)
	url := startServer(t)
	console := browser(t)
	b := make([]byte, 4)
	rand.Read(b)
	admin, visitorAddress := fmt.Sprintf("owner-%x@example.com", b), fmt.Sprintf("vic-%x@example.com", b)

	err := chromedp.Do(console, append(consoleLogin(url),
		chromedp.Click(chromedp.CSS(`nav a[href="/email"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Email settings"]`)),
		chromedp.SendKeys(chromedp.CSS("#mail-host"), mp.Host),
		chromedp.SendKeys(chromedp.CSS("#mail-from"), "help@demo.example"),
		chromedp.SendKeys(chromedp.CSS("#mail-from-name"), "Demo shop"),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	// The select's change event sets the security (and resets the port).
	if _, err := chromedp.Run(console, chromedp.Evaluate[bool](`(() => { const s = document.querySelector('#mail-security'); s.value = 'none'; s.dispatchEvent(new Event('change', {bubbles: true}));
		const p = document.querySelector('#mail-port'); p.value = `+strconv.Itoa(mp.Port)+`; p.dispatchEvent(new Event('input', {bubbles: true}));
		const on = [...document.querySelectorAll('form[aria-label="Email settings"] input[type=checkbox]')][0]; if (!on.checked) on.click(); return true })()`)); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(console,
		chromedp.Click(chromedp.CSS(`form[aria-label="Email settings"] button[type=submit]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "saved", `document.querySelector('.notice')?.textContent === 'Saved.'`)
	if _, err := chromedp.Run(console, chromedp.Evaluate[bool](`(() => { const i = document.querySelector('#mail-test-to'); i.value = `+jsString(admin)+`;
		i.dispatchEvent(new Event('input', {bubbles: true})); return true })()`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(console, chromedp.Click(chromedp.CSS(`form[aria-label="Send a test email"] button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the test email went", `document.querySelector('.notice')?.textContent.startsWith('The test email was sent')`)
	if m := mp.Wait(t, admin, 1)[0]; m.Subject != "Test email from nudge" || m.From.Name != "Demo shop" {
		t.Fatalf("%+v", m)
	}
	waitFor(t, console, "the delivery log", `[...document.querySelectorAll('table[aria-label="Delivery log"] td')].some(td => td.textContent === '`+admin+`')`)
	screenshot(t, console, "email-settings")

	// The visitor chats, ends the chat, and asks for its transcript.
	agent := connectAgent(t, url)
	visitor, cancel := chromedp.NewContext(console)
	defer cancel()
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	openChat(t, visitor)
	writeFirst(t, visitor, "Can I pay by card 4111 1111 1111 1111?")
	conv := agent.until(func(m map[string]any) bool { return m["type"] == "offer" })["conversation"].(string)
	agent.send(map[string]any{"type": "accept", "id": "a", "conversation": conv})
	agent.send(map[string]any{"type": "send", "id": "r1", "conversation": conv, "client_id": "r1", "text": "Yes, any card."})
	waitChat(t, visitor, "the answer", bubbles+`.includes('Yes, any card.')`)
	inChat[bool](t, visitor, `[...r.querySelectorAll('button')].find(b => b.textContent == 'End chat' && b.offsetParent).click(); return true`)
	inChat[bool](t, visitor, `r.querySelector('.cf button').click(); return true`)
	waitChat(t, visitor, "the transcript offer", `r.querySelector('form[aria-label="Email me this chat"] input')`)
	inChat[bool](t, visitor, `const i = r.querySelector('form[aria-label="Email me this chat"] input'); i.value = 'not an address';
		r.querySelector('form[aria-label="Email me this chat"]').requestSubmit(); return true`)
	inChat[bool](t, visitor, `const i = r.querySelector('form[aria-label="Email me this chat"] input'); i.value = `+jsString(visitorAddress)+`;
		r.querySelector('form[aria-label="Email me this chat"] button').click(); return true`)
	waitChat(t, visitor, "the transcript is on its way", `[...r.querySelectorAll('.s')].some(s => s.textContent.includes('on its way'))`)
	screenshot(t, visitor, "transcript-sent")
	m := mp.Wait(t, visitorAddress, 1)[0]
	text := strings.ReplaceAll(m.Text, "\r\n", "\n")
	if !strings.Contains(text, "Can I pay by card ████ ████ ████ ████?") || !strings.Contains(text, "Yes, any card.") || strings.Contains(text, "4111") {
		t.Fatalf("transcript: %s", text)
	}
	if err := chromedp.Do(console, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the transcript in the delivery log", `[...document.querySelectorAll('table[aria-label="Delivery log"] tr')].some(tr => tr.textContent.includes('Transcript') && tr.textContent.includes('`+visitorAddress+`'))`)
}

// TestALeftMessageIsAnsweredFromTheDesk: with nobody available a visitor
// leaves a message; the owner finds it under Left messages, answers it by
// email, and it moves to the answered ones; the visitor has the answer.
func TestALeftMessageIsAnsweredFromTheDesk(t *testing.T) {
	mp := mailtest.Shared(t)
	url := startServer(t)
	b := make([]byte, 4)
	rand.Read(b)
	vic := fmt.Sprintf("vic-%x@example.com", b)
	call := ownerAPI(t, url)
	if res, _ := call("PUT", "/api/email/settings", map[string]any{"enabled": true, "host": mp.Host, "port": mp.Port, "security": "none",
		"from": "help@demo.example", "from_name": "Demo shop", "transcripts": true, "offline_messages": false}); res != 200 {
		t.Fatalf("email settings: %d", res)
	}
	visitor := browser(t)
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	openChat(t, visitor)
	waitChat(t, visitor, "the offline form", `r.querySelector('.w .f button')?.textContent === 'Leave a message'`)
	inChat[bool](t, visitor, `const f = r.querySelector('.w .f'); const [name, email] = f.querySelectorAll('input');
		name.value = 'Vic'; email.value = `+jsString(vic)+`; f.querySelector('textarea').value = 'Is my order shipped?';
		f.querySelector('button').click(); return true`)
	waitChat(t, visitor, "the thanks", `[...r.querySelectorAll('.s')].some(e => e.textContent.includes('the team has your message'))`)

	console := browser(t)
	err := chromedp.Do(console, append(consoleLogin(url), chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"]`)),
		chromedp.Click(chromedp.CSS(`nav a[href="/messages"]`)),
		chromedp.WaitVisible(chromedp.CSS(`li[aria-label="Message from Vic"]`)),
		chromedp.SendKeys(chromedp.CSS(`li[aria-label="Message from Vic"] textarea`), "It left this morning."),
		chromedp.Click(chromedp.CSS(`li[aria-label="Message from Vic"] button[type=submit]`)),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "no new messages left", `[...document.querySelectorAll('.empty')].some(e => e.textContent.startsWith('No new messages'))`)
	if err := chromedp.Do(console, chromedp.SetValue(chromedp.CSS(`select[aria-label="State"]`), "answered")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(console, chromedp.Evaluate[bool](`document.querySelector('select[aria-label="State"]').dispatchEvent(new Event('change', {bubbles: true}))`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "among the answered", `document.querySelector('li[aria-label="Message from Vic"]')?.textContent.includes('Answered by Demo owner')`)
	screenshot(t, console, "left-messages")
	m := mp.Wait(t, vic, 1)[0]
	if text := strings.ReplaceAll(m.Text, "\r\n", "\n"); !strings.HasPrefix(m.Subject, "Re: your message to") ||
		!strings.HasPrefix(text, "It left this morning.") || !strings.Contains(text, "> Is my order shipped?") {
		t.Fatalf("%q\n%s", m.Subject, m.Text)
	}
}
