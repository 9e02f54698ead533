package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestAgentDesk works a chat in the console as an agent does: the offer
// shows how long it has waited, the first message and the page; the chat
// has its URL, which a reload opens; the visitor's typing shows as it comes
// and goes when the message arrives; / opens the canned responses (a missing
// value takes its default), a wrong shortcut says so in place; an internal
// note's switch resets; quick replies and a file reach the visitor; a second
// chat's new message counts as unread in the list and the tab's title.
func TestAgentDesk(t *testing.T) {
	url := startServer(t)
	api := ownerAPI(t, url)
	console := browser(t)
	if err := chromedp.Do(console, append(consoleLogin(url), goAvailable()...)...); err != nil {
		t.Fatal(err)
	}
	// A canned response added while the desk is open (as on Chat setup) is
	// there when the person comes back to Chats, without a reload.
	if status, _ := api("POST", "/api/canned", map[string]any{"shortcut": "thanks", "title": "Thank them", "text": "Thanks {{visitor.name|there}}, we are on it."}); status != 201 {
		t.Fatalf("canned: %d", status)
	}
	if err := chromedp.Do(console, chromedp.Click(chromedp.CSS(`nav a[href="/setup"]`)), chromedp.WaitVisible(chromedp.CSS(`#queue-name`)),
		chromedp.Click(chromedp.CSS(`nav a[href="/chats"]`)), chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"] .dot.available`))); err != nil {
		t.Fatal(err)
	}
	visitor, cancel := chromedp.NewContext(console)
	defer cancel()
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo/billing")); err != nil {
		t.Fatal(err)
	}
	openChat(t, visitor)
	writeFirst(t, visitor, "My meter shows nothing")
	waitFor(t, console, "the offer with its wait, first message and page", `(() => { const o = document.querySelector('.offer'); return o && o.textContent.includes('waiting') &&
		o.querySelector('q.first')?.textContent === 'My meter shows nothing' && o.textContent.includes('on ') })()`)
	screenshot(t, console, "desk-offer")
	acceptOffer(t, console)
	if err := chromedp.Do(console, chromedp.WaitVisible(chromedp.CSS(`.chat-item.current`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the chat's URL", `/^\/chats\/[0-9A-Z]{26}$/.test(location.pathname)`)
	if err := chromedp.Do(console, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.chat-item.current`))); err != nil {
		t.Fatalf("a reload opens the chat: %v", err)
	}
	waitFor(t, console, "the message after the reload", `[...document.querySelectorAll('.msg .text')].some(e => e.textContent === 'My meter shows nothing')`)

	// Typing shows as it comes, and goes when the message arrives.
	inChat[bool](t, visitor, `const i = r.querySelector('textarea'); i.value = 'It went dark on Monday'; i.dispatchEvent(new Event('input')); return true`)
	waitFor(t, console, "the preview", `document.querySelector('.typing')?.textContent.includes('It went dark on Monday')`)
	inChat[bool](t, visitor, `r.querySelector('.in .send').click(); return true`)
	waitFor(t, console, "the message, and no preview", `[...document.querySelectorAll('.msg .text')].some(e => e.textContent === 'It went dark on Monday') && !document.querySelector('.typing')`)

	// The canned-response picker.
	if err := chromedp.Do(console, chromedp.SendKeys(chromedp.CSS(`textarea[aria-label="Reply"]`), "/th")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the picker", `document.querySelector('ul.picker li.current')?.textContent.includes('/thanks')`)
	screenshot(t, console, "desk-canned-picker")
	pressEnter(t, console, `textarea[aria-label="Reply"]`)
	waitChat(t, visitor, "the canned response, filled", bubbles+`.includes('Thanks Vic, we are on it.')`)
	if err := chromedp.Do(console, chromedp.SendKeys(chromedp.CSS(`textarea[aria-label="Reply"]`), "/nope")); err != nil {
		t.Fatal(err)
	}
	pressEnter(t, console, `textarea[aria-label="Reply"]`)
	waitFor(t, console, "a wrong shortcut said in place", `document.querySelector('.composer .alert')?.textContent.includes('No canned response /nope') && document.querySelector('.conversation .messages')`)
	// An internal note's switch resets once it is sent.
	set(t, console, `textarea[aria-label="Reply"]`, "")
	err := chromedp.Do(console,
		chromedp.Click(chromedp.CSS(`.composer label input[type=checkbox]`)),
		chromedp.SendKeys(chromedp.CSS(`textarea[aria-label="Reply"]`), "checked the meter id"),
		chromedp.Click(chromedp.CSS(`.composer button[type=submit]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the note, and the switch off", `[...document.querySelectorAll('.msg.internal .text')].some(e => e.textContent === 'checked the meter id') && !document.querySelector('.composer label input[type=checkbox]').checked`)

	// Quick replies and a file reach the visitor.
	err = chromedp.Do(console,
		chromedp.Click(`//button[text()="Quick replies"]`),
		chromedp.SendKeys(chromedp.CSS(`input[aria-label="Choice 1"]`), "Electricity"),
		chromedp.SendKeys(chromedp.CSS(`input[aria-label="Choice 2"]`), "Gas"),
		chromedp.SendKeys(chromedp.CSS(`textarea[aria-label="Reply"]`), "Which meter?"),
		chromedp.Click(chromedp.CSS(`.composer button[type=submit]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitChat(t, visitor, "the choices", `[...r.querySelectorAll('.r button')].map(b => b.textContent).join() === 'Electricity,Gas'`)
	err = chromedp.Do(console,
		chromedp.Click(`//button[text()="Card"]`),
		chromedp.SendKeys(chromedp.CSS(`input[aria-label="Card title"]`), "Meter guide"),
		chromedp.SendKeys(chromedp.CSS(`input[aria-label="Button label"]`), "Open"),
		chromedp.SendKeys(chromedp.CSS(`input[aria-label="Button link (https://…)"]`), "https://example.com/meters"),
		chromedp.Click(chromedp.CSS(`.composer button[type=submit]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitChat(t, visitor, "the card", `r.querySelector('.c b')?.textContent === 'Meter guide' && r.querySelector('.c a')?.href === 'https://example.com/meters'`)
	file := filepath.Join(t.TempDir(), "how-to-read.txt")
	os.WriteFile(file, []byte("press the red button twice\n"), 0o644)
	if err := chromedp.Do(console, chromedp.SetUploadFiles(chromedp.CSS(`input[aria-label="File to send"]`), []string{file})); err != nil {
		t.Fatal(err)
	}
	waitChat(t, visitor, "the agent's file", `[...r.querySelectorAll('.fl')].some(b => b.textContent.includes('how-to-read.txt'))`)

	// The transfer panel offers the queues and the colleagues signed in.
	if err := chromedp.Do(console, chromedp.Click(`//div[contains(@class,"actions")]/button[text()="Transfer"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "queues to transfer to", `[...document.querySelectorAll('select[aria-label="Transfer to"] option')].some(o => o.textContent === 'General')`)

	// A second chat (another browser: another visitor); a new message in the
	// first counts as unread.
	second := browser(t)
	// Notifications (allowed here by a stand-in: headless Chromium has no permission prompt).
	inPage[bool](t, console, `window.notes = []; window.Notification = class { static permission = 'granted'; constructor(title, o) { window.notes.push(title + ': ' + o.body) } }; true`)
	if err := chromedp.Do(second, chromedp.Navigate(url+"/demo/pricing")); err != nil {
		t.Fatal(err)
	}
	openChat(t, second)
	writeFirst(t, second, "Do you have a student plan?")
	acceptOffer(t, console)
	waitFor(t, console, "a notification of the new chat", `window.notes.some(n => n.startsWith('New chat'))`)
	waitFor(t, console, "the second chat open", `[...document.querySelectorAll('.msg .text')].some(e => e.textContent === 'Do you have a student plan?')`)
	inChat[bool](t, visitor, `const i = r.querySelector('textarea'); i.value = 'Hello?'; r.querySelector('.in .send').click(); return true`)
	waitFor(t, console, "a notification of the message", `window.notes.some(n => n === 'New message: Hello?')`)
	waitFor(t, console, "unread in the list and the title", `[...document.querySelectorAll('.chat-item')].some(b => b.querySelector('.count')?.textContent === '1' && b.textContent.includes('Hello?')) && document.title.startsWith('(1) ')`)
	screenshot(t, console, "desk-unread")
	if strings.Contains(inPage[string](t, console, `document.querySelector('.chat-item.current').textContent`), "Hello?") {
		t.Fatal("the message went to the wrong chat")
	}

	// The context follows the visitor to another page, the one before kept.
	if err := chromedp.Do(second, chromedp.Navigate(url+"/demo/checkout")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the page now", `(() => { const c = document.querySelector('aside.context').textContent; return c.includes('/demo/checkout') && c.includes('Before') })()`)
	screenshot(t, console, "desk-context-follows")
	// A visitor who leaves the site is said to have left, after a moment.
	if err := chromedp.Do(second, chromedp.Navigate(url+"/healthz")); err != nil {
		t.Fatal(err)
	}
	waitLong(t, console, "the visitor has left", `document.querySelector('.conversation .banner')?.textContent.includes('The visitor has left')`, "")

	// Closing picks a disposition from the tenant's list.
	_, settings := api("GET", "/api/chat/settings", nil)
	settings["dispositions"] = []string{"Solved", "Follow-up"}
	if status, body := api("PUT", "/api/chat/settings", settings); status != 200 {
		t.Fatalf("settings: %d %v", status, body)
	}
	conv := strings.TrimPrefix(inPage[string](t, console, `location.pathname`), "/chats/")
	if err := chromedp.Do(console, chromedp.Click(`//div[contains(@class,"actions")]/button[text()="Close chat"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the dispositions", `[...document.querySelectorAll('select[aria-label="Disposition"] option')].map(o => o.textContent).join() === 'Disposition…,Solved,Follow-up'`)
	set(t, console, `select[aria-label="Disposition"]`, "Solved")
	if err := chromedp.Do(console, chromedp.Click(`//button[text()="Close the chat"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "closed", `document.querySelector('.conversation').textContent.includes('This chat has ended.')`)
	if _, c := api("GET", "/api/conversations/"+conv, nil); c["conversation"].(map[string]any)["disposition"] != "Solved" {
		t.Fatalf("the disposition: %v", c)
	}
}

// pressEnter sends Enter to a field as its keydown handler sees it (the
// DevTools protocol's key events would also type a newline after it).
func pressEnter(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	inPage[bool](t, ctx, `document.querySelector(`+jsString(sel)+`).dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true})), true`)
}

// TestDeskHoldQueuesAndHandover: a held chat waits in the workbin, is
// reopened from there, and when the visitor writes again comes back marked as
// held; the agent chooses the queues they work (a chat of another queue is
// not theirs); a transfer to a colleague carries its note.
func TestDeskHoldQueuesAndHandover(t *testing.T) {
	url := startServer(t)
	console := browser(t)
	if err := chromedp.Do(console, append(consoleLogin(url), goAvailable()...)...); err != nil {
		t.Fatal(err)
	}
	visitor := browser(t)
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	openChat(t, visitor)
	writeFirst(t, visitor, "Can I pay in instalments?")
	acceptOffer(t, console)
	if err := chromedp.Do(console, chromedp.WaitVisible(chromedp.CSS(`.chat-item.current`))); err != nil {
		t.Fatal(err)
	}
	// Hold: the chat leaves the list for the workbin; Reopen brings it back.
	if err := chromedp.Do(console, chromedp.Click(`//div[contains(@class,"actions")]/button[text()="Hold"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "in the workbin, said so", `document.querySelector('.held') && !document.querySelector('.chat-item') && document.querySelector('.conversation').textContent.includes('On hold: the chat waits')`)
	screenshot(t, console, "desk-workbin")
	if err := chromedp.Do(console, chromedp.Click(chromedp.CSS(`.held button`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "reopened", `document.querySelector('.chat-item') && !document.querySelector('.held')`)
	waitChat(t, visitor, "the visitor is told", `[...r.querySelectorAll('.s')].some(s => s.textContent.includes('is back in the chat'))`)
	// Held again, the visitor writes: it comes back as the held chat it is.
	if err := chromedp.Do(console, chromedp.Click(chromedp.CSS(`.chat-item`)), chromedp.Click(`//div[contains(@class,"actions")]/button[text()="Hold"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "held again", `document.querySelector('.held')`)
	inChat[bool](t, visitor, `const i = r.querySelector('textarea'); i.value = 'Any news?'; r.querySelector('.in .send').click(); return true`)
	waitFor(t, console, "back from hold", `document.querySelector('.offer strong')?.textContent === 'Back from hold'`)
	acceptOffer(t, console)
	if err := chromedp.Do(console, chromedp.WaitVisible(chromedp.CSS(`.chat-item.current`))); err != nil {
		t.Fatal(err)
	}

	// A colleague consulted (invisible to the visitor) gets the note; declined, the desk says so.
	ada := newAgent(t, url, "ada@example.com")
	if err := chromedp.Do(console, chromedp.Click(`//div[contains(@class,"actions")]/button[text()="Invite"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "Ada to invite", `[...document.querySelectorAll('select[aria-label="Colleague"] option')].some(o => o.textContent.startsWith('Ada'))`)
	inPage[bool](t, console, `(() => { const s = document.querySelector('select[aria-label="Colleague"]'); s.value = [...s.options].find(o => o.textContent.startsWith('Ada')).value; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()`)
	if err := chromedp.Do(console, chromedp.Click(`//label[contains(., "Consult")]/input`)); err != nil {
		t.Fatal(err)
	}
	set(t, console, `input[aria-label="Note for them"]`, "Is the instalment plan still open?")
	if err := chromedp.Do(console, chromedp.Click(`//div[@role="group"]/button[text()="Consult"]`)); err != nil {
		t.Fatal(err)
	}
	consult := ada.until(func(m map[string]any) bool { return m["type"] == "offer" })
	if d := consult["data"].(map[string]any); d["kind"] != "consult" || d["note"] != "Is the instalment plan still open?" {
		t.Fatalf("the consult: %v", d)
	}
	ada.send(map[string]any{"type": "decline", "id": "dc", "conversation": consult["conversation"]})
	waitFor(t, console, "declined, said", `document.querySelector('.conversation [role=alert]')?.textContent.includes('consult was declined')`)

	// A transfer to a colleague carries the note for them.
	if err := chromedp.Do(console, chromedp.Click(`//div[contains(@class,"actions")]/button[text()="Transfer"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "Ada among the colleagues", `[...document.querySelectorAll('select[aria-label="Transfer to"] option')].some(o => o.textContent.startsWith('Ada'))`)
	inPage[bool](t, console, `(() => { const s = document.querySelector('select[aria-label="Transfer to"]'); s.value = [...s.options].find(o => o.textContent.startsWith('Ada')).value; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()`)
	set(t, console, `input[aria-label="Note for them"]`, "Wants instalments; check the contract")
	if err := chromedp.Do(console, chromedp.Click(`//div[@role="group"]/button[text()="Transfer"]`)); err != nil {
		t.Fatal(err)
	}
	offer := ada.until(func(m map[string]any) bool { return m["type"] == "offer" })
	if d := offer["data"].(map[string]any); d["kind"] != "transfer" || d["note"] != "Wants instalments; check the contract" {
		t.Fatalf("the transfer: %v", d)
	}

	// The owner works the Meters queue only: a chat about a bill (General) is not theirs.
	if err := chromedp.Do(console, chromedp.Click(chromedp.CSS(`details.working summary`))); err != nil {
		t.Fatal(err)
	}
	inPage[bool](t, console, `[...document.querySelectorAll('details.working label')].find(l => l.textContent.includes('General')).querySelector('input').click(), true`)
	waitFor(t, console, "working one queue", `document.querySelector('details.working summary').textContent === 'Working 1 of 2 queues'`)
	ada.send(map[string]any{"type": "presence", "id": "away", "status": "away"})
	other := browser(t)
	if err := chromedp.Do(other, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	openChat(t, other)
	writeFirst(t, other, "Why is my bill so high?")
	waitChat(t, other, "nobody works the queue: the offline form", `r.querySelector('.f button')?.textContent === 'Leave a message'`)
	if inPage[bool](t, console, `[...document.querySelectorAll('.offer')].some(o => o.textContent.includes('Why is my bill'))`) {
		t.Fatal("offered a chat of a queue the agent does not work")
	}
}
