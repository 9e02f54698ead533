package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/store"
)

// chatFixture is a tenant with a site, a queue and a user per role.
type chatFixture struct {
	h     *harness
	tn    store.Tenant
	users map[string]store.User
	site  store.Site
	queue string
}

func newChatFixture(h *harness, name string) *chatFixture {
	h.t.Helper()
	ctx := context.Background()
	tn, users := h.tenant(name)
	site, err := h.st.CreateSite(ctx, store.System, store.Site{TenantID: tn.ID, Name: name + " shop", Key: strings.ToLower(name) + "-shop",
		AllowedOrigins: []string{shopOrigin}, Theme: store.DefaultSiteTheme})
	if err != nil {
		h.t.Fatal(err)
	}
	q, err := h.st.CreateQueue(ctx, store.System, store.Queue{TenantID: tn.ID, Name: "Sales", Config: json.RawMessage(`{}`)})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.srv.ops.ReloadChat(ctx, tn.ID); err != nil {
		h.t.Fatal(err)
	}
	return &chatFixture{h: h, tn: tn, users: users, site: site, queue: q.ID}
}

type wsClient struct {
	t testing.TB
	c *fws.Conn
	// side is the socket's prefix of its frame schemas: Visitor or Agent.
	side string
}

func (h *harness) dial(path string, hdr http.Header) (*wsClient, *http.Response, error) {
	c, res, err := fws.DefaultDialer.Dial("ws://"+h.listen()+path, hdr)
	if err != nil {
		return nil, res, err
	}
	h.t.Cleanup(func() { c.Close() })
	side := "Agent"
	if strings.HasPrefix(path, "/ws/visitor") {
		side = "Visitor"
	}
	return &wsClient{t: h.t, c: c, side: side}, res, nil
}

func originHeader(o string) http.Header { return http.Header{"Origin": {o}} }

// visitor opens a visitor socket and starts (or resumes, with token) a conversation.
func (f *chatFixture) visitor(token string, after int64) (*wsClient, map[string]any) {
	f.h.t.Helper()
	w, res, err := f.h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
	if err != nil {
		f.h.t.Fatalf("dial: %v %v", err, res)
	}
	if token == "" {
		w.send(map[string]any{"type": "start", "id": "h", "v": 1, "visitor": "visitor-1", "meta": map[string]any{"page": map[string]string{"url": "https://shop.test/cart"}}})
	} else {
		w.send(map[string]any{"type": "resume", "id": "h", "token": token, "after": after})
	}
	hello := w.next()
	if hello["type"] != "start_ok" && hello["type"] != "resume_ok" {
		f.h.t.Fatalf("hello: %v", hello)
	}
	return w, hello["data"].(map[string]any)
}

// agent opens an agent socket with a console session.
func (f *chatFixture) agent(role string) (*wsClient, map[string]any) {
	f.h.t.Helper()
	c := f.h.login(f.users[role].Email, "password-"+role)
	hdr := originHeader(f.h.srv.cfg.PublicURL)
	hdr.Set("Cookie", c.cookie)
	w, res, err := f.h.dial("/ws/agent?tenant="+f.tn.ID, hdr)
	if err != nil {
		f.h.t.Fatalf("dial agent: %v %v", err, res)
	}
	w.send(map[string]any{"type": "hello", "id": "h", "status": "available"})
	hello := w.next()
	if hello["type"] != "hello_ok" {
		f.h.t.Fatalf("agent hello: %v", hello)
	}
	return w, hello["data"].(map[string]any)
}

// acceptedChat opens a visitor's chat and has the agent accept it.
func (f *chatFixture) acceptedChat() (agent, visitor *wsClient, conv string) {
	f.h.t.Helper()
	agent, _ = f.agent("agent")
	visitor, start := f.visitor("", 0)
	conv = start["conversation"].(map[string]any)["id"].(string)
	agent.accept(conv)
	return agent, visitor, conv
}

// accept waits for the offer of conv and accepts it.
func (w *wsClient) accept(conv string) {
	w.t.Helper()
	w.until("offer", typed("offer", ""))
	w.send(map[string]any{"type": "accept", "id": "a", "conversation": conv})
	w.until("accepted", typed("accept_ok", "a"))
}

// send writes a command, which must be one the protocol's schema describes
// (a test of bad input writes its frame itself).
func (w *wsClient) send(v any) {
	w.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		w.t.Fatal(err)
	}
	if msg := checkFrame(w.side+"Command", b); msg != "" {
		w.t.Fatal(msg)
	}
	if err := w.c.WriteMessage(fws.TextMessage, b); err != nil {
		w.t.Fatal(err)
	}
}

// sendAsIs writes a frame the schema does not describe: a test of what the
// server does with fields it ignores or refuses.
func (w *wsClient) sendAsIs(v any) {
	w.t.Helper()
	if err := w.c.WriteJSON(v); err != nil {
		w.t.Fatal(err)
	}
}

// next reads a frame and checks it against the protocol's schema.
func (w *wsClient) next() map[string]any {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := w.c.ReadMessage()
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	if msg := checkFrame(w.side+"Frame", b); msg != "" {
		w.t.Error(msg)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return m
}

// until reads frames until one matches.
func (w *wsClient) until(what string, match func(map[string]any) bool) map[string]any {
	w.t.Helper()
	for range 200 {
		if m := w.next(); match(m) {
			return m
		}
	}
	w.t.Fatalf("no frame: %s", what)
	return nil
}

func typed(typ, id string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == typ && (id == "" || m["id"] == id) }
}

func messageText(m map[string]any) string {
	if m["type"] != "message" {
		return ""
	}
	return m["data"].(map[string]any)["text"].(string)
}

// closeCode reads until the server closes and returns its close code.
func (w *wsClient) closeCode() int {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := w.c.ReadMessage()
		var ce *fws.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			w.t.Fatalf("read ended without a close frame: %v", err)
		}
	}
}

func TestChatOverWebSockets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	agent, hello := f.agent("agent")
	if hello["me"].(map[string]any)["id"] != f.users["agent"].ID {
		t.Fatalf("hello: %v", hello)
	}
	v, start := f.visitor("", 0)
	token := start["token"].(string)
	conv := start["conversation"].(map[string]any)["id"].(string)

	offer := agent.until("offer", typed("offer", ""))
	if offer["conversation"] != conv {
		t.Fatalf("offer: %v", offer)
	}
	meta := offer["data"].(map[string]any)["conversation"].(map[string]any)["metadata"].(map[string]any)
	if meta["page"].(map[string]any)["url"] != "https://shop.test/cart" || meta["device"] == nil {
		t.Fatalf("the agent sees the visitor's context: %v", meta)
	}
	agent.send(map[string]any{"type": "accept", "id": "a1", "conversation": conv})
	agent.until("accept ok", typed("accept_ok", "a1"))
	v.until("agent joined", func(m map[string]any) bool { return strings.Contains(messageText(m), "joined the chat") })

	v.send(map[string]any{"type": "send", "id": "s1", "client_id": "c1", "text": "Hello 👋 card 4111 1111 1111 1111"})
	ack := v.until("ack", typed("ack", "s1"))
	seq := ack["data"].(map[string]any)["seq"].(float64)
	got := agent.until("visitor message", func(m map[string]any) bool { return strings.HasPrefix(messageText(m), "Hello") })
	if text := messageText(got); strings.Contains(text, "4111") || !strings.Contains(text, "👋") {
		t.Fatalf("the agent gets the masked text: %q", text)
	}
	// A resend with the same client id returns the original. Unmarked, the
	// agent is shown it while it commits, then it is taken back; marked
	// (the client knows it resends), the agent sees nothing of it.
	v.send(map[string]any{"type": "send", "id": "s2", "client_id": "c1", "text": "Hello 👋 card 4111 1111 1111 1111"})
	if again := v.until("ack", typed("ack", "s2")); again["data"].(map[string]any)["seq"].(float64) != seq {
		t.Fatalf("resend: %v", again)
	}
	shownAgain := agent.until("the resend shown", typed("message", ""))["data"].(map[string]any)
	retracted := agent.until("the resend retracted", typed("retracted", ""))["data"].(map[string]any)
	if shownAgain["seq"].(float64) <= seq || retracted["seq"] != shownAgain["seq"] || retracted["id"] != shownAgain["id"] {
		t.Fatalf("resend shown as %v, retracted %v", shownAgain, retracted)
	}
	v.send(map[string]any{"type": "send", "id": "s3", "client_id": "c1", "resend": true, "text": "Hello 👋 card 4111 1111 1111 1111"})
	if again := v.until("ack", typed("ack", "s3")); again["data"].(map[string]any)["seq"].(float64) != seq {
		t.Fatalf("marked resend: %v", again)
	}
	v.send(map[string]any{"type": "send", "id": "s4", "client_id": "c2", "text": "and then"})
	v.until("ack", typed("ack", "s4"))
	for {
		m := agent.next()
		if m["type"] == "retracted" || (m["type"] == "message" && messageText(m) != "and then") {
			t.Fatalf("the agent got %v of a marked resend", m)
		}
		if messageText(m) == "and then" {
			break
		}
	}
	agent.send(map[string]any{"type": "typing", "conversation": conv, "on": true})
	v.until("typing", typed("typing", ""))
	agent.send(map[string]any{"type": "send", "id": "r1", "conversation": conv, "client_id": "a-1", "text": "Hi! How can I help?"})
	agent.until("ack", typed("ack", "r1"))
	agent.send(map[string]any{"type": "send", "id": "r2", "conversation": conv, "client_id": "a-2", "text": "note to self", "internal": true})
	agent.until("ack", typed("ack", "r2"))
	agent.send(map[string]any{"type": "send", "id": "r3", "conversation": conv, "client_id": "a-3", "kind": "rich",
		"payload": map[string]any{"type": "quick_replies", "options": []map[string]string{{"label": "Yes", "value": "yes"}, {"label": "No", "value": "no"}}}})
	agent.until("ack", typed("ack", "r3"))
	v.until("reply", func(m map[string]any) bool { return messageText(m) == "Hi! How can I help?" })
	v.c.Close()

	// The visitor comes back (another tab, a reload): resume from the last
	// seq seen gives what came after, once, in order, without the note.
	v2, resumed := f.visitor(token, int64(seq))
	var texts []string
	for _, m := range resumed["messages"].([]any) {
		texts = append(texts, m.(map[string]any)["text"].(string))
		if s := m.(map[string]any)["seq"].(float64); s <= seq {
			t.Fatalf("resume sent seq %v again", s)
		}
	}
	if len(texts) != 3 || texts[0] != "and then" || texts[1] != "Hi! How can I help?" || texts[2] != "" || resumed["reset"] != nil {
		t.Fatalf("resumed: %q %v", texts, resumed["reset"])
	}
	// With the id of the message at after: the same when it is the stored
	// one; the whole conversation, reset, when it is not (a message the page
	// was shown while committed, then lost).
	resume := func(after float64, id string) map[string]any {
		w, _, err := f.h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
		if err != nil {
			t.Fatal(err)
		}
		defer w.c.Close()
		w.send(map[string]any{"type": "resume", "id": "h", "token": token, "after": after, "after_id": id})
		return w.until("resumed", typed("resume_ok", "h"))["data"].(map[string]any)
	}
	if d := resume(seq, ack["data"].(map[string]any)["id"].(string)); d["reset"] != nil || len(d["messages"].([]any)) != 3 {
		t.Fatalf("resume with the right id: %v", d)
	}
	for _, tc := range []struct {
		after float64
		id    string
	}{{seq, "01ANOTHERID"}, {seq + 100, "01NOTSTORED"}} {
		d := resume(tc.after, tc.id)
		ms := d["messages"].([]any)
		if d["reset"] != true || len(ms) < 5 || ms[0].(map[string]any)["seq"].(float64) != 1 {
			t.Fatalf("resume after %v with id %s: %v; want the whole conversation, reset", tc.after, tc.id, d)
		}
	}
	v2.send(map[string]any{"type": "close", "id": "x"})
	v2.until("close ok", typed("close_ok", "x"))
	agent.until("removed", typed("removed", ""))
	h.srv.chat.Flush()
	c, _ := h.st.Conversation(context.Background(), f.tn.ID, conv)
	if c.Status != chat.StatusClosed || c.CloseReason != "visitor" {
		t.Fatalf("closed by the visitor: %+v", c)
	}
}

func TestVisitorSocketRefusesBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	other := newChatFixture(h, "Other")

	for name, tc := range map[string]struct {
		path   string
		origin string
		status int
	}{
		"wrong origin":            {"/ws/visitor?site=" + f.site.Key, "https://evil.test", 403},
		"no origin, unknown site": {"/ws/visitor?site=nope", "", 404},
		"unknown site":            {"/ws/visitor?site=nope", shopOrigin, 404},
		"no site":                 {"/ws/visitor", shopOrigin, 404},
		"wrong method?":           {"/ws/visitor?site=" + f.site.Key + "&x", shopOrigin, 0},
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		_, res, err := h.dial(tc.path, hdr)
		if tc.status == 0 {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || res == nil || res.StatusCode != tc.status {
			t.Errorf("%s: want %d, got %v %v", name, tc.status, res, err)
		}
	}
	if res := h.do(h.anonymous().request("GET", "/ws/visitor?site="+f.site.Key, nil)); res.Status != 426 {
		t.Fatalf("a plain GET: %d", res.Status)
	}

	f.agent("agent") // signed in: the chat waits in the queue instead of going offline
	v, start := f.visitor("", 0)
	token := start["token"].(string)
	before := h.snapshot()
	for name, frame := range map[string]string{
		"malformed":         `{"type":`,
		"unknown field":     `{"type":"send","text":"x","admin":true}`,
		"two objects":       `{"type":"ping"}{"type":"ping"}`,
		"a name twice":      `{"type":"send","text":"x","text":"y"}`,
		"no type":           `{"text":"x"}`,
		"unknown type":      `{"type":"transfer","queue":"x"}`,
		"invalid UTF-8":     "{\"type\":\"send\",\"text\":\"\xff\"}",
		"empty text":        `{"type":"send","text":"   "}`,
		"too long":          `{"type":"send","text":"` + strings.Repeat("x", chat.MaxText+1) + `"}`,
		"agent kind":        `{"type":"send","kind":"system","text":"fake"}`,
		"bad rating":        `{"type":"rate","score":9}`,
		"form when online":  `{"type":"leave_message","email":"a@b.c","text":"x"}`,
		"resend not a bool": `{"type":"send","text":"x","resend":"yes"}`,
		"long after_id":     `{"type":"history","after":1,"after_id":"` + strings.Repeat("x", 65) + `"}`,
	} {
		if err := v.c.WriteMessage(fws.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		if m := v.until("error", typed("error", "")); m["code"] == "" || m["message"] == "" {
			t.Errorf("%s: %v", name, m)
		}
	}
	h.unchanged(before, "bad frames")
	v.send(map[string]any{"type": "ping", "id": "p"})
	v.until("still open", typed("ping_ok", "p"))

	// Oversized frames close the connection with 1009.
	v.c.WriteMessage(fws.TextMessage, []byte(`{"type":"send","text":"`+strings.Repeat("x", 20000)+`"}`))
	if code := v.closeCode(); code != fws.CloseMessageTooBig {
		t.Fatalf("oversized: close %d", code)
	}

	// A forged token, or one of another site, opens nothing.
	for name, tok := range map[string]string{
		"forged":     strings.Split(token, ".")[0] + ".AAAA",
		"garbage":    "x",
		"other site": token,
	} {
		site := f.site.Key
		if name == "other site" {
			site = other.site.Key
		}
		hdr := originHeader(shopOrigin)
		w, _, err := h.dial("/ws/visitor?site="+site, hdr)
		if err != nil {
			t.Fatal(err)
		}
		w.send(map[string]any{"type": "resume", "token": tok})
		if m := w.next(); m["code"] != "token" {
			t.Errorf("%s: %v", name, m)
		}
		if code := w.closeCode(); code != fws.ClosePolicyViolation {
			t.Errorf("%s: close %d", name, code)
		}
	}
	// The first frame must open a conversation.
	w, _, _ := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
	w.send(map[string]any{"type": "send", "text": "hi"})
	if m := w.next(); m["code"] != "hello" {
		t.Fatalf("first frame: %v", m)
	}
	w, _, _ = h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
	w.send(map[string]any{"type": "start", "v": 99, "visitor": "v"})
	if code := w.closeCode(); code != fws.ClosePolicyViolation {
		t.Fatalf("unknown protocol version: %d", code)
	}
}

// Bad first frames are answered like any frame, and the first-frame limit
// holds however many of them come: a socket that never starts is closed.
func TestVisitorSocketAnswersBadFirstFrames(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	w, _, err := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
	if err != nil {
		t.Fatal(err)
	}
	for _, frame := range []string{`{"type":`, `garbage`, "{\"type\":\"start\",\"visitor\":\"\xff\"}", `{"type":"start","visitor":"v","admin":true}`} {
		if err := w.c.WriteMessage(fws.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		if m := w.next(); m["type"] != "error" || m["code"] != "malformed" || m["message"] == "" {
			t.Fatalf("%q: %v", frame, m)
		}
	}
	if err := w.c.WriteMessage(fws.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if m := w.next(); m["code"] != "malformed" {
		t.Fatalf("a binary first frame: %v", m)
	}
	// Garbage now and then does not keep the socket open without a start.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
				w.c.WriteMessage(fws.TextMessage, []byte(`{"type":`))
			}
		}
	}()
	w.c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	for {
		_, _, err := w.c.ReadMessage()
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("bad frames kept a socket open that never started")
		}
		break // the server closed it: the first-frame limit held
	}
}

func TestVisitorRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	v, _ := f.visitor("", 0)
	limited := false
	for i := range 60 {
		v.send(map[string]any{"type": "ping", "id": fmt.Sprint(i)})
	}
	for range 60 {
		if m := v.next(); m["code"] == "rate_limited" {
			limited = true
			if id, _ := m["id"].(string); id == "" {
				t.Errorf("a rate_limited error names no command: %v", m)
			}
			break
		}
	}
	if !limited {
		t.Fatal("60 frames at once exceed the burst")
	}
	// A dropped command without an id is named by its type.
	w, _ := f.visitor("", 0)
	for range 60 {
		w.send(map[string]any{"type": "typing", "text": "hel"})
	}
	w.until("a rate_limited naming the type", func(m map[string]any) bool {
		return m["code"] == "rate_limited" && strings.Contains(m["message"].(string), "a typing was dropped")
	})
}

func TestAgentSocketAuthorization(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	b := newChatFixture(h, "Beta")
	for _, role := range []string{"owner", "admin", "supervisor", "agent"} {
		w, hello := f.agent(role)
		if hello["me"].(map[string]any)["supervise"] != (role != "agent") {
			t.Errorf("%s: %v", role, hello)
		}
		w.c.Close()
	}
	console := originHeader(h.srv.cfg.PublicURL)
	dial := func(role string, hdr http.Header, query string) *http.Response {
		c := h.login(f.users[role].Email, "password-"+role)
		hdr = hdr.Clone()
		hdr.Set("Cookie", c.cookie)
		_, res, err := h.dial("/ws/agent"+query, hdr)
		if err == nil {
			return &http.Response{StatusCode: 101}
		}
		return res
	}
	if res := dial("marketer", console, ""); res.StatusCode != 403 {
		t.Errorf("marketer: %d", res.StatusCode)
	}
	if res := dial("agent", originHeader("https://evil.test"), ""); res.StatusCode != 403 {
		t.Errorf("cross-site WebSocket hijacking: %d", res.StatusCode)
	}
	if res := dial("agent", http.Header{}, ""); res.StatusCode != 403 {
		t.Errorf("a session cookie without an Origin: %d", res.StatusCode)
	}
	if res := dial("agent", console, "?tenant="+b.tn.ID); res.StatusCode != 404 {
		t.Errorf("another tenant: %d", res.StatusCode)
	}
	if _, res, err := h.dial("/ws/agent", console); err == nil || res.StatusCode != 401 {
		t.Errorf("anonymous: %v", res)
	}

	// A bot's API token speaks the same protocol.
	secret, _, err := h.srv.auth.CreateToken(context.Background(), store.System, f.tn.ID, "Helper bot", "bot", nil)
	if err != nil {
		t.Fatal(err)
	}
	bot, _, err := h.dial("/ws/agent", http.Header{"Authorization": {"Bearer " + secret}})
	if err != nil {
		t.Fatal(err)
	}
	bot.send(map[string]any{"type": "hello", "id": "h"})
	if m := bot.next(); m["type"] != "hello_ok" || m["data"].(map[string]any)["me"].(map[string]any)["bot"] != true {
		t.Fatalf("bot hello: %v", m)
	}

	// Tenant B's agent cannot touch tenant A's conversation, whatever it tries.
	_, start := f.visitor("", 0)
	conv := start["conversation"].(map[string]any)["id"].(string)
	bAgent, _ := b.agent("supervisor")
	before := h.snapshot()
	for _, cmd := range []string{"accept", "history", "context", "monitor", "close", "hold", "leave", "barge"} {
		bAgent.send(map[string]any{"type": cmd, "id": cmd, "conversation": conv})
		if m := bAgent.until(cmd, typed("error", cmd)); m["code"] != "not_found" {
			t.Errorf("%s on another tenant's conversation: %v", cmd, m)
		}
	}
	bAgent.send(map[string]any{"type": "send", "id": "s", "conversation": conv, "text": "hi"})
	if m := bAgent.until("send", typed("error", "s")); m["code"] != "not_found" {
		t.Errorf("send: %v", m)
	}
	h.unchanged(before, "foreign commands")
	// An agent of the same tenant not in the conversation is forbidden; supervising commands need the permission.
	agent, _ := f.agent("agent")
	agent.send(map[string]any{"type": "monitor", "id": "m", "conversation": conv})
	if m := agent.until("monitor", typed("error", "m")); m["code"] != "forbidden" {
		t.Errorf("an agent monitoring: %v", m)
	}
	agent.send(map[string]any{"type": "live", "id": "l"})
	if m := agent.until("live", typed("error", "l")); m["code"] != "forbidden" {
		t.Errorf("an agent asking for the live state: %v", m)
	}
	sup, _ := f.agent("supervisor")
	sup.send(map[string]any{"type": "live", "id": "l"})
	if m := sup.until("live", typed("live_ok", "l")); len(m["data"].(map[string]any)["queues"].([]any)) != 1 {
		t.Errorf("live: %v", m)
	}
}

func TestSlowReaderIsDropped(t *testing.T) {
	t.Parallel()
	w := newWSConn(context.Background(), nil, nil, wsVisitorRate)
	for range wsSendQueue {
		w.Send(chat.Event{Type: "typing"})
	}
	if w.closing != nil {
		t.Fatal("dropped before the queue was full")
	}
	w.Send(chat.Event{Type: "typing"})
	if w.closing == nil || w.closing.code != fws.CloseTryAgainLater || w.q != nil {
		t.Fatalf("a full queue drops the connection with 1013: %+v", w.closing)
	}
}

// A bot (an API token with the bot role) answers first and hands over to a
// queue of humans, through the agent protocol.
func TestBotHandsOverToAQueue(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	ctx := context.Background()
	humans, err := h.st.CreateQueue(ctx, store.System, store.Queue{TenantID: f.tn.ID, Name: "Humans", Config: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	// The human agent answers the Humans queue only; the bot the Sales queue (the default).
	doc, _ := json.Marshal(map[string]any{"queues": []string{humans.ID}})
	if err := h.st.SetAgentConfig(ctx, store.System, store.AgentConfig{TenantID: f.tn.ID, UserID: f.users["agent"].ID, Config: doc}); err != nil {
		t.Fatal(err)
	}
	h.srv.chat.Reload(ctx, f.tn.ID)
	secret, _, err := h.srv.auth.CreateToken(ctx, store.System, f.tn.ID, "Helper bot", "bot", nil)
	if err != nil {
		t.Fatal(err)
	}
	bot, _, err := h.dial("/ws/agent", http.Header{"Authorization": {"Bearer " + secret}})
	if err != nil {
		t.Fatal(err)
	}
	bot.send(map[string]any{"type": "hello", "id": "h"})
	bot.until("hello", typed("hello_ok", "h"))
	human, _ := f.agent("agent")

	v, start := f.visitor("", 0)
	conv := start["conversation"].(map[string]any)["id"].(string)
	bot.until("offer", typed("offer", ""))
	bot.send(map[string]any{"type": "accept", "id": "a", "conversation": conv})
	bot.until("accepted", typed("accept_ok", "a"))
	bot.send(map[string]any{"type": "send", "id": "b1", "conversation": conv, "kind": "rich",
		"payload": map[string]any{"type": "quick_replies", "options": []map[string]string{{"label": "Talk to a person", "value": "human"}}}})
	bot.until("ack", typed("ack", "b1"))
	v.send(map[string]any{"type": "send", "id": "1", "text": "human"})
	bot.until("the answer", func(m map[string]any) bool { return messageText(m) == "human" })
	bot.send(map[string]any{"type": "transfer", "id": "t", "conversation": conv, "queue": humans.ID, "note": "asked for a person"})
	if m := bot.until("removed", typed("removed", "")); m["conversation"] != conv {
		t.Fatalf("the bot is out: %v", m)
	}
	bot.until("transferred", typed("transfer_ok", "t"))
	offer := human.until("offer", typed("offer", ""))
	if offer["conversation"] != conv {
		t.Fatalf("the human gets the chat: %v", offer)
	}
	human.send(map[string]any{"type": "accept", "id": "a", "conversation": conv})
	human.until("accepted", typed("accept_ok", "a"))
	// History and live messages together (notes committed after the accept arrive live).
	human.send(map[string]any{"type": "history", "id": "hist", "conversation": conv})
	seen := map[string]bool{}
	human.until("the visitor's answer and the bot's note", func(m map[string]any) bool {
		switch m["type"] {
		case "history_ok":
			for _, msg := range m["data"].(map[string]any)["messages"].([]any) {
				seen[msg.(map[string]any)["text"].(string)] = true
			}
		case "message":
			seen[messageText(m)] = true
		}
		return seen["human"] && seen["asked for a person"]
	})
}

// Every command is authorized as the policy is now: an agent whose role
// changes, or a bot whose token is revoked, is refused on the next command.
func TestAgentSocketFollowsRoleChanges(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	agent, _ := f.agent("agent")
	agent.send(map[string]any{"type": "ping", "id": "p1"})
	agent.until("ping", typed("ping_ok", "p1"))
	owner := h.login(f.users["owner"].Email, "password-owner")
	if res := owner.call("PATCH", "/api/members/"+f.users["agent"].ID, map[string]any{"role": "marketer"}); res.Status != 200 {
		t.Fatalf("role change: %d %s", res.Status, res.Body)
	}
	agent.send(map[string]any{"type": "ping", "id": "p2"})
	if m := agent.until("refused", typed("error", "p2")); m["code"] != "forbidden" {
		t.Fatalf("after the role change: %v", m)
	}
	if code := agent.closeCode(); code != fws.ClosePolicyViolation {
		t.Fatalf("close code %d", code)
	}

	secret, tok, err := h.srv.auth.CreateToken(context.Background(), store.System, f.tn.ID, "bot", "bot", nil)
	if err != nil {
		t.Fatal(err)
	}
	bot, _, err := h.dial("/ws/agent", http.Header{"Authorization": {"Bearer " + secret}})
	if err != nil {
		t.Fatal(err)
	}
	bot.send(map[string]any{"type": "hello", "id": "h"})
	bot.until("hello", typed("hello_ok", "h"))
	if err := h.srv.auth.DeleteToken(context.Background(), store.System, f.tn.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	bot.send(map[string]any{"type": "ping", "id": "p"})
	if m := bot.until("refused", typed("error", "p")); m["code"] != "forbidden" {
		t.Fatalf("after the token is revoked: %v", m)
	}
}

// A console socket ends with its session (logout here).
func TestAgentSocketEndsWithItsSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	h.srv.socks.sessionCheck = 0
	c := h.login(f.users["agent"].Email, "password-agent")
	hdr := originHeader(h.srv.cfg.PublicURL)
	hdr.Set("Cookie", c.cookie)
	w, _, err := h.dial("/ws/agent", hdr)
	if err != nil {
		t.Fatal(err)
	}
	w.send(map[string]any{"type": "hello", "id": "h"})
	w.until("hello", typed("hello_ok", "h"))
	w.send(map[string]any{"type": "ping", "id": "p1"})
	w.until("ping", typed("ping_ok", "p1"))
	if res := c.call("POST", "/api/auth/logout", nil); res.Status != 204 && res.Status != 200 {
		t.Fatalf("logout: %d", res.Status)
	}
	w.send(map[string]any{"type": "ping", "id": "p2"})
	if m := w.until("refused", typed("error", "p2")); m["code"] != "unauthenticated" {
		t.Fatalf("after logout: %v", m)
	}
	if code := w.closeCode(); code != fws.ClosePolicyViolation {
		t.Fatalf("close %d", code)
	}
}

// The pinger's sets split the connections evenly, and one round over the
// sets pings every connection once; a closed connection is pinged no more.
func TestPingsAreSpreadOverSets(t *testing.T) {
	t.Parallel()
	s := newSockets()
	conns := make([]*wsConn, 3*wsPingSlots+7)
	for i := range conns {
		conns[i] = &wsConn{} // not started: pings stay queued
		s.add(conns[i])
	}
	s.remove(conns[0])
	var buf []*wsConn
	for slot := range wsPingSlots {
		buf = s.ping(slot, buf)
		if len(buf) > 4 {
			t.Fatalf("set %d pings %d connections at once; want at most 4", slot, len(buf))
		}
	}
	for i, w := range conns {
		want := 1
		if i == 0 {
			want = 0
		}
		if len(w.q) != want {
			t.Fatalf("connection %d got %d pings; want %d", i, len(w.q), want)
		}
	}
}

// A socket's commands run under a context that ends with the connection,
// and every socket is closed with 1012 when the server stops, so that
// clients come back (and resume) instead of waiting for a dead peer.
func TestSocketsEndWithTheConnectionAndTheServer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(ctx, ln) }()
	h.addr = ln.Addr().String()
	agent, _ := f.agent("agent")
	v, _ := f.visitor("", 0)
	v.send(map[string]any{"type": "ping", "id": "p"})
	v.until("pong", typed("ping_ok", "p"))
	conns := h.srv.sockets.all()
	if len(conns) != 2 {
		t.Fatalf("%d sockets open, want 2", len(conns))
	}
	v.c.Close()
	deadline := time.After(time.Minute)
	for ended := 0; ended == 0; {
		for _, w := range conns {
			select {
			case <-w.ctx.Done():
				ended++
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatal("the closed socket's context never ended")
		case <-time.After(5 * time.Millisecond):
		}
	}
	for _, w := range h.srv.sockets.all() {
		if w.ctx.Err() != nil {
			t.Fatal("the open socket's context ended with the other one")
		}
	}
	stop()
	if code := agent.closeCode(); code != fws.CloseServiceRestart {
		t.Fatalf("close code at shutdown: %d, want 1012", code)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	for _, w := range conns {
		if w.ctx.Err() == nil {
			t.Fatal("a socket's context outlived the server")
		}
	}
}

// A supervisor follows the live board: the answer to live gives the state
// now, and with on a live event follows each change (here, a chat waiting,
// then taken); an agent may not watch.
func TestSupervisorWatchesTheLiveBoard(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	sup, _ := f.agent("supervisor")
	sup.send(map[string]any{"type": "presence", "id": "p", "status": "away"})
	sup.until("away", typed("presence_ok", "p"))
	sup.send(map[string]any{"type": "live", "id": "l", "on": true})
	first := sup.until("live", typed("live_ok", "l"))["data"].(map[string]any)
	if q := first["queues"].([]any)[0].(map[string]any); q["waiting"] != float64(0) {
		t.Fatalf("the board before any chat: %v", first)
	}
	waiting := func(m map[string]any) float64 {
		return m["data"].(map[string]any)["queues"].([]any)[0].(map[string]any)["waiting"].(float64)
	}
	agent, _ := f.agent("agent")
	sup.until("the agent on the board", func(m map[string]any) bool {
		if m["type"] != "live" {
			return false
		}
		for _, a := range m["data"].(map[string]any)["agents"].([]any) {
			if a := a.(map[string]any); a["id"] == f.users["agent"].ID && a["presence"] == "available" && a["since"] != "" {
				return true
			}
		}
		return false
	})
	// A chat waits (offered to the agent until they accept) while someone is available.
	f.visitor("", 0)
	sup.until("a waiting chat on the board", func(m map[string]any) bool { return m["type"] == "live" && waiting(m) == 1 })
	agent.until("offer", func(m map[string]any) bool { return m["type"] == "offer" })
	mine, _ := f.agent("agent")
	mine.send(map[string]any{"type": "live", "id": "l", "on": true})
	if m := mine.until("refused", typed("error", "l")); m["code"] != "forbidden" {
		t.Fatalf("an agent watches the board: %v", m)
	}
}

// What the page says of the visitor after the chat started (nudge('set'),
// a verified nudge('identify')) reaches the agent at once; an identity whose
// hash does not match, or a frame that mixes the two, is refused and changes
// nothing.
func TestVisitorTellsAboutThemselvesAfterTheStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	agent, v, conv := f.acceptedChat()
	meta := func(m map[string]any) map[string]any {
		return m["data"].(map[string]any)["metadata"].(map[string]any)
	}
	v.send(map[string]any{"type": "set", "id": "s", "vars": map[string]string{"plan": "gold", "cart": "3 items"}})
	v.until("set_ok", typed("set_ok", "s"))
	m := agent.until("the new vars", func(m map[string]any) bool {
		return m["type"] == "state" && m["conversation"] == conv && meta(m)["vars"] != nil && meta(m)["vars"].(map[string]any)["plan"] == "gold"
	})
	if meta(m)["vars"].(map[string]any)["cart"] != "3 items" {
		t.Fatalf("vars: %v", meta(m))
	}
	before := h.snapshot()
	for name, frame := range map[string]map[string]any{
		"a forged identity": {"type": "identify", "id": "x", "identity": map[string]string{"id": "boss", "hash": strings.Repeat("ab", 32)}},
		"no identity":       {"type": "identify", "id": "x"},
		"set without vars":  {"type": "set", "id": "x"},
		"both at once":      {"type": "set", "id": "x", "vars": map[string]string{"a": "b"}, "identity": map[string]string{"id": "u", "hash": "00"}},
		"too many vars":     {"type": "set", "id": "x", "vars": manyVars(51)},
	} {
		v.sendAsIs(frame)
		if e := v.until("the refusal", typed("error", "x")); e["code"] != "invalid" {
			t.Errorf("%s: %v", name, e)
		}
	}
	h.unchanged(before, "refused identities and vars")
	hash := analytics.IdentityHash(f.site.IdentitySecret, "customer-42")
	v.send(map[string]any{"type": "identify", "id": "i", "identity": map[string]string{"id": "customer-42", "email": "vic@example.com", "name": "Vic", "hash": hash}})
	v.until("identify_ok", typed("identify_ok", "i"))
	m = agent.until("the identity", func(m map[string]any) bool {
		return m["type"] == "state" && m["conversation"] == conv && meta(m)["identity"] != nil
	})
	if id := meta(m)["identity"].(map[string]any); id["id"] != "customer-42" || id["verified"] != true || id["hash"] != nil {
		t.Fatalf("identity: %v", id)
	}
	if meta(m)["vars"].(map[string]any)["plan"] != "gold" {
		t.Fatal("the vars stay")
	}
}

func manyVars(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprint("v", i)] = "x"
	}
	return m
}

// TestAckWaitsForTheReadersWriters: a sender's ack is queued only once the
// readers' writers took the message (an explicit hand-off, not the
// scheduler's order), and never waits on a reader that cannot take it now.
func TestAckWaitsForTheReadersWriters(t *testing.T) {
	t.Parallel()
	reader := &wsConn{started: true}
	reader.pushed = 2 // the message, and a frame before it
	done := make(chan struct{})
	go func() { reader.handedOff(); close(done) }()
	for range 2 {
		select {
		case <-done:
			t.Fatal("the ack went before the reader's writer took the message")
		default:
		}
		reader.mu.Lock()
		reader.tookOne()
		reader.mu.Unlock()
	}
	<-done
	for name, r := range map[string]*wsConn{
		"not started":     {pushed: 1},
		"closing":         {pushed: 1, started: true, closing: &closeWhy{}},
		"in a slow write": {pushed: 1, started: true, inWrite: true},
	} {
		r.handedOff() // returns at once: a slow or gone reader holds up no ack
		_ = name
	}
}
