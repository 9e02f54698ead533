package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	fws "github.com/fasthttp/websocket"

	"github.com/nudgehq/nudge/internal/pgtest"
	"github.com/nudgehq/nudge/server"
)

// agentSocket connects the demo owner to the agent socket, as the console does.
type agentSocket struct {
	t *testing.T
	c *fws.Conn
}

func connectAgent(t *testing.T, url string) *agentSocket {
	t.Helper()
	res, err := http.Post(url+"/api/auth/login", "application/json", strings.NewReader(`{"email":"admin@localhost","password":"`+demoPassword+`"}`))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login: %v %v", res, err)
	}
	return dialAgent(t, url, res)
}

// dialAgent opens the agent socket with the session a login or join
// answer set, available.
func dialAgent(t *testing.T, url string, login *http.Response) *agentSocket {
	t.Helper()
	hdr := http.Header{"Origin": {url}, "Cookie": {strings.Split(login.Header.Get("Set-Cookie"), ";")[0]}}
	c, _, err := fws.DefaultDialer.Dial(strings.Replace(url, "http", "ws", 1)+"/ws/agent", hdr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a := &agentSocket{t: t, c: c}
	a.send(map[string]any{"type": "hello", "id": "h", "status": "available"})
	a.until(func(m map[string]any) bool { return m["type"] == "hello_ok" })
	return a
}

func (a *agentSocket) send(v any) {
	if err := a.c.WriteJSON(v); err != nil {
		a.t.Fatal(err)
	}
}

func (a *agentSocket) until(match func(map[string]any) bool) map[string]any {
	a.t.Helper()
	a.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var m map[string]any
		if err := a.c.ReadJSON(&m); err != nil {
			a.t.Fatalf("agent socket: %v", err)
		}
		if match(m) {
			return m
		}
	}
}

func (a *agentSocket) message(text string) map[string]any {
	return a.until(func(m map[string]any) bool {
		return m["type"] == "message" && m["data"].(map[string]any)["text"] == text
	})
}

// inChat evaluates JS against the chat widget's shadow root (as `r`).
func inChat[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](`(() => { const r = document.querySelector('[data-nudge=chat]').shadowRoot; `+js+` })()`))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitChat polls a condition on the chat widget.
func waitChat(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	for range 200 {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const h = document.querySelector('[data-nudge=chat]'); if (!h) return false; const r = h.shadowRoot; return !!(`+cond+`) })()`))
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("chat: %s (%s)", what, cond)
}

// openChat clicks the launcher, which a page view gets without the chat
// panel's code, and waits for the panel to load and open.
func openChat(t *testing.T, ctx context.Context) {
	t.Helper()
	waitFor(t, ctx, "the launcher appears", `document.querySelector('[data-nudge=launcher]')?.shadowRoot.querySelector('.l')`)
	if n := count(t, ctx, `document.querySelectorAll('script[src*="/w/chat."]').length`); n != 0 {
		t.Fatal("the chat panel's code loaded before the visitor asked for it")
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-nudge=launcher]').shadowRoot.querySelector('.l').click(), true`)); err != nil {
		t.Fatal(err)
	}
	waitChat(t, ctx, "the chat panel opens", `r.querySelector('.p').style.display == 'flex' && r.querySelector('textarea')`)
	waitFor(t, ctx, "the launcher module's button gives way", `!document.querySelector('[data-nudge=launcher]')`)
}

func count(t *testing.T, ctx context.Context, js string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

const bubbles = `[...r.querySelectorAll('.b span')].map(s => s.textContent)`

// writeFirst fills the demo's welcome (the first topic, a name where one is
// required) and sends the visitor's first message, which starts the chat.
func writeFirst(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	waitChat(t, ctx, "the welcome", `r.querySelector('.w')`)
	inChat[bool](t, ctx, `const s = r.querySelector('.w select'); if (s) s.value = s.options[1].value;
		for (const i of r.querySelectorAll('.w form input')) if (i.required && !i.value) i.value = i.type == 'email' ? 'vic@example.com' : 'Vic';
		const i = r.querySelector('textarea'); i.value = `+jsString(text)+`; r.querySelector('.in .send').click(); return true`)
}

// TestChatOnTheDemoShop: a visitor opens the chat on the demo shop, an agent
// takes it and answers (text that looks like HTML stays text, quick replies
// work), and the conversation continues after a reload and in a second tab,
// each message shown once.
func TestChatOnTheDemoShop(t *testing.T) {
	url := startServer(t)
	agent := connectAgent(t, url)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	openChat(t, ctx)
	writeFirst(t, ctx, "Hello, I need help with my bill")

	offer := agent.until(func(m map[string]any) bool { return m["type"] == "offer" })
	conv := offer["conversation"].(string)
	meta := offer["data"].(map[string]any)["conversation"].(map[string]any)["metadata"].(map[string]any)
	if !strings.HasSuffix(meta["page"].(map[string]any)["url"].(string), "/demo") {
		t.Fatalf("the agent sees the page: %v", meta)
	}
	agent.send(map[string]any{"type": "accept", "id": "a", "conversation": conv})
	// The message may have been stored before the agent accepted: it is in the history.
	agent.send(map[string]any{"type": "history", "id": "h1", "conversation": conv, "after": 0})
	agent.until(func(m map[string]any) bool {
		return (m["type"] == "message" && m["data"].(map[string]any)["text"] == "Hello, I need help with my bill") ||
			(m["type"] == "history_ok" && strings.Contains(fmt.Sprint(m["data"]), "Hello, I need help with my bill"))
	})
	agent.send(map[string]any{"type": "send", "id": "r1", "conversation": conv, "client_id": "r1", "text": `<img src=x onerror="document.title='pwned'"> Sure!`})
	agent.send(map[string]any{"type": "send", "id": "r2", "conversation": conv, "client_id": "r2", "kind": "rich",
		"payload": map[string]any{"type": "quick_replies", "options": []map[string]string{{"label": "Electricity", "value": "electricity"}, {"label": "Gas", "value": "gas"}}}})

	waitChat(t, ctx, "the reply shows as text", bubbles+`.some(s => s.includes('<img src=x'))`)
	if n := inChat[int](t, ctx, `return r.querySelectorAll('img').length`); n != 0 {
		t.Fatal("a message was rendered as HTML")
	}
	waitChat(t, ctx, "quick replies", `r.querySelector('.r button')`)
	inChat[bool](t, ctx, `[...r.querySelectorAll('.r button')].find(b => b.textContent == 'Gas').click(); return true`)
	agent.message("gas")
	screenshot(t, ctx, "chat")

	// A reload continues the conversation: the history comes back, once.
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitChat(t, ctx, "history after reload", bubbles+`.filter(s => s == 'gas').length == 1`)
	if got := inChat[int](t, ctx, `return `+bubbles+`.filter(s => s.startsWith('Hello, I need help')).length`); got != 1 {
		t.Fatalf("the visitor's first message shown %d times", got)
	}

	// A second tab follows the same conversation.
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(tab, chromedp.Navigate(url+"/demo/pricing")); err != nil {
		t.Fatal(err)
	}
	waitChat(t, tab, "history in the second tab", bubbles+`.includes('gas')`)
	agent.send(map[string]any{"type": "send", "id": "r3", "conversation": conv, "client_id": "r3", "text": "Your gas bill is on its way."})
	waitChat(t, tab, "live in the second tab", bubbles+`.includes('Your gas bill is on its way.')`)
	waitChat(t, ctx, "live in the first tab", bubbles+`.includes('Your gas bill is on its way.')`)

	// The same send again, not marked as a resend: the pages are shown it
	// while it commits, then it is retracted, before the next message.
	agent.send(map[string]any{"type": "send", "id": "r3b", "conversation": conv, "client_id": "r3", "text": "Your gas bill is on its way."})
	agent.until(func(m map[string]any) bool { return m["type"] == "ack" && m["id"] == "r3b" })
	agent.send(map[string]any{"type": "send", "id": "r4", "conversation": conv, "client_id": "r4", "text": "Anything else?"})
	for _, c := range []context.Context{ctx, tab} {
		waitChat(t, c, "the next message", bubbles+`.includes('Anything else?')`)
		if n := inChat[int](t, c, `return `+bubbles+`.filter(s => s == 'Your gas bill is on its way.').length`); n != 1 {
			t.Fatalf("the retracted resend left %d copies", n)
		}
	}
	cancel()

	// A page whose last message is not the server's (one shown while
	// committed and lost in a crash) gets the whole conversation instead.
	const stored = `Object.entries(localStorage).find(([k]) => k.startsWith('nudge_chat_log_'))`
	waitChat(t, ctx, "the page keeps the last message", stored+`?.[1].includes('Anything else?')`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const [k, v] = `+stored+`;
		const d = JSON.parse(v);
		Object.assign(d.m[d.m.length - 1], {id: '01PHANTOM', text: 'PHANTOM'});
		localStorage[k] = JSON.stringify(d);
		return true
	})()`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitChat(t, ctx, "the conversation again", bubbles+`.includes('Anything else?') && !`+bubbles+`.includes('PHANTOM')`)
	if n := inChat[int](t, ctx, `return `+bubbles+`.filter(s => s == 'gas').length`); n != 1 {
		t.Fatalf("after the reset the visitor's answer shows %d times", n)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`)); title == "pwned" {
		t.Fatal("script ran from a message")
	}
}

// TestAgentAnswersInTheConsole: a visitor writes on the demo shop; the demo
// owner, signed in to the console, gets the offer on the Chats page,
// accepts it, sees the message and the visitor's page, and answers; the
// visitor sees the answer.
func TestAgentAnswersInTheConsole(t *testing.T) {
	url := startServer(t)
	setAvatar(t, url)
	console := browser(t)
	// A person starts away; the status they choose holds across a reload.
	err := chromedp.Do(console, append(append(consoleLogin(url), goAvailable()...),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"] .dot.available`)))...)
	if err != nil {
		t.Fatal(err)
	}
	visitor, cancel := chromedp.NewContext(console)
	defer cancel()
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo/pricing")); err != nil {
		t.Fatal(err)
	}
	openChat(t, visitor)
	writeFirst(t, visitor, "Which plan fits a flat?")

	acceptOffer(t, console)
	if err := chromedp.Do(console, chromedp.WaitVisible(chromedp.CSS(`.chat-item.current`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the visitor's message in the console", `[...document.querySelectorAll('.msg .text')].some(e => e.textContent === 'Which plan fits a flat?')`)
	waitFor(t, console, "the visitor's page in the context", `document.querySelector('aside.context').textContent.includes('/demo/pricing')`)
	err = chromedp.Do(console,
		chromedp.SendKeys(chromedp.CSS(`textarea[aria-label="Reply"]`), "The Green plan: no exit fees."),
		chromedp.Click(chromedp.CSS(`.composer button[type=submit]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitChat(t, visitor, "the answer reaches the visitor", bubbles+`.includes('The Green plan: no exit fees.')`)
	waitChat(t, visitor, "the agent's name and picture", `[...r.querySelectorAll('.n')].some(n => n.textContent === 'Demo owner' && n.querySelector('img')?.src.includes('/avatars/') && n.querySelector('img').naturalWidth > 0)`)
	screenshot(t, visitor, "visitor-sees-agent")

	// The visitor sends a file; the agent sees it and can open it.
	file := filepath.Join(t.TempDir(), "meter-reading.txt")
	os.WriteFile(file, []byte("meter 12345 kWh\n"), 0o644)
	err = chromedp.Do(visitor, chromedp.SetUploadFiles(chromedp.JSPath(`document.querySelector('[data-nudge=chat]').shadowRoot.querySelector('input[type=file]')`),
		[]string{file}))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the file in the console", `[...document.querySelectorAll('.msg a.text')].some(a => a.textContent.includes('meter-reading.txt'))`)
	href, err := chromedp.Run(console, chromedp.Evaluate[string](`[...document.querySelectorAll('.msg a.text')].find(a => a.textContent.includes('meter-reading.txt')).href`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(console, chromedp.Evaluate[string](`fetch(`+strconv.Quote(href)+`).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil || got != "meter 12345 kWh\n" {
		t.Fatalf("the agent opens the file: %q %v", got, err)
	}
	waitChat(t, visitor, "the visitor sees the file too", `[...r.querySelectorAll('.b button')].some(b => b.textContent.includes('meter-reading.txt'))`)
	waitFor(t, console, "the answer in the console once", `[...document.querySelectorAll('.msg .text')].filter(e => e.textContent === 'The Green plan: no exit fees.').length === 1`)
	screenshot(t, console, "console-chat")

	// A client that sends again without marking the resend (here a socket
	// on the visitor's chat token): the console is shown it while it
	// commits, then it is retracted, before the next message.
	kept, err := chromedp.Run(visitor, chromedp.Evaluate[[]string](`Object.entries(localStorage).find(([k]) => /^nudge_chat_[^l]/.test(k))`))
	if err != nil || len(kept) != 2 {
		t.Fatalf("the chat token: %v %v", kept, err)
	}
	raw, _, err := fws.DefaultDialer.Dial(strings.Replace(url, "http", "ws", 1)+"/ws/visitor?site="+strings.TrimPrefix(kept[0], "nudge_chat_"), http.Header{"Origin": {url}})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	v := &agentSocket{t: t, c: raw}
	v.send(map[string]any{"type": "resume", "id": "h", "v": 1, "token": kept[1]})
	v.until(func(m map[string]any) bool { return m["type"] == "resume_ok" })
	for _, id := range []string{"x1", "x2"} {
		v.send(map[string]any{"type": "send", "id": id, "client_id": "x1", "text": "Is there a contract?"})
		v.until(func(m map[string]any) bool { return m["type"] == "ack" && m["id"] == id })
	}
	v.send(map[string]any{"type": "send", "id": "x3", "client_id": "x3", "text": "Thanks."})
	waitFor(t, console, "the next message", `[...document.querySelectorAll('.msg .text')].some(e => e.textContent === 'Thanks.')`)
	waitFor(t, console, "the resend retracted", `[...document.querySelectorAll('.msg .text')].filter(e => e.textContent === 'Is there a contract?').length === 1`)

	// The conversation is found by its words in Transcripts, and opens whole.
	err = chromedp.Do(console,
		chromedp.Click(chromedp.CSS(`nav a[href="/transcripts"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[aria-label="Words to find"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[aria-label="Words to find"]`), `"exit FEES"`),
		chromedp.Click(chromedp.CSS(`form[aria-label="Search transcripts"] button`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	// Indexing follows the commit by a moment: search again until it is in.
	waitFor(t, console, "the answer is found", `document.querySelector('.hits li .msg')?.textContent === 'The Green plan: no exit fees.' ||
		(document.querySelector('form[aria-label="Search transcripts"] button').click(), false)`)
	waitFor(t, console, "the words found are marked", `[...document.querySelectorAll('.hits li .msg mark')].map(m => m.textContent).join(',') === 'exit,fees'`)
	// Filters narrow the search: the chat is open, so none of it is closed.
	set(t, console, `form[aria-label="Search transcripts"] select[name="status"]`, "closed")
	set(t, console, `input[aria-label="Words to find"]`, "fee*")
	if err := chromedp.Do(console, chromedp.Click(chromedp.CSS(`form[aria-label="Search transcripts"] button[type="submit"]`))); err != nil {
		t.Fatal(err)
	}
	// Under load the click may search before the filters' new values are in: search again until they are.
	waitFor(t, console, "nothing closed", `(document.querySelector('.hits') === null && document.body.textContent.includes('matches these filters')) ||
		(document.querySelector('form[aria-label="Search transcripts"] button[type="submit"]').click(), false)`)
	set(t, console, `form[aria-label="Search transcripts"] select[name="status"]`, "open")
	if err := chromedp.Do(console, chromedp.Click(chromedp.CSS(`form[aria-label="Search transcripts"] button[type="submit"]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the open chat, by a prefix", `[...document.querySelectorAll('.hits li .msg mark')].some(m => m.textContent === 'fees') ||
		(document.querySelector('form[aria-label="Search transcripts"] button[type="submit"]').click(), false)`)
	if err := chromedp.Do(console, chromedp.Click(chromedp.CSS(`.hits li button`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, console, "the transcript opens", `[...document.querySelectorAll('article.transcript .msg .text')].some(e => e.textContent === 'Which plan fits a flat?')`)
	screenshot(t, console, "console-transcripts")
}

// TestAMessageLostWithTheServerIsTakenBack: the console and the visitor's
// page are shown the agent's answer while it commits; the server stops and
// the answer is not stored, as a crash between the two would leave it. Once
// both have reconnected neither shows it, and the chat goes on.
func TestAMessageLostWithTheServerIsTakenBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, dir := ln.Addr().String(), t.TempDir()
	url, stop := serveOn(t, ln, dir)
	console, visitor := acceptedChat(t, url, "Is my order on its way?")
	err = chromedp.Do(console,
		chromedp.WaitVisible(chromedp.CSS(`.chat-item.current`)),
		chromedp.SendKeys(chromedp.CSS(`textarea[aria-label="Reply"]`), "It left this morning."),
		chromedp.Click(chromedp.CSS(`.composer button[type=submit]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	const texts = `[...document.querySelectorAll('.msg .text')].map(e => e.textContent)`
	waitChat(t, visitor, "the answer on the page", bubbles+`.includes('It left this morning.')`)
	waitFor(t, console, "the answer in the console", texts+`.includes('It left this morning.')`)

	// What the page sends, to see how it sends again after the restart.
	var mu sync.Mutex
	var sent []string
	if err := chromedp.Listen(visitor, func(ev any) {
		if f, ok := ev.(*network.EventWebSocketFrameSent); ok {
			mu.Lock()
			sent = append(sent, string(f.Response.PayloadData))
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}

	stop()
	// The visitor writes while the server is away: the page keeps the
	// message and sends it once reconnected, marked as a resend (it cannot
	// know whether a send before the stop was stored).
	inChat[bool](t, visitor, `const i = r.querySelector('textarea'); i.value = 'Hello?'; r.querySelector('.in .send').click(); return true`)
	cfg := server.DefaultConfig()
	cfg.DataDir = dir
	db, err := sql.Open("sqlite", cfg.DatabasePath())
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`DELETE FROM messages WHERE sender_kind = 'agent'`)
	db.Close()
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("take the answer out: %v, %d rows", err, n)
	}
	if ln, err = net.Listen("tcp", addr); err != nil {
		t.Fatal(err)
	}
	serveOn(t, ln, dir)

	// Both reconnect on their own, after a back-off of a few seconds.
	for _, w := range []struct {
		ctx        context.Context
		what, cond string
	}{
		{visitor, "the page without the lost answer", `(() => { const h = document.querySelector('[data-nudge=chat]'); if (!h) return false; const r = h.shadowRoot, b = ` + bubbles + `; return b.includes('Is my order on its way?') && !b.includes('It left this morning.') })()`},
		{console, "the console without the lost answer", texts + `.includes('Is my order on its way?') && !` + texts + `.includes('It left this morning.')`},
	} {
		waitLong(t, w.ctx, w.what, w.cond, "")
	}
	waitFor(t, console, "the visitor's message written meanwhile, once", texts+`.filter(s => s == 'Hello?').length == 1`)
	mu.Lock()
	marked := slices.ContainsFunc(sent, func(f string) bool {
		return strings.Contains(f, `"type":"send"`) && strings.Contains(f, `"resend":true`) && strings.Contains(f, `"text":"Hello?"`)
	})
	mu.Unlock()
	if !marked {
		t.Fatalf("the page sent the kept message without marking it a resend: %q", sent)
	}
	err = chromedp.Do(console,
		chromedp.SendKeys(chromedp.CSS(`textarea[aria-label="Reply"]`), "Sorry: it left this morning."),
		chromedp.Click(chromedp.CSS(`.composer button[type=submit]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitChat(t, visitor, "the answer sent again", bubbles+`.includes('Sorry: it left this morning.')`)
	waitFor(t, console, "in the console once", texts+`.filter(s => s == 'Sorry: it left this morning.').length == 1`)
}

// While the database does not answer, the visitor's message is refused
// "busy": the page keeps it, faded, and sends it again by itself; once the
// database is back it is stored once and reaches the agent.
func TestAMessageRefusedWhileTheDatabaseIsAwayIsSentAgain(t *testing.T) {
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	db := pg.Database(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveWith(t, ln, t.TempDir(), func(c *server.Config) { c.DatabaseURL = db })
	console, visitor := acceptedChat(t, url, "Is my order on its way?")
	const texts = `[...document.querySelectorAll('.msg .text')].map(e => e.textContent)`
	waitFor(t, console, "the first message in the console", texts+`.includes('Is my order on its way?')`)

	visitorBusy := heard(t, visitor, `"code":"busy"`)
	pg.Down()
	inChat[bool](t, visitor, `const i = r.querySelector('textarea'); i.value = 'Still there?'; r.querySelector('.in .send').click(); return true`)
	waitHeard(t, visitorBusy, "the send refused busy while the database is away")
	const waiting = `[...r.querySelectorAll('.b.wait span')].map(s => s.textContent)`
	waitChat(t, visitor, "the refused message kept, faded", waiting+`.includes('Still there?')`)
	if err := pg.Up(); err != nil {
		t.Fatal(err)
	}
	// The page's next try comes after a back-off of seconds.
	waitLong(t, console, "the kept message in the console, once", texts+`.filter(s => s == 'Still there?').length == 1`, "")
	waitChat(t, visitor, "the message acknowledged, once", `!`+waiting+`.includes('Still there?') && `+bubbles+`.filter(s => s == 'Still there?').length == 1`)

	// The agent's answer, the same: kept by the console and sent again.
	agentBusy := heard(t, console, `"code":"busy"`)
	pg.Down()
	err = chromedp.Do(console,
		chromedp.SendKeys(chromedp.CSS(`textarea[aria-label="Reply"]`), "Yes, still here."),
		chromedp.Click(chromedp.CSS(`.composer button[type=submit]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitHeard(t, agentBusy, "the agent's send refused busy while the database is away")
	waitFor(t, console, "the console says the answer is not sent yet", `document.body.textContent.includes('It will go again by itself.')`)
	if err := pg.Up(); err != nil {
		t.Fatal(err)
	}
	waitLong(t, visitor, "the agent's kept answer on the page, once", `(() => { const r = document.querySelector('[data-nudge=chat]').shadowRoot; return `+bubbles+`.filter(s => s == 'Yes, still here.').length == 1 })()`, "")
	waitFor(t, console, "the answer in the console once, the note gone", texts+`.filter(s => s == 'Yes, still here.').length == 1 && !document.body.textContent.includes('It will go again by itself.')`)
}

// acceptedChat signs the demo owner in to the console, available, opens the
// demo shop in another tab of the same browser, writes first in its chat
// and accepts the offer in the console.
func acceptedChat(t *testing.T, url, first string) (console, visitor context.Context) {
	t.Helper()
	console = browser(t)
	if err := chromedp.Do(console, append(consoleLogin(url), goAvailable()...)...); err != nil {
		t.Fatal(err)
	}
	visitor, cancel := chromedp.NewContext(console)
	t.Cleanup(cancel)
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	openChat(t, visitor)
	writeFirst(t, visitor, first)
	acceptOffer(t, console)
	return console, visitor
}

// heard is closed once the tab of ctx receives a WebSocket frame that holds
// want.
func heard(t *testing.T, ctx context.Context, want string) <-chan struct{} {
	t.Helper()
	ch := make(chan struct{})
	var once sync.Once
	if err := chromedp.Listen(ctx, func(ev any) {
		if f, ok := ev.(*network.EventWebSocketFrameReceived); ok && strings.Contains(string(f.Response.PayloadData), want) {
			once.Do(func() { close(ch) })
		}
	}); err != nil {
		t.Fatal(err)
	}
	return ch
}

// waitHeard waits for what heard listens for, up to a minute.
func waitHeard(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatal(what + ": not within a minute")
	}
}

// acceptOffer clicks the offer's accept button until the offer has gone:
// under load the list may redraw between finding the button and the click,
// which then misses (and the offer times out).
func acceptOffer(t *testing.T, ctx context.Context) {
	t.Helper()
	waitFor(t, ctx, "an offer", `document.querySelector('.offer button')`)
	for range 20 {
		chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('.offer button')?.click(), true`))
		for range 60 {
			if gone, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.querySelector('.offer button')`)); err == nil && gone {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Fatal("the offer stays after clicking accept")
}

// waitFor polls a JS condition on the page.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	for range 200 {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`)); err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
	t.Fatalf("%s (%s); the page says:\n%s", what, cond, page)
}

// TestChatSetupInTheConsole: the owner adds a queue, a canned response and
// a webhook from the console; an agent's capacity changes in place.
func TestChatSetupInTheConsole(t *testing.T) {
	url := startServer(t)
	ctx := browser(t)
	err := chromedp.Do(ctx, append(consoleLogin(url),
		chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"]`)),
		chromedp.Click(chromedp.CSS(`nav a[href="/setup"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#queue-name`)),
		chromedp.SendKeys(chromedp.CSS(`#queue-name`), "Billing"))...)
	if err != nil {
		t.Fatal(err)
	}
	set(t, ctx, `#queue-routing`, "least_busy")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[aria-label="New queue"] button`)),
		chromedp.SendKeys(chromedp.CSS(`#canned-shortcut`), "thanks"),
		chromedp.SendKeys(chromedp.CSS(`#canned-text`), "Thank you, {{visitor.name}}!"),
		chromedp.Click(chromedp.CSS(`form[aria-label="New canned response"] button`)),
		chromedp.SendKeys(chromedp.CSS(`#hook-url`), "https://hooks.example.com/nudge"),
		chromedp.Click(chromedp.CSS(`form[aria-label="New webhook"] button`)))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the queue is listed", `document.querySelector('section[aria-labelledby="h-Queues"] table').textContent.includes('least_busy')`)
	waitFor(t, ctx, "the canned response is listed", `document.querySelector('section[aria-labelledby="h-Canned responses"] table').textContent.includes('/thanks')`)
	waitFor(t, ctx, "the webhook's secret is shown once", `document.querySelector('section[aria-labelledby="h-Webhooks"] .notice').textContent.includes('whsec_')`)
	api := owner(t, url)
	if qs := api("/api/queues")["items"].([]any); len(qs) != 3 {
		t.Fatalf("queues: %v", qs)
	}
	screenshot(t, ctx, "chat-setup")

	// An agent's skills with a rating, and a canned response edited in place.
	err = chromedp.Do(ctx,
		chromedp.Click(`//section[@aria-labelledby="h-Agents"]//button[text()="Edit"]`),
		chromedp.WaitVisible(chromedp.CSS(`input[aria-label^="Skills of"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[aria-label^="Skills of"]`), "billing:8, french:3"),
		chromedp.Click(`//tr[@class="editing"]//button[text()="Save"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the skills are saved", `document.querySelector('section[aria-labelledby="h-Agents"] table').textContent.includes('billing 8, french 3')`)
	err = chromedp.Do(ctx,
		chromedp.Click(`//section[@aria-labelledby="h-Canned responses"]//tr[td[contains(., "/thanks")]]//button[text()="Edit"]`),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Edit canned response"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	set(t, ctx, `#canned-text`, "Many thanks, {{visitor.name}}!")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[aria-label="Edit canned response"] button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the canned response is changed", `document.querySelector('section[aria-labelledby="h-Canned responses"] table').textContent.includes('Many thanks')`)

	// Business hours: the General queue (where the demo's "My bill" topic
	// leads) is open on no day now; with an agent available, a visitor who
	// writes about their bill is offered the offline form.
	connectAgent(t, url)
	err = chromedp.Do(ctx,
		chromedp.Click(`//tr[td[text()="General"]]//button[text()="Edit"]`),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Edit queue General"]`)),
		chromedp.Click(`//form[@aria-label="Edit queue General"]//fieldset//label[contains(., "Open only")]/input`),
		chromedp.WaitVisible(chromedp.CSS(`table[aria-label="Opening hours"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`input[aria-label="Open on `+d+`"]`))); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[aria-label="Edit queue General"] button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the queue has hours", `[...document.querySelectorAll('section[aria-labelledby="h-Queues"] tr')].some(r => r.textContent.includes('General') && r.textContent.includes('set (UTC)'))`)
	// Saving the chat settings says so, and the form keeps what was saved.
	if err := chromedp.Do(ctx, chromedp.Click(`//button[text()="Save the settings"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "Saved.", `[...document.querySelectorAll('.notice[role=status]')].some(n => n.textContent.trim() === 'Saved.')`)
	visitor, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(visitor, chromedp.Navigate(url+"/demo")); err != nil {
		t.Fatal(err)
	}
	openChat(t, visitor)
	writeFirst(t, visitor, "Are you there?")
	waitChat(t, visitor, "the offline form", `r.querySelector('.f button')?.textContent === 'Leave a message'`)
}

// consoleLogin logs the demo owner in to the console: steps for chromedp.Do.
func consoleLogin(url string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(url + "/"),
		chromedp.WaitVisible(chromedp.CSS("#login-email")),
		chromedp.SendKeys(chromedp.CSS("#login-email"), "admin@localhost"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), demoPassword),
		chromedp.Click(chromedp.CSS(`form[aria-label="Log in"] button`)),
	}
}

// goAvailable makes the console's person available: everyone starts away.
func goAvailable() []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"] .dot.away`)),
		chromedp.Click(chromedp.CSS(`.presence button.link`)),
		chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"] .dot.available`)),
	}
}

// onePixelPNG is a small picture (8×8).
func onePixelPNG() []byte {
	png, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP4z8CAFWEXHbQSACj/P8Fu7N9hAAAAAElFTkSuQmCC")
	return png
}

// setAvatar gives the demo owner a picture, as the Account page does.
func setAvatar(t *testing.T, url string) {
	t.Helper()
	res, err := http.Post(url+"/api/auth/login", "application/json", strings.NewReader(`{"email":"admin@localhost","password":"`+demoPassword+`"}`))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login: %v %v", res, err)
	}
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	json.NewDecoder(res.Body).Decode(&login)
	png := onePixelPNG()
	req, _ := http.NewRequest("PUT", url+"/api/me/avatar", bytes.NewReader(png))
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("Cookie", strings.Split(res.Header.Get("Set-Cookie"), ";")[0])
	req.Header.Set("X-CSRF-Token", login.CSRF)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
		t.Fatalf("avatar: %v %v", r, err)
	}
}
