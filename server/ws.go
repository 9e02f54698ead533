package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	fws "github.com/fasthttp/websocket"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/ops"
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
	Type         string            `json:"type"`
	ID           string            `json:"id,omitempty"`
	V            int               `json:"v,omitempty"`
	Token        string            `json:"token,omitempty"`
	Visitor      string            `json:"visitor,omitempty"`
	Meta         *chat.Meta        `json:"meta,omitempty"`
	Page         *chat.PageMeta    `json:"page,omitempty"`
	After        int64             `json:"after,omitempty"`
	AfterID      string            `json:"after_id,omitempty"`
	Limit        int               `json:"limit,omitempty"`
	Conversation string            `json:"conversation,omitempty"`
	ClientID     string            `json:"client_id,omitempty"`
	Resend       bool              `json:"resend,omitempty"`
	Kind         string            `json:"kind,omitempty"`
	Text         string            `json:"text,omitempty"`
	Payload      json.RawMessage   `json:"payload,omitempty"`
	Canned       string            `json:"canned,omitempty"`
	Internal     bool              `json:"internal,omitempty"`
	On           bool              `json:"on,omitempty"`
	Seq          int64             `json:"seq,omitempty"`
	Status       string            `json:"status,omitempty"`
	Agent        string            `json:"agent,omitempty"`
	Queue        string            `json:"queue,omitempty"`
	Queues       []string          `json:"queues,omitempty"`
	Mode         string            `json:"mode,omitempty"`
	Note         string            `json:"note,omitempty"`
	Disposition  string            `json:"disposition,omitempty"`
	Tags         []string          `json:"tags,omitempty"`
	Score        int               `json:"score,omitempty"`
	Size         int64             `json:"size,omitempty"`
	Name         string            `json:"name,omitempty"`
	Email        string            `json:"email,omitempty"`
	Vars         map[string]string `json:"vars,omitempty"`
	Identity     *chat.Identity    `json:"identity,omitempty"`
	VisitorToken string            `json:"visitor_token,omitempty"`
}

// reply is the server's answer to one command.
type reply struct {
	Type  string `json:"type"` // the command's type + "_ok", "ack" for a send, or "error"
	ID    string `json:"id,omitempty"`
	Code  string `json:"code,omitempty"`
	Error string `json:"message,omitempty"`
	Data  any    `json:"data,omitempty"`
}

// frameConn is what a chat connection reads frames from and writes frames
// to: the client's WebSocket, or, on the node that runs a tenant of a
// cluster, the relay of a socket another node holds.
type frameConn interface {
	ReadMessage() (messageType int, data []byte, err error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	SetReadLimit(limit int64)
	SetPongHandler(h func(appData string) error)
	Close() error
}

// wsConn is one WebSocket connection: the engine's Sink for it, a bounded
// queue, and the reader's rate limit. An idle connection holds no queue and
// no writer goroutine: one starts when there is something to send and ends
// when the queue is empty; pings come from the server's one pinger.
type wsConn struct {
	c   frameConn
	log *slog.Logger
	// ctx is the commands' context: cancelled when the connection ends or
	// the server stops, so that a command whose answer nobody can read
	// stops waiting and reading.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	q       []any // chat.Event, reply or wsPing
	writing bool  // a writer goroutine is running
	// pushed and taken count the frames queued and those the writer has
	// taken off the queue; took is closed (and replaced) when it takes one,
	// for a sender's ack that waits for its readers (handedOff); inWrite: the
	// writer is in a socket write.
	pushed, taken uint64
	took          chan struct{}
	inWrite       bool
	started       bool // the hello is answered: queued frames may go
	// greeting: the reader waits for the hello; it answers bad frames
	// itself (answerNow), as the writer has not started. Reader only.
	greeting bool
	slot     uint8 // the pinger's set
	closing  *closeWhy
	ended    chan struct{} // closed once the writer has closed the connection

	tokens float64
	last   time.Time
	rate   wsRate

	delivered prometheus.Observer // commit-to-socket time of messages

	// skip holds, per conversation, the last seq already sent by a history
	// reply, so that queued events do not send a message twice. Set before
	// the writer starts, read only by it.
	skip map[string]int64

	// up is the file being received (binary frames), one at a time. Only
	// the connection's commands touch it, and they run one after another.
	up *upload
}

// upload is a file announced by an upload command and arriving in binary
// frames.
type upload struct {
	id, name, conversation string
	size                   int64
	buf                    []byte
}

type closeWhy struct {
	code   int
	reason string
	drain  bool // send what is queued first (an error frame that explains the close)
}

// wsPing asks the writer for a ping frame.
type wsPing struct{}

func newWSConn(ctx context.Context, c frameConn, log *slog.Logger, r wsRate) *wsConn {
	ctx, cancel := context.WithCancel(ctx)
	return &wsConn{c: c, log: log, ctx: ctx, cancel: cancel, ended: make(chan struct{}), rate: r, tokens: r.burst, last: time.Now()}
}

// Send queues an event; a connection whose queue is full is dropped (the
// client reconnects and resumes from its last seq).
func (w *wsConn) Send(ev chat.Event) {
	if ev.Type == chat.EventMoved {
		// The tenant's chats run on another node now: the client connects
		// again (and resumes), as after a restart.
		w.end(fws.CloseServiceRestart, "the chat moved: reconnect")
		return
	}
	w.push(ev)
}

func (w *wsConn) push(v any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing != nil {
		return
	}
	if len(w.q) >= wsSendQueue {
		w.q = nil
		w.closing = &closeWhy{fws.CloseTryAgainLater, "too slow: reconnect and resume", false}
	} else {
		w.q = append(w.q, v)
		w.pushed++
	}
	w.kick()
}

// handedOff waits until the writer has taken every frame queued so far, so
// that a message's readers get it before its sender's ack goes (the ack's
// writer would otherwise often run first: Go runs the goroutine readied
// last). It does not wait for a connection that is closing, not started, or
// in a socket write: that writer is running already, and a slow reader must
// not hold up another connection's ack.
func (w *wsConn) handedOff() {
	w.mu.Lock()
	mark := w.pushed
	for w.taken < mark && w.closing == nil && w.started && !w.inWrite {
		if w.took == nil {
			w.took = make(chan struct{})
		}
		took := w.took
		w.mu.Unlock()
		<-took
		w.mu.Lock()
	}
	w.mu.Unlock()
}

// tookOne records that the writer took a frame. Callers hold w.mu.
func (w *wsConn) tookOne() {
	w.taken++
	if w.took != nil {
		close(w.took)
		w.took = nil
	}
}

// kick starts a writer if none runs. Callers hold w.mu.
func (w *wsConn) kick() {
	if w.started && !w.writing {
		w.writing = true
		go w.flush()
	}
}

// drop ends the connection from the server's side with a close code.
func (w *wsConn) drop(code int, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing == nil {
		w.closing = &closeWhy{code, reason, false}
	}
	w.kick()
}

// end closes the connection after what is queued (an answer explaining why).
func (w *wsConn) end(code int, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing == nil {
		w.closing = &closeWhy{code, reason, true}
	}
	w.kick()
}

// begin lets queued frames go, once the hello reply is written.
func (w *wsConn) begin() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.started = true
	w.kick()
}

// flush writes the queue, then ends; after a drop it closes the connection.
func (w *wsConn) flush() {
	for {
		w.mu.Lock()
		if len(w.q) > 0 && (w.closing == nil || w.closing.drain) {
			v := w.q[0]
			w.q[0] = nil
			w.q = w.q[1:]
			if len(w.q) == 0 {
				w.q = nil
			}
			w.tookOne()
			w.inWrite = true
			w.mu.Unlock()
			err := w.writeItem(v)
			w.mu.Lock()
			w.inWrite = false
			w.mu.Unlock()
			if err != nil {
				w.drop(fws.CloseGoingAway, "")
			}
			continue
		}
		if w.closing != nil {
			why := *w.closing
			if w.took != nil {
				close(w.took) // nothing more will be taken
				w.took = nil
			}
			w.mu.Unlock()
			w.c.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(why.code, why.reason), time.Now().Add(time.Second))
			w.c.Close()
			close(w.ended)
			return // writing stays true: no writer starts again
		}
		w.writing = false
		w.mu.Unlock()
		return
	}
}

func (w *wsConn) writeItem(v any) error {
	switch v := v.(type) {
	case wsPing:
		return w.c.WriteControl(fws.PingMessage, nil, time.Now().Add(wsWriteTimeout))
	case chat.Event:
		if v.Type == "message" {
			if w.skipped(v) {
				return nil
			}
			if err := w.write(v); err != nil {
				return err
			}
			if m, ok := v.Data.(chat.Message); ok && w.delivered != nil {
				w.delivered.Observe(time.Since(m.CreatedAt).Seconds())
			}
			return nil
		}
	}
	return w.write(v)
}

func (w *wsConn) skipped(ev chat.Event) bool {
	m, ok := ev.Data.(chat.Message)
	return ok && m.Seq <= w.skip[ev.Conversation]
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

func (w *wsConn) fail(f *frame, code, msg string) { w.failID(f.ID, code, msg) }

func (w *wsConn) failID(id, code, msg string) {
	w.push(reply{Type: "error", ID: id, Code: code, Error: msg})
}

// failErr answers a command that the engine refused.
func (w *wsConn) failErr(f *frame, err error) {
	var fe *store.FieldError
	switch {
	case errors.As(err, &fe):
		w.fail(f, "invalid", fe.Field+" "+fe.Message)
	case errors.Is(err, chat.ErrInvalid):
		w.fail(f, "invalid", chat.Explain(err))
	case errors.Is(err, chat.ErrNotFound), errors.Is(err, store.ErrNotFound):
		w.fail(f, "not_found", "no such conversation")
	case errors.Is(err, chat.ErrForbidden):
		w.fail(f, "forbidden", chat.Explain(err))
	case errors.Is(err, chat.ErrState):
		w.fail(f, "state", chat.Explain(err))
	case errors.Is(err, chat.ErrToken):
		w.fail(f, "token", "invalid or expired chat token")
	case errors.Is(err, chat.ErrElsewhere), errors.Is(err, ops.ErrMoving):
		// The tenant's chats moved while the command ran: the client
		// connects again (to the node that runs them) and sends it again.
		w.fail(f, "busy", "the chat is moving to another server: reconnecting")
		w.end(fws.CloseServiceRestart, "the chat moved: reconnect")
	case store.Unavailable(err):
		w.fail(f, "busy", "the database is not answering: nothing was changed; try again in a moment")
	default:
		w.log.Error("chat command", "type", f.Type, "err", err)
		w.fail(f, "internal", "internal error")
	}
}

// read returns the next command, or ok false when the connection is over.
// Malformed frames are answered and skipped; a rate beyond the limit is
// answered rate_limited.
// Decoding happens in parse, on a short-lived goroutine: the reader's stack
// stays small for the connection's life. binary is a chunk of the file being
// uploaded (the upload, bounded by its announced size, is not rate-limited).
func (w *wsConn) read() (data []byte, binary, ok bool) {
	for {
		typ, data, err := w.c.ReadMessage()
		if err != nil {
			return nil, false, false
		}
		w.c.SetReadDeadline(time.Now().Add(wsPongWait))
		if typ == fws.BinaryMessage && w.up != nil {
			return data, true, true
		}
		// The answers below are built without a frame value (half a
		// kilobyte) and the probe is decoded on a goroutine of its own: this
		// goroutine lives as long as the connection, and a frame in this
		// function had made every reader's stack 8 KiB instead of 4.
		if !w.allow() {
			// Name the dropped command, so that the client knows which to send again.
			shallow(w.log, func() {
				var probe struct {
					ID   string `json:"id"`
					Type string `json:"type"`
				}
				json.Unmarshal(data, &probe)
				msg := "too many frames; slow down"
				if probe.ID == "" && probe.Type != "" && len(probe.Type) <= 32 && utf8.ValidString(probe.Type) {
					msg = "too many frames; slow down (a " + probe.Type + " was dropped: send it again)"
				}
				w.failID(probe.ID, "rate_limited", msg)
			})
			w.answerNow()
			continue
		}
		if typ != fws.TextMessage || !utf8.Valid(data) {
			// encoding/json would quietly turn invalid UTF-8 into U+FFFD.
			w.failID("", "malformed", "frames are JSON text in UTF-8 (binary frames only after an upload command)")
			w.answerNow()
			continue
		}
		return data, false, true
	}
}

// parse decodes a frame; a malformed one is answered and gives nil.
func (w *wsConn) parse(data []byte) *frame {
	f := &frame{}
	if err := decodeFrame(data, f); err != nil {
		w.fail(f, "malformed", err.Error())
		return nil
	}
	return f
}

func decodeFrame(data []byte, f *frame) error {
	// JSON v2 (encoding/json/v2 to be): no decoder or copy of the frame per
	// command, and duplicate names and trailing data refused as well.
	if err := jsonv2.Unmarshal(data, f, jsonv2.RejectUnknownMembers(true)); err != nil {
		return errors.New("not a valid command: " + strings.TrimPrefix(err.Error(), "json: "))
	}
	if f.Type == "" {
		return errors.New("a command has a type")
	}
	if len(f.ID) > 64 {
		return errors.New("id: at most 64 bytes")
	}
	if len(f.AfterID) > 64 {
		return errors.New("after_id: at most 64 bytes")
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
// run is one frame's work, on a short-lived goroutine.
func (w *wsConn) hello(log *slog.Logger, run func(*frame) bool) bool {
	// One deadline for the whole hello, however many bad frames come first:
	// read moves the deadline on at each frame, which let a client that sent
	// garbage now and then hold a socket open without ever starting.
	deadline := time.Now().Add(wsHelloTimeout)
	w.c.SetReadDeadline(deadline)
	w.greeting = true
	defer func() { w.greeting = false }()
	for {
		data, _, ok := w.read()
		if !ok {
			return false
		}
		w.c.SetReadDeadline(deadline)
		var parsed, opened bool
		shallow(log, func() {
			f := w.parse(data)
			if f == nil {
				w.answerNow()
				return
			}
			parsed = true
			if f.V != 0 && f.V != ProtocolVersion {
				w.closeNow(fws.ClosePolicyViolation, "unsupported protocol version")
				return
			}
			opened = run(f)
		})
		if parsed {
			return opened
		}
	}
}

// serveFrames runs each later frame's command (or file chunk), in order,
// each on a short-lived goroutine.
func (w *wsConn) serveFrames(log *slog.Logger, run func(*frame), chunk func([]byte)) {
	for {
		data, binary, ok := w.read()
		if !ok {
			return
		}
		shallow(log, func() {
			if binary {
				chunk(data)
			} else if f := w.parse(data); f != nil {
				run(f)
			}
		})
	}
}

// answerNow writes the queued answers during the hello, before the writer
// runs; later the writer does.
func (w *wsConn) answerNow() {
	if !w.greeting {
		return
	}
	for a, ok := w.pending(); ok; a, ok = w.pending() {
		w.write(a)
	}
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
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.q) == 0 {
		return nil, false
	}
	v := w.q[0]
	w.q = w.q[1:]
	return v, true
}

// sockets are the open connections, for the pinger, in wsPingSlots sets
// pinged one after the other.
type sockets struct {
	mu    sync.Mutex
	slots [wsPingSlots]map[*wsConn]struct{}
	next  int
	// open counts the connections' handlers; empty is closed while none runs.
	open  int
	empty chan struct{}
}

// wsPingSlots spreads the pings over wsPingEvery: one set a second instead
// of every connection at once (10,000 pings and pongs in a burst delayed the
// chat messages around them by tens of milliseconds).
const wsPingSlots = 25

func newSockets() *sockets {
	s := &sockets{}
	for i := range s.slots {
		s.slots[i] = map[*wsConn]struct{}{}
	}
	return s
}

func (s *sockets) add(w *wsConn) {
	s.mu.Lock()
	if s.open == 0 {
		s.empty = make(chan struct{})
	}
	s.open++
	w.slot = uint8(s.next)
	s.next = (s.next + 1) % wsPingSlots
	s.slots[w.slot][w] = struct{}{}
	s.mu.Unlock()
}

func (s *sockets) remove(w *wsConn) {
	s.mu.Lock()
	delete(s.slots[w.slot], w)
	if s.open--; s.open == 0 {
		close(s.empty)
	}
	s.mu.Unlock()
}

// wait returns once no connection's handler runs, or when ctx ends.
func (s *sockets) wait(ctx context.Context) error {
	s.mu.Lock()
	if s.open == 0 {
		s.mu.Unlock()
		return nil
	}
	empty := s.empty
	s.mu.Unlock()
	select {
	case <-empty:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeAll ends every open connection with code (the server is stopping:
// clients reconnect, to this server once it is back or to another).
func (s *sockets) closeAll(code int, reason string) {
	for _, w := range s.all() {
		w.drop(code, reason)
	}
}

func (s *sockets) all() []*wsConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*wsConn
	for _, set := range s.slots {
		for w := range set {
			all = append(all, w)
		}
	}
	return all
}

// pinger pings every open connection every wsPingEvery until ctx ends, so
// that dead peers are found (their reads time out) without a timer per
// connection.
func (s *sockets) pinger(ctx context.Context) {
	t := time.NewTicker(wsPingEvery / wsPingSlots)
	defer t.Stop()
	var buf []*wsConn
	for slot := 0; ; slot = (slot + 1) % wsPingSlots {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		buf = s.ping(slot, buf)
	}
}

// ping pings the connections of one set; buf is reused between calls.
func (s *sockets) ping(slot int, buf []*wsConn) []*wsConn {
	s.mu.Lock()
	buf = buf[:0]
	for w := range s.slots[slot] {
		buf = append(buf, w)
	}
	s.mu.Unlock()
	for _, w := range buf {
		w.push(wsPing{})
	}
	return buf
}

// wsUpgrade keeps only what the handshake needs before the library copies
// every header, cookie and query argument into each connection's maps: an
// idle connection should cost as little memory as possible. readBuffer is
// the connection's read buffer: small for visitors (thousands, mostly idle,
// frames of a few hundred bytes), larger for agents (few, busy).
func wsUpgrade(handler func(*websocket.Conn), readBuffer int) fiber.Handler {
	up := websocket.New(handler, websocket.Config{ReadBufferSize: readBuffer, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{}})
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
		c.Locals(localRequest, c.Context())
		return up(c)
	}
}

// localRequest carries the upgrade's fasthttp request context to the socket
// handler, which calls releaseRequest first (a wrapper's extra frame would
// double every reader's stack, from 4 to 8 KiB).
const localRequest = "ws_request"

// releaseRequest lets go of what fasthttp's request context holds once the
// upgrade is done: fasthttp keeps the context until the hijacked connection
// ends, and its request and response headers, URI and buffers (about 3 KiB)
// are never read again. Fresh zero values, not Reset, which keeps the
// buffers; fasthttp resets the context when the connection ends, as for any
// other, and the zero values match this server's settings (ReduceMemoryUsage:
// no kept body buffers; header names normalized).
func releaseRequest(c *websocket.Conn) {
	if rc, ok := c.Locals(localRequest).(*fasthttp.RequestCtx); ok {
		rc.Request = fasthttp.Request{}
		rc.Response = fasthttp.Response{}
	}
}
