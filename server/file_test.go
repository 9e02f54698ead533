package server

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fws "github.com/fasthttp/websocket"
)

// A 1×1 PNG, and the marker hidden in it.
var tinyPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

const fileMarker = "FILE-MARKER-7f3a9c"

// upload sends a file over a chat socket and returns the upload_done answer.
func (w *wsClient) upload(conv, name string, data []byte) map[string]any {
	w.t.Helper()
	f := map[string]any{"type": "upload", "id": "up-" + name, "name": name, "size": len(data)}
	if conv != "" {
		f["conversation"] = conv
	}
	w.send(f)
	if m := w.until("upload accepted", func(m map[string]any) bool { return m["id"] == "up-"+name }); m["type"] != "upload_ok" {
		return m
	}
	for i := 0; i < len(data); i += 10000 {
		if err := w.c.WriteMessage(fws.BinaryMessage, data[i:min(i+10000, len(data))]); err != nil {
			w.t.Fatal(err)
		}
	}
	return w.until("upload done", func(m map[string]any) bool { return m["id"] == "up-"+name })
}

func TestFilesAreSniffedSealedAndAuthorized(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	agent, _ := f.agent("agent")
	v, start := f.visitor("", 0)
	token := start["token"].(string)
	conv := start["conversation"].(map[string]any)["id"].(string)
	agent.accept(conv)

	// A text file 30 KB long (three chunks), with a marker in it.
	text := []byte(strings.Repeat("line of the invoice "+fileMarker+"\n", 1000))
	done := v.upload("", "../../etc/Invoice \"March\".txt", text)
	if done["type"] != "upload_done" {
		t.Fatalf("upload: %v", done)
	}
	ref := done["data"].(map[string]any)
	if ref["type"] != "text/plain" || ref["name"] != "Invoice March.txt" || ref["size"] != float64(len(text)) {
		t.Fatalf("the file is sniffed and its name cleaned: %v", ref)
	}
	v.sendAsIs(map[string]any{"type": "send", "id": "m", "kind": "file", "payload": map[string]any{"id": ref["id"], "name": "evil.exe", "size": 1}})
	ack := v.until("ack", typed("ack", "m"))
	if p := ack["data"].(map[string]any)["payload"].(map[string]any); p["name"] != "Invoice March.txt" || p["size"] != float64(len(text)) {
		t.Fatalf("the message describes the stored file, not what the sender claimed: %v", p)
	}
	got := agent.until("file message", func(m map[string]any) bool {
		return m["type"] == "message" && m["data"].(map[string]any)["kind"] == "file"
	})
	var storedName string
	h.db.QueryRow(`SELECT name FROM files WHERE id = ?`, ref["id"]).Scan(&storedName)
	if strings.Contains(storedName, "Invoice") || !strings.HasPrefix(storedName, "sealed:") {
		t.Fatalf("the file's name is stored in clear: %q", storedName)
	}
	id := got["data"].(map[string]any)["payload"].(map[string]any)["id"].(string)

	// The agent downloads it: an attachment, never sniffed or rendered.
	mine := h.login(f.users["agent"].Email, "password-agent")
	res := mine.call("GET", "/api/conversations/"+conv+"/files/"+id, nil)
	if res.Status != 200 || !bytes.Equal(res.Body, text) || res.Header.Get("Content-Type") != "text/plain" ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") || res.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("agent download: %d %v", res.Status, res.Header)
	}
	if res := mine.call("GET", "/api/conversations/01NOTTHIS/files/"+id, nil); res.Status != 404 {
		t.Fatalf("under another conversation: %d", res.Status)
	}
	other := h.login(f.users["marketer"].Email, "password-marketer")
	if res := other.call("GET", "/api/conversations/"+conv+"/files/"+id, nil); res.Status != 403 {
		t.Fatalf("a marketer: %d", res.Status)
	}

	// The visitor downloads it with their token, from the site's origin.
	get := func(origin, tok string) *http.Response {
		req, _ := http.NewRequest("GET", "http://"+h.listen()+"/chat/files/"+id+"?site="+f.site.Key, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if tok != "" {
			req.Header.Set("X-Nudge-Chat-Token", tok)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Body.Close() })
		return r
	}
	r := get(shopOrigin, token)
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || !bytes.Equal(body, text) || r.Header.Get("Access-Control-Allow-Origin") != shopOrigin {
		t.Fatalf("visitor download: %d %v", r.StatusCode, r.Header)
	}
	_, other2 := f.visitor("", 0)
	for name, c := range map[string]struct {
		origin, token string
		status        int
	}{
		"no token":            {shopOrigin, "", 401},
		"forged token":        {shopOrigin, strings.Split(token, ".")[0] + ".nope", 401},
		"another visitor":     {shopOrigin, other2["token"].(string), 404},
		"another site's page": {"https://evil.test", token, 403},
	} {
		if r := get(c.origin, c.token); r.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", name, r.StatusCode, c.status)
		}
	}

	// Bad uploads change nothing.
	before := h.snapshot()
	if m := v.upload("", "big.bin", nil); m["type"] != "error" {
		t.Errorf("an empty file: %v", m)
	}
	v.send(map[string]any{"type": "upload", "id": "huge", "name": "huge.pdf", "size": 10<<20 + 1})
	if m := v.until("too big", func(m map[string]any) bool { return m["id"] == "huge" }); m["code"] != "invalid" {
		t.Errorf("over 10 MiB, refused before any byte: %v", m)
	}
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"), make([]byte, 200)...)
	if m := v.upload("", "invoice.pdf", exe); m["type"] != "error" || !strings.Contains(m["message"].(string), "not accepted") {
		t.Errorf("an executable named .pdf: %v", m)
	}
	html := []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")
	if m := v.upload("", "page.txt", html); m["type"] != "error" {
		t.Errorf("HTML named .txt: %v", m)
	}
	v.send(map[string]any{"type": "send", "id": "x", "kind": "file", "payload": map[string]any{"id": "01NOFILE"}})
	if m := v.until("foreign file", typed("error", "x")); m["code"] != "invalid" {
		t.Errorf("a file not of the conversation: %v", m)
	}
	v.send(map[string]any{"type": "upload", "id": "short", "name": "a.txt", "size": 4})
	v.until("announced", typed("upload_ok", "short"))
	v.c.WriteMessage(fws.BinaryMessage, []byte("more than four"))
	if m := v.until("too many bytes", typed("error", "short")); m["code"] != "invalid" {
		t.Errorf("more bytes than announced: %v", m)
	}
	v.c.WriteMessage(fws.BinaryMessage, []byte("stray"))
	if m := v.until("stray", typed("error", "")); m["code"] != "malformed" {
		t.Errorf("a binary frame without an upload: %v", m)
	}
	h.unchanged(before, "refused uploads")
	if n := h.srv.uploading.Load(); n != 0 {
		t.Fatalf("refused uploads still hold %d bytes of the server's budget", n)
	}

	// The image an agent sends goes the same way.
	if m := agent.upload(conv, "pixel.png", tinyPNG); m["type"] != "upload_done" || m["data"].(map[string]any)["type"] != "image/png" {
		t.Fatalf("agent upload: %v", m)
	}

	// The marker is nowhere in the data folder (databases, search index).
	h.waitIndexed()
	files, _ := filepath.Glob(filepath.Join(h.srv.cfg.DataDir, "*"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(fileMarker)) {
			t.Fatalf("%s holds the file in clear", p)
		}
	}
}

// A user's picture: checked by its bytes, served to anyone, given with the
// agent's messages to visitors.
func TestAvatars(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	c := h.login(f.users["agent"].Email, "password-agent")
	put := func(ct string, body []byte) response {
		req := c.request("PUT", "/api/me/avatar", body)
		req.Header.Set("Content-Type", ct)
		return h.do(req)
	}
	before := h.snapshot()
	for name, tc := range map[string]struct {
		ct     string
		body   []byte
		status int
	}{
		"JSON":              {"application/json", []byte(`{}`), 415},
		"a script as png":   {"image/png", []byte("<script>alert(1)</script>"), 422},
		"a PNG too large":   {"image/png", append(append([]byte{}, tinyPNG...), make([]byte, 300<<10)...), 413},
		"no content type":   {"", tinyPNG, 415},
		"an SVG (scripted)": {"image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), 415},
	} {
		if res := put(tc.ct, tc.body); res.Status != tc.status {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
	}
	h.unchanged(before, "refused pictures")
	res := put("image/png", tinyPNG)
	url, _ := res.json(t)["avatar"].(string)
	if res.Status != 200 || !strings.HasPrefix(url, h.srv.cfg.PublicURL+"/avatars/"+f.users["agent"].ID+"?v=") {
		t.Fatalf("set: %d %s", res.Status, res.Body)
	}
	got := h.do(pageRequest("GET", strings.TrimPrefix(url, h.srv.cfg.PublicURL), "", ""))
	if got.Status != 200 || got.Header.Get("Content-Type") != "image/png" || !bytes.Equal(got.Body, tinyPNG) || !strings.Contains(got.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("served: %d %v", got.Status, got.Header)
	}
	agent, v, conv := f.acceptedChat()
	agent.send(map[string]any{"type": "send", "id": "s", "conversation": conv, "text": "Hi"})
	m := v.until("the agent's message", func(m map[string]any) bool { return messageText(m) == "Hi" })
	if av := m["data"].(map[string]any)["sender"].(map[string]any)["avatar"]; av != url {
		t.Fatalf("the visitor sees the agent's picture as %v, want %s", av, url)
	}
	if res := c.call("DELETE", "/api/me/avatar", nil); res.Status != 204 {
		t.Fatalf("delete: %d", res.Status)
	}
	if res := h.do(pageRequest("GET", "/avatars/"+f.users["agent"].ID, "", "")); res.Status != 404 {
		t.Fatalf("after deletion: %d", res.Status)
	}
}

// A visitor whose first act is attaching a file uploads right after
// start_ok: the conversation is there for the upload every time, though its
// creation may still be on its way to the disk. The client here does not
// even wait for the answers: start, upload and its bytes go in one burst.
func TestUploadRightAfterStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newChatFixture(h, "Acme")
	f.agent("agent") // signed in: the chats wait in the queue
	for i := range 40 {
		w, res, err := h.dial("/ws/visitor?site="+f.site.Key, originHeader(shopOrigin))
		if err != nil {
			t.Fatalf("dial: %v %v", err, res)
		}
		w.send(map[string]any{"type": "start", "id": "h", "v": 1, "visitor": "visitor-1"})
		w.send(map[string]any{"type": "upload", "id": "up", "name": "first.png", "size": len(tinyPNG)})
		if err := w.c.WriteMessage(fws.BinaryMessage, tinyPNG); err != nil {
			t.Fatal(err)
		}
		if m := w.until("the upload's end", func(m map[string]any) bool { return m["id"] == "up" && m["type"] != "upload_ok" }); m["type"] != "upload_done" {
			t.Fatalf("try %d: %v", i, m)
		}
		w.c.Close()
	}
}
