package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestVisitorWidget walks the chat as a new visitor on a phone: a welcome
// with the team and the demo's form before anything starts; the form is
// checked; replies while the panel is closed show as a count, a preview and
// the tab's title; a file of a refused type says so in words; ending asks
// first, then offers a rating and a new chat, which opens on the welcome.
func TestVisitorWidget(t *testing.T) {
	url := startServer(t)
	agent := connectAgent(t, url)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	openChat(t, ctx)
	waitChat(t, ctx, "the welcome", `r.querySelector('.w select') && r.querySelector('#nudge-title').textContent === 'Acme Energy' &&
		r.querySelector('.h small').textContent === 'Someone can answer now' && r.querySelector('.av i')?.textContent === 'D' &&
		[...r.querySelectorAll('.h button')].every(b => b.textContent !== 'End chat' || b.style.display === 'none')`)
	screenshot(t, ctx, "widget-welcome-phone")
	// A phone gets the whole screen, text that does not zoom, a big close control.
	if !inChat[bool](t, ctx, `const p = r.querySelector('.p').getBoundingClientRect(); const x = r.querySelector('.h .x').getBoundingClientRect();
		return p.width === innerWidth && p.height === innerHeight && getComputedStyle(r.querySelector('textarea')).fontSize === '16px' && x.width >= 44 && x.height >= 44`) {
		t.Fatal("the panel on a phone")
	}
	// Nothing starts before the first message, and not without the required answers.
	inChat[bool](t, ctx, `const i = r.querySelector('textarea'); i.value = 'Hello?'; r.querySelector('.in .send').click(); return true`)
	if !inChat[bool](t, ctx, `return !!r.querySelector('.w') && !r.querySelector('.b')`) {
		t.Fatal("the chat started without the form's answers")
	}
	// What the visitor typed into the welcome survives a reload.
	inChat[bool](t, ctx, `const i = [...r.querySelectorAll('.w form input')].find(i => i.required); i.value = 'Vic'; i.dispatchEvent(new Event('input', {bubbles: true})); return true`)
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	openChat(t, ctx)
	waitChat(t, ctx, "the typed answer after a reload", `[...r.querySelectorAll('.w form input')].find(i => i.required)?.value === 'Vic'`)
	writeFirst(t, ctx, "My bill is too high")
	offer := agent.until(func(m map[string]any) bool { return m["type"] == "offer" })
	conv := offer["conversation"].(string)
	meta := offer["data"].(map[string]any)["conversation"].(map[string]any)["metadata"].(map[string]any)
	if meta["topic"] != "My bill" || meta["form"].(map[string]any)["name"] != "Vic" {
		t.Fatalf("the form's answers reach the agent: %v", meta)
	}
	agent.send(map[string]any{"type": "accept", "id": "a", "conversation": conv})
	agent.until(func(m map[string]any) bool { return m["type"] == "accept_ok" })

	// What the page says of the visitor once the chat runs reaches the agent.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`nudge('set', {plan: 'gold', seats: 3}), true`)); err != nil {
		t.Fatal(err)
	}
	agent.until(func(m map[string]any) bool {
		if m["type"] != "state" || m["conversation"] != conv {
			return false
		}
		vars, _ := m["data"].(map[string]any)["metadata"].(map[string]any)["vars"].(map[string]any)
		return vars["plan"] == "gold" && vars["seats"] == "3"
	})

	// Closed panel: a reply shows as a count, a preview and in the title; opening clears them.
	inChat[bool](t, ctx, `r.querySelector('.h .x').click(); return true`)
	waitChat(t, ctx, "focus back on the launcher", `r.activeElement === r.querySelector('.l')`)
	agent.send(map[string]any{"type": "send", "id": "r1", "conversation": conv, "client_id": "r1", "text": "Let me look at your last bill."})
	waitChat(t, ctx, "the unread count", `r.querySelector('.u').textContent === '1' && r.querySelector('.pv').style.display === '' &&
		r.querySelector('.pv span').textContent === 'Let me look at your last bill.' && document.title.startsWith('(1) ')`)
	screenshot(t, ctx, "widget-unread-phone")
	inChat[bool](t, ctx, `r.querySelector('.pv').click(); return true`)
	waitChat(t, ctx, "read", `r.querySelector('.u').style.display === 'none' && !document.title.startsWith('(')`)
	waitChat(t, ctx, "a time mark", `/^(Just now|\d+ min ago)$/.test(r.querySelector('.t')?.textContent)`)

	// A file the server refuses is explained in words.
	file := filepath.Join(t.TempDir(), "run.sh")
	os.WriteFile(file, []byte("#!/bin/sh\necho hi\n"), 0o644)
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.JSPath(`document.querySelector('[data-nudge=chat]').shadowRoot.querySelector('input[type=file]')`), []string{file})); err != nil {
		t.Fatal(err)
	}
	waitChat(t, ctx, "the refusal in words", `r.querySelector('.er').textContent === "This file type can't be sent."`)
	// A picture shows as a thumbnail.
	png := filepath.Join(t.TempDir(), "meter.png")
	os.WriteFile(png, onePixelPNG(), 0o644)
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.JSPath(`document.querySelector('[data-nudge=chat]').shadowRoot.querySelector('input[type=file]')`), []string{png})); err != nil {
		t.Fatal(err)
	}
	waitChat(t, ctx, "the thumbnail", `r.querySelector('img.th')?.naturalWidth > 0 && r.querySelector('.fl small').textContent === '1 KB' && r.querySelector('.er').textContent === ''`)
	inChat[bool](t, ctx, `r.querySelector('img.th').click(); return true`)
	waitChat(t, ctx, "the picture full size", `r.querySelector('.lb img')?.naturalWidth > 0`)
	inChat[bool](t, ctx, `r.querySelector('.lb button').click(); return true`)
	waitChat(t, ctx, "and closed", `!r.querySelector('.lb')`)

	// Ending asks first; then a rating and a new chat, which opens on the welcome.
	inChat[bool](t, ctx, `[...r.querySelectorAll('.h button')].find(b => b.textContent === 'End chat').click(); return true`)
	waitChat(t, ctx, "the question", `r.querySelector('.cf').style.display === ''`)
	inChat[bool](t, ctx, `[...r.querySelectorAll('.cf button')].find(b => b.textContent === 'Keep chatting').click(); return true`)
	waitChat(t, ctx, "still open", `r.querySelector('.cf').style.display === 'none' && r.querySelector('.in').style.display === ''`)
	inChat[bool](t, ctx, `[...r.querySelectorAll('.h button')].find(b => b.textContent === 'End chat').click(); [...r.querySelectorAll('.cf button')].find(b => b.textContent === 'End chat').click(); return true`)
	waitChat(t, ctx, "ended, with a rating and a new chat", `r.querySelector('.nc').style.display === '' && r.querySelector('.in').style.display === 'none' &&
		[...r.querySelectorAll('.r button')].some(b => b.textContent === '★★★★★')`)
	screenshot(t, ctx, "widget-ended-phone")
	inChat[bool](t, ctx, `[...r.querySelectorAll('.r button')].find(b => b.textContent === '★★★★★').click(); return true`)
	waitChat(t, ctx, "thanked", `r.querySelector('.st').textContent === 'Thank you for your rating.'`)
	inChat[bool](t, ctx, `r.querySelector('.nc').click(); return true`)
	waitChat(t, ctx, "a new welcome", `r.querySelector('.w select') && !r.querySelector('.b') && !localStorage.getItem('nudge_chat_demo')`)
	if strings.Contains(inChat[string](t, ctx, `return r.querySelector('.m').textContent`), "My bill is too high") {
		t.Fatal("the ended chat is still shown")
	}
}

// TestVisitorWidgetDesktop: Escape closes the panel on a desktop, and with
// every agent away the welcome says so and offers the offline form at once.
func TestVisitorWidgetDesktop(t *testing.T) {
	url := startServer(t)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	openChat(t, ctx)
	waitChat(t, ctx, "nobody is available", `r.querySelector('.h small').textContent === 'We are away right now' && r.querySelector('.w .f button')?.textContent === 'Leave a message' &&
		r.querySelector('.in').style.display === 'none'`)
	screenshot(t, ctx, "widget-away")
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\x1b")); err != nil {
		t.Fatal(err)
	}
	waitChat(t, ctx, "Escape closes", `r.querySelector('.p').style.display === 'none' && r.activeElement === r.querySelector('.l')`)

	// The site moves the launcher off its own controls and wants a chime.
	api := ownerAPI(t, url)
	_, sites := api("GET", "/api/sites", nil)
	id := sites["items"].([]any)[0].(map[string]any)["id"].(string)
	if status, body := api("PATCH", "/api/sites/"+id, map[string]any{"theme": map[string]any{"color": "#2563eb", "position": "right", "offset_x": 10, "offset_y": 100, "sound": true}}); status != 200 {
		t.Fatalf("theme: %d %v", status, body)
	}
	agent := connectAgent(t, url)
	// The page's config is cached for a moment: wait until it has the theme, then load the page again.
	waitLong(t, ctx, "the config has the theme", `window.themed`, `fetch('/config/demo').then(r => r.json()).then(c => window.themed = c.theme.offset_y === 100)`)
	// The welcome is computed at most every two seconds: wait until it has the agent.
	waitLong(t, ctx, "the welcome has the agent", `window.staffed`, `fetch('/chat/welcome/demo').then(r => r.json()).then(w => window.staffed = w.available)`)
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the launcher moved", `(() => { const l = document.querySelector('[data-nudge=launcher]')?.shadowRoot.querySelector('.l'); return l && l.style.bottom === '120px' && l.style.right === '30px' })()`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.chimes = 0; window.AudioContext = class { constructor() { window.chimes++; throw new Error('no sound in tests'); } }; true`)); err != nil {
		t.Fatal(err)
	}
	openChat(t, ctx)
	if !inChat[bool](t, ctx, `return r.querySelector('.l').style.bottom === '120px'`) {
		t.Fatal("the chat's launcher is not where the launcher module drew it")
	}
	writeFirst(t, ctx, "Is my meter read remotely?")
	conv := agent.until(func(m map[string]any) bool { return m["type"] == "offer" })["conversation"].(string)
	agent.send(map[string]any{"type": "accept", "id": "a", "conversation": conv})
	agent.until(func(m map[string]any) bool { return m["type"] == "accept_ok" })
	waitChat(t, ctx, "kept in the browser", `JSON.parse(localStorage.getItem('nudge_chat_log_demo') || '{"m":[]}').m.some(m => m.text === 'Is my meter read remotely?')`)
	inChat[bool](t, ctx, `r.querySelector('.h .x').click(); return true`)
	agent.send(map[string]any{"type": "send", "id": "r1", "conversation": conv, "client_id": "r1", "text": "Yes, every half hour."})
	waitChat(t, ctx, "a chime", `window.chimes === 1 && r.querySelector('.u').textContent === '1'`)
}
