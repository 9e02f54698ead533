package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/server/chat"
	"github.com/nudgehq/nudge/store"
)

// ProtocolVersion is the chat protocol's version (docs/protocol.md).
const ProtocolVersion = 1

// WebSocket limits.
const (
	wsMaxFrame     = 16 << 10         // bytes of one frame from a client; more closes with 1009
	wsSendQueue    = 256              // events waiting for a slow reader before it is dropped
	wsInflight     = 64               // messages of one connection waiting for their commit
	wsHelloTimeout = 10 * time.Second // to send the first frame
	wsPingEvery    = 25 * time.Second
	wsPongWait     = 60 * time.Second // silence after which the peer is gone
	wsWriteTimeout = 10 * time.Second
)

// wsRates are frames per second (and bursts) a connection may send.
var (
	wsVisitorRate = wsRate{per: 10, burst: 30}
	wsAgentRate   = wsRate{per: 50, burst: 200}
)

type wsRate struct{ per, burst float64 }

// frame is a client's command. Fields are shared across types; each command
// reads its own.
type frame struct {
	Type         string          `json:"type"`
	ID           string          `json:"id,omitempty"`
	V            int             `json:"v,omitempty"`
	Token        string          `json:"token,omitempty"`
	Visitor      string          `json:"visitor,omitempty"`
	Meta         *chat.Meta      `json:"meta,omitempty"`
	After        int64           `json:"after,omitempty"`
	Limit        int             `json:"limit,omitempty"`
	Conversation string          `json:"conversation,omitempty"`
	ClientID     string          `json:"client_id,omitempty"`
	Kind         string          `json:"kind,omitempty"`
	Text         string          `json:"text,omitempty"`
	Payload      json.RawMessage `json:"payload,omitempty"`
	Internal     bool            `json:"internal,omitempty"`
	On           bool            `json:"on,omitempty"`
	Seq          int64           `json:"seq,omitempty"`
	Status       string          `json:"status,omitempty"`
	Agent        string          `json:"agent,omitempty"`
	Queue        string          `json:"queue,omitempty"`
	Mode         string          `json:"mode,omitempty"`
	Note         string          `json:"note,omitempty"`
	Disposition  string          `json:"disposition,omitempty"`
	Tags         []string        `json:"tags,omitempty"`
	Score        int             `json:"score,omitempty"`
	Name         string          `json:"name,omitempty"`
	Email        string          `json:"email,omitempty"`
}

// reply is the server's answer to one command.
type reply struct {
	Type  string `json:"type"` // the command's type + "_ok", "ack" for a send, or "error"
	ID    string `json:"id,omitempty"`
	Code  string `json:"code,omitempty"`
	Error string `json:"message,omitempty"`
	Data  any    `json:"data,omitempty"`
}

// wsConn is one WebSocket connection: the engine's Sink for it, a bounded
// queue its writer drains, and the reader's rate limit.
type wsConn struct {
	c    *websocket.Conn
	log  *slog.Logger
	q    chan any // chat.Event or reply
	done chan struct{}
	once sync.Once
	why  atomic.Value // close code and reason, set when the server drops the peer

	tokens float64
	last   time.Time
	rate   wsRate

	// skip holds, per conversation, the last seq already sent by a history
	// reply, so that queued events do not send a message twice.
	skipMu sync.Mutex
	skip   map[string]int64
}

type closeWhy struct {
	code   int
	reason string
}

func newWSConn(c *websocket.Conn, log *slog.Logger, r wsRate) *wsConn {
	return &wsConn{c: c, log: log, q: make(chan any, wsSendQueue), done: make(chan struct{}), rate: r, tokens: r.burst, last: time.Now()}
}

// Send queues an event; a connection whose queue is full is dropped (the
// client reconnects and resumes from its last seq).
func (w *wsConn) Send(ev chat.Event) { w.push(ev) }

func (w *wsConn) push(v any) {
	select {
	case <-w.done:
	case w.q <- v:
	default:
		w.drop(fws.CloseTryAgainLater, "too slow: reconnect and resume")
	}
}

// drop ends the connection from the server's side with a close code.
func (w *wsConn) drop(code int, reason string) {
	w.once.Do(func() {
		w.why.Store(closeWhy{code, reason})
		close(w.done)
	})
}

// writer sends queued events and pings until the connection ends.
func (w *wsConn) writer() {
	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	for {
		select {
		case <-w.done:
			why, _ := w.why.Load().(closeWhy)
			if why.code == 0 {
				why = closeWhy{fws.CloseNormalClosure, ""}
			}
			w.c.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(why.code, why.reason), time.Now().Add(time.Second))
			w.c.Close()
			return
		case <-ping.C:
			if err := w.c.WriteControl(fws.PingMessage, nil, time.Now().Add(wsWriteTimeout)); err != nil {
				w.drop(fws.CloseGoingAway, "")
			}
		case v := <-w.q:
			if ev, ok := v.(chat.Event); ok && ev.Type == "message" && w.skipped(ev) {
				continue
			}
			if err := w.write(v); err != nil {
				w.drop(fws.CloseGoingAway, "")
			}
		}
	}
}

func (w *wsConn) skipped(ev chat.Event) bool {
	m, ok := ev.Data.(chat.Message)
	if !ok {
		return false
	}
	w.skipMu.Lock()
	defer w.skipMu.Unlock()
	return m.Seq <= w.skip[ev.Conversation]
}

func (w *wsConn) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.c.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	return w.c.WriteMessage(fws.TextMessage, b)
}

// allow spends one of the connection's tokens.
func (w *wsConn) allow() bool {
	now := time.Now()
	w.tokens = min(w.rate.burst, w.tokens+now.Sub(w.last).Seconds()*w.rate.per)
	w.last = now
	if w.tokens < 1 {
		return false
	}
	w.tokens--
	return true
}

func (w *wsConn) ok(f *frame, data any) { w.push(reply{Type: f.Type + "_ok", ID: f.ID, Data: data}) }

func (w *wsConn) fail(f *frame, code, msg string) {
	w.push(reply{Type: "error", ID: f.ID, Code: code, Error: msg})
}

// failErr answers a command that the engine refused.
func (w *wsConn) failErr(f *frame, err error) {
	var fe *store.FieldError
	switch {
	case errors.Is(err, chat.ErrInvalid), errors.As(err, &fe):
		w.fail(f, "invalid", err.Error())
	case errors.Is(err, chat.ErrNotFound), errors.Is(err, store.ErrNotFound):
		w.fail(f, "not_found", "no such conversation")
	case errors.Is(err, chat.ErrForbidden):
		w.fail(f, "forbidden", err.Error())
	case errors.Is(err, chat.ErrState):
		w.fail(f, "state", err.Error())
	case errors.Is(err, chat.ErrToken):
		w.fail(f, "token", "invalid or expired chat token")
	default:
		w.log.Error("chat command", "type", f.Type, "err", err)
		w.fail(f, "internal", "internal error")
	}
}

// read returns the next command, or ok false when the connection is over.
// Malformed frames are answered and skipped; a rate beyond the limit is
// answered rate_limited.
func (w *wsConn) read() (*frame, bool) {
	for {
		typ, data, err := w.c.ReadMessage()
		if err != nil {
			return nil, false
		}
		w.c.SetReadDeadline(time.Now().Add(wsPongWait))
		if !w.allow() {
			w.fail(&frame{}, "rate_limited", "too many frames; slow down")
			continue
		}
		if typ != fws.TextMessage || !utf8.Valid(data) {
			// encoding/json would quietly turn invalid UTF-8 into U+FFFD.
			w.fail(&frame{}, "malformed", "frames are JSON text in UTF-8")
			continue
		}
		f := &frame{}
		if err := decodeFrame(data, f); err != nil {
			w.fail(f, "malformed", err.Error())
			continue
		}
		return f, true
	}
}

func decodeFrame(data []byte, f *frame) error {
	d := json.NewDecoder(strings.NewReader(string(data)))
	d.DisallowUnknownFields()
	if err := d.Decode(f); err != nil {
		return errors.New("not a valid command: " + err.Error())
	}
	if d.More() {
		return errors.New("one JSON object per frame")
	}
	if f.Type == "" {
		return errors.New("a command has a type")
	}
	if len(f.ID) > 64 {
		return errors.New("id: at most 64 bytes")
	}
	return nil
}

// serve runs a connection: the writer, then the reader until the end.
func (w *wsConn) start() {
	w.c.SetReadLimit(wsMaxFrame)
	w.c.SetReadDeadline(time.Now().Add(wsPongWait))
	w.c.SetPongHandler(func(string) error {
		w.c.SetReadDeadline(time.Now().Add(wsPongWait))
		return nil
	})
}

// hello reads the first frame within the hello timeout.
func (w *wsConn) hello() (*frame, bool) {
	w.c.SetReadDeadline(time.Now().Add(wsHelloTimeout))
	f, ok := w.read()
	if !ok {
		return nil, false
	}
	if f.V != 0 && f.V != ProtocolVersion {
		w.closeNow(fws.ClosePolicyViolation, "unsupported protocol version")
		return nil, false
	}
	return f, true
}

// closeNow closes before the writer runs (during the hello).
func (w *wsConn) closeNow(code int, reason string) {
	if f, ok := w.pending(); ok {
		w.write(f)
	}
	w.c.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	w.c.Close()
}

func (w *wsConn) pending() (any, bool) {
	select {
	case v := <-w.q:
		return v, true
	default:
		return nil, false
	}
}

// wsUpgrade keeps only what the handshake needs before the library copies
// every header, cookie and query argument into each connection's maps: an
// idle connection should cost as little memory as possible.
func wsUpgrade(handler func(*websocket.Conn)) fiber.Handler {
	up := websocket.New(handler, websocket.Config{ReadBufferSize: 512, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{}})
	keep := map[string]bool{"Connection": true, "Upgrade": true, "Sec-Websocket-Key": true, "Sec-Websocket-Version": true,
		"Sec-Websocket-Extensions": true, "Sec-Websocket-Protocol": true, "Host": true}
	return func(c *fiber.Ctx) error {
		if !websocket.IsWebSocketUpgrade(c) {
			return &apiError{Status: fiber.StatusUpgradeRequired, Code: "upgrade_required", Message: "this is a WebSocket endpoint"}
		}
		h := &c.Request().Header
		var drop []string
		h.VisitAll(func(k, _ []byte) {
			if !keep[string(k)] {
				drop = append(drop, string(k))
			}
		})
		for _, k := range drop {
			h.Del(k)
		}
		h.DelAllCookies()
		c.Request().URI().QueryArgs().Reset()
		return up(c)
	}
}

var wsCtx = context.Background()
