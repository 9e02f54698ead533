package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestTranscriptsListRecentChatsAndLeftMessages: with nobody available a
// visitor leaves a message; the owner opens Transcripts and, before typing
// any search, sees it among the recent conversations and under the filter
// for left messages, and reads it.
func TestTranscriptsListRecentChatsAndLeftMessages(t *testing.T) {
	url := startServer(t)
	visitor := browser(t)
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	openChat(t, visitor)
	waitChat(t, visitor, "the offline form", `r.querySelector('.w .f button')?.textContent === 'Leave a message'`)
	inChat[bool](t, visitor, `const f = r.querySelector('.w .f'); const [name, email] = f.querySelectorAll('input');
		name.value = 'Vic'; email.value = 'vic@example.com'; f.querySelector('textarea').value = 'Please call me about my meter.';
		f.querySelector('button').click(); return true`)
	defer func() {
		if t.Failed() {
			t.Log(inPage[string](t, visitor, `document.querySelector('[data-nudge=chat]').shadowRoot.querySelector('.p').innerText`))
		}
	}()
	waitChat(t, visitor, "the thanks", `[...r.querySelectorAll('.s')].some(e => e.textContent.includes('the team has your message'))`)

	console := browser(t)
	err := chromedp.Do(console, append(consoleLogin(url), chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"]`)),
		chromedp.Click(chromedp.CSS(`nav a[href="/transcripts"]`)), chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Recent conversations"]`)))...)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the left message among the recent chats", `document.querySelector('section[aria-label="Recent conversations"]').textContent.includes('left a message')`)
	if err := chromedp.Do(console, chromedp.Click(`//section[@aria-label="Recent conversations"]//label[contains(., "Only messages left")]/input`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the filter", `document.querySelector('section[aria-label="Recent conversations"] h3').textContent.includes('offline form') &&
		document.querySelectorAll('section[aria-label="Recent conversations"] li').length === 1`)
	if err := chromedp.Do(console, chromedp.Click(`//section[@aria-label="Recent conversations"]//li/button`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the message read", `document.querySelector('article[aria-label="Transcript"]')?.textContent.includes('Please call me about my meter.')`)
}
