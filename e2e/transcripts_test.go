package e2e

import (
	"testing"
	"time"

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

// TestAClosedTopicSaysSoAndLeadsToOneForm: the demo's meter topic is closed
// today; the welcome says so beside it; a visitor who picks it anyway and
// writes gets one offline form holding what they wrote, and the header says
// nobody can answer.
func TestAClosedTopicSaysSoAndLeadsToOneForm(t *testing.T) {
	url := startServer(t)
	connectAgent(t, url) // the bill's queue is staffed: the welcome is "available"
	api := ownerAPI(t, url)
	_, qs := api("GET", "/api/queues", nil)
	paris, _ := time.LoadLocation("Europe/Paris")
	today := time.Now().In(paris)
	for _, q := range qs["items"].([]any) {
		q := q.(map[string]any)
		if q["name"] != "Meters and faults" {
			continue
		}
		cfg := q["config"].(map[string]any)
		cfg["hours"].(map[string]any)["closed"] = []string{today.AddDate(0, 0, -1).Format(time.DateOnly), today.Format(time.DateOnly), today.AddDate(0, 0, 1).Format(time.DateOnly)}
		if status, body := api("PATCH", "/api/queues/"+q["id"].(string), map[string]any{"config": cfg}); status != 200 {
			t.Fatalf("close the queue: %d %v", status, body)
		}
	}
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	// The welcome is computed at most every two seconds.
	waitLong(t, ctx, "the welcome knows the topic is closed", `window.closedTopic`, `fetch('/chat/welcome/demo').then(r => r.json()).then(w => window.closedTopic = (w.closed || []).length === 1)`)
	openChat(t, ctx)
	waitChat(t, ctx, "the closed topic says so", `[...r.querySelectorAll('.w select option')].some(o => o.value === 'My meter or a fault' && o.textContent.includes('nobody can answer now'))`)
	inChat[bool](t, ctx, `const s = r.querySelector('.w select'); s.value = 'My meter or a fault';
		for (const i of r.querySelectorAll('.w form input')) if (i.required && !i.value) i.value = i.type == 'email' ? 'vic@example.com' : 'Vic';
		const i = r.querySelector('textarea'); i.value = 'My meter is dark'; r.querySelector('.in .send').click(); return true`)
	waitChat(t, ctx, "one offline form with the message", `r.querySelectorAll('.f').length === 1 && r.querySelector('.f textarea').value === 'My meter is dark' &&
		r.querySelector('.h small').textContent === 'Nobody can answer right now'`)
	screenshot(t, ctx, "closed-topic")
}

// TestSitePrivacyInTheConsole: the owner reads the site's identity secret, and
// erases a visitor who browsed the demo, from the console.
func TestSitePrivacyInTheConsole(t *testing.T) {
	url := startServer(t)
	visitor := browser(t)
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	loaded(t, visitor, true)
	waitFor(t, visitor, "a visitor id", `localStorage.getItem('nudge_v_demo')`)
	id := inPage[string](t, visitor, `localStorage.getItem('nudge_v_demo')`)

	console := browser(t)
	err := chromedp.Do(console, append(consoleLogin(url), chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"]`)),
		chromedp.Click(chromedp.CSS(`nav a[href="/sites"]`)), chromedp.Click(chromedp.CSS(`button[aria-label^="Settings of"]`)),
		chromedp.Click(`//section[@aria-label="Visitors' identity and erasure"]//button[text()="Show the secret"]`))...)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the secret", `document.querySelector('input[aria-label="Identity secret"]')?.value.length >= 16`)
	set(t, console, `#erase-visitor`, id)
	err = chromedp.Do(console, chromedp.Click(`//form[@aria-label="Erase a visitor"]//button[text()="Erase"]`),
		chromedp.WaitVisible(chromedp.CSS(`dialog.confirm[open]`)), chromedp.Click(chromedp.CSS(`dialog.confirm button.danger-fill`)))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "erased", `document.querySelector('section[aria-label="Visitors\' identity and erasure"] .notice')?.textContent.includes('Erased')`)
}
