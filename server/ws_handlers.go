package server

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/contacts"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/store"
)

// socketAPI serves the chat's WebSockets (visitors and agents) and the files they exchange.
type socketAPI struct {
	st           *store.Store
	chat         *chat.Engine
	ops          *ops.Service
	auth         *auth.Service
	log          *slog.Logger
	metrics      *metrics
	sockets      *sockets
	ctx          context.Context
	sessionCheck time.Duration
	wsIP         *keyedLimiter
	proxies      trustedProxies
	gate         siteGate
	uploading    *atomic.Int64
	avatars      avatarAPI
	relays       relays // in a cluster: the sockets relayed to the tenants' nodes, and those this node serves
}

const (
	localSite   = "ws_site"
	localDevice = "ws_device"
	localAgent  = "ws_agent"
	localSubj   = "ws_subject"
	localSess   = "ws_session"
	localNative = "ws_native"
)

// closeVisitorToken closes a visitor socket whose visitor token is missing
// where one is required, or refused (forged, expired, another site's).
const closeVisitorToken = 4401

// visitorUpgrade checks a visitor socket before the upgrade: a known site,
// one of its allowed origins (browsers always send Origin on a WebSocket),
// and the per-address limit. A client without an Origin (an app) is let in
// to prove its visitor with a visitor token in its first frame instead.
func (h *socketAPI) visitorUpgrade(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return &apiError{Status: fiber.StatusUpgradeRequired, Code: "upgrade_required", Message: "this is a WebSocket endpoint"}
	}
	if !h.wsIP.allow(h.proxies.clientIP(c), time.Now()) {
		return tooMany(c, "too many connections from this address")
	}
	var site *store.Site
	var err error
	if c.Get(fiber.HeaderOrigin) == "" {
		if site, err = h.ops.Site(c.UserContext(), c.Query("site")); err == nil && site == nil {
			err = &apiError{Status: fiber.StatusNotFound, Code: "unknown_site", Message: "no site has this key"}
		}
		c.Locals(localNative, true)
	} else {
		site, err = h.gate.allowedSite(c, c.Query("site"))
	}
	if err != nil {
		return err
	}
	c.Locals(localSite, site)
	// The user agent is read in the hello, not kept as a map per connection.
	c.Locals(localDevice, strings.Clone(c.Get(fiber.HeaderUserAgent)))
	return c.Next()
}

// agentUpgrade turns the authenticated principal into the engine's agent.
func (h *socketAPI) agentUpgrade(c *fiber.Ctx) error {
	// a.Name is the display name the user chose, or "": visitors never see
	// a part of an email address.
	a := chatAgent(c, h.auth.Enforcer)
	if p := who(c); p.User != nil {
		url, err := h.avatars.avatarURL(c.UserContext(), p.User.ID)
		if err != nil {
			return err
		}
		a.Avatar = url
	}
	c.Locals(localAgent, a)
	c.Locals(localSubj, who(c).Subject)
	if p := who(c); p.Session != nil {
		c.Locals(localSess, p.secret)
	}
	return c.Next()
}

// visitorSocket is what the upgrade learnt of a visitor socket: all its
// session needs of the request.
type visitorSocket struct {
	Site   *store.Site
	Device string // the user agent
	Native bool   // no Origin: an app, which proves its visitor with a token
}

func (h *socketAPI) visitorConn(c *websocket.Conn) {
	releaseRequest(c)
	ua, _ := c.Locals(localDevice).(string)
	native, _ := c.Locals(localNative).(bool)
	site := c.Locals(localSite).(*store.Site)
	if !h.ops.RunsTenant(site.TenantID) {
		h.relay(c, site.TenantID, relayHello{Kind: "visitor", SiteKey: site.Key, Device: ua, Native: native})
		return
	}
	h.visitorSession(c, visitorSocket{Site: site, Device: ua, Native: native})
}

// visitorSession runs a visitor's connection to its end.
func (h *socketAPI) visitorSession(c frameConn, s visitorSocket) {
	site, ua, native := s.Site, s.Device, s.Native
	w := newWSConn(h.ctx, c, h.log, wsVisitorRate)
	defer w.cancel()
	w.delivered = h.metrics.delivered
	w.start()
	h.metrics.sockets.WithLabelValues("visitor").Inc()
	defer h.metrics.sockets.WithLabelValues("visitor").Dec()
	var v chat.Visitor
	var proved *chat.Identity
	if !w.hello(h.log, func(f *frame) (ok bool) {
		v, proved, ok = h.visitorHello(w, f, site, analytics.Device(ua), native)
		return ok
	}) {
		return
	}
	defer h.chat.DisconnectVisitor(v, w)
	h.sockets.add(w)
	defer h.sockets.remove(w)
	w.begin()
	defer func() { w.drop(fws.CloseNormalClosure, ""); <-w.ended }()
	inflight := make(chan struct{}, wsInflight)
	who := chat.Sender{Kind: "visitor", ID: v.ID}
	defer h.endUpload(w)
	w.serveFrames(h.log, func(f *frame) { h.visitorCommand(w, site, v, proved, f, inflight) },
		func(data []byte) { h.uploadChunk(w, data, v.Tenant, who) })
}

// shallow runs fn on a goroutine of its own and waits for it. A
// connection's reader goroutine lives as long as the connection; the
// database work of a command needs a deep stack, which that goroutine would
// otherwise keep (and idle connections would cost it) for hours.
func shallow(log *slog.Logger, fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				log.Error("chat command panicked", "panic", p, "stack", string(debug.Stack()))
			}
		}()
		fn()
	}()
	<-done
}

// visitorHello opens or resumes the visitor's conversation, registers the
// connection and answers with the conversation and its messages after
// f.After. A visitor token, required of a native client (no Origin), is
// checked before anything changes; the identity it proves replaces what the
// page claims. On failure it has answered and closed.
func (h *socketAPI) visitorHello(w *wsConn, f *frame, site *store.Site, device map[string]string, native bool) (chat.Visitor, *chat.Identity, bool) {
	var v chat.Visitor
	var token string
	var err error
	var proved *chat.Identity
	secured := site.Settings.SecuredChat
	if native || secured || f.VisitorToken != "" {
		claims, err := contacts.ParseVisitorToken(site.IdentitySecret, site.Key, f.VisitorToken, time.Now())
		if err != nil {
			msg := err.Error()
			if secured && errors.Is(err, contacts.ErrTokenMissing) {
				msg = "this site's chat is for signed-in customers: the page passes a visitor token its site's server signed"
			}
			w.fail(f, "visitor_token", msg)
			w.closeNow(closeVisitorToken, "visitor token refused")
			return v, nil, false
		}
		proved = &chat.Identity{ID: claims.Subject, Email: claims.Email, Name: claims.Name, Verified: true, By: "token"}
	}
	switch f.Type {
	case "start":
		meta := chat.Meta{}
		if f.Meta != nil {
			meta = *f.Meta
		}
		meta.Device = device
		err = h.ops.ResolveOffer(w.ctx, *site, &meta)
		by := "hash"
		if proved != nil {
			meta.Identity, by = proved, "token"
		}
		// A proved visitor with a chat open on this site (begun on another
		// device, or an earlier page of a secured site) continues it.
		continued := false
		if err == nil && proved != nil {
			if cv, cerr := h.chat.ContinueVerified(w.ctx, *site, proved); cerr == nil {
				v, continued = cv, true
			}
		}
		if err == nil && !continued {
			v, token, err = h.chat.Start(w.ctx, *site, f.Visitor, meta)
		}
		if err == nil {
			h.ops.Identified(*site, v.ID, meta.Identity, by)
		}
	case "resume":
		switch {
		case proved != nil && (f.Token == "" || secured):
			// By who the token proves: a secured site keeps no chat token
			// in the browser.
			v, err = h.chat.ContinueVerified(w.ctx, *site, proved)
		case f.Token == "":
			err = chat.ErrToken
		default:
			v, err = h.chat.VisitorByToken(w.ctx, f.Token)
			if err == nil && v.Site != site.ID {
				err = chat.ErrToken
			}
		}
	default:
		w.fail(f, "hello", "the first frame is start or resume")
		w.closeNow(fws.ClosePolicyViolation, "expected start or resume")
		return v, nil, false
	}
	if err != nil {
		w.failErr(f, err)
		w.closeNow(fws.ClosePolicyViolation, "could not open the conversation")
		return v, nil, false
	}
	view, err := h.chat.ConnectVisitor(w.ctx, v, w)
	if err != nil {
		w.failErr(f, err)
		w.closeNow(fws.CloseInternalServerErr, "")
		return v, nil, false
	}
	history, reset, err := h.chat.VisitorResume(w.ctx, v, f.After, f.AfterID, 1000)
	if err == nil {
		if len(history) > 0 {
			w.skip = map[string]int64{v.Conversation: history[len(history)-1].Seq}
		}
		hello := map[string]any{"v": ProtocolVersion, "conversation": view, "messages": history}
		if reset {
			hello["reset"] = true
		}
		if token != "" {
			hello["token"] = token
		}
		if h.ops.TranscriptsOffered(w.ctx, v.Tenant) {
			hello["transcripts"] = true
		}
		err = w.write(reply{Type: f.Type + "_ok", ID: f.ID, Data: hello})
	}
	if err != nil {
		h.chat.DisconnectVisitor(v, w)
		w.failErr(f, err)
		w.closeNow(fws.CloseInternalServerErr, "")
		return v, nil, false
	}
	return v, proved, true
}

// visitorCommand runs a visitor's command; proved is the identity a
// visitor token proved at the hello, if one did.
func (h *socketAPI) visitorCommand(w *wsConn, site *store.Site, v chat.Visitor, proved *chat.Identity, f *frame, inflight chan struct{}) {
	ctx := w.ctx
	switch f.Type {
	case "send":
		wait, err := h.chat.VisitorPost(ctx, v, chat.Message{ClientID: f.ClientID, Resend: f.Resend, Kind: f.Kind, Text: f.Text, Payload: f.Payload, Origin: w})
		if err != nil {
			w.failErr(f, err)
			return
		}
		ackWhenCommitted(w, f, inflight, func() (chat.Message, error) { return wait(ctx) })
	case "typing":
		h.chat.VisitorTyping(v, f.Text)
	case "read":
		h.chat.VisitorRead(v, f.Seq)
	case "set", "identify":
		// What the page says of the visitor after the chat started reaches
		// the agent too; an identity only when the site's server signed it.
		about := chat.Meta{Vars: f.Vars, Identity: f.Identity}
		if (f.Type == "set") != (f.Vars != nil) || (f.Type == "identify") != (f.Identity != nil) || f.Vars != nil && f.Identity != nil {
			w.fail(f, "invalid", "set takes vars; identify takes identity")
			return
		}
		// Who a visitor token proved stays who the chat is with; on a secured
		// site only a token proves anyone (a hash never expires).
		if f.Type == "identify" && (proved != nil || site.Settings.SecuredChat) {
			w.fail(f, "visitor_token", "the visitor token says who the visitor is: identify is not taken on this connection")
			return
		}
		if err := h.ops.ResolveOffer(ctx, *site, &about); err != nil {
			w.failErr(f, err)
			return
		}
		if f.Type == "identify" && about.Identity == nil {
			w.fail(f, "invalid", "identity: the hash does not match the id (the site's server signs it)")
			return
		}
		err := h.chat.VisitorAbout(ctx, v, about.Vars, about.Identity)
		if err == nil {
			h.ops.Identified(*site, v.ID, about.Identity, "hash")
		}
		h.answer(w, f, err)
	case "page":
		if f.Page == nil {
			w.fail(f, "invalid", "page: a url and a title")
			return
		}
		h.answer(w, f, h.chat.VisitorPage(ctx, v, *f.Page))
	case "history":
		ms, err := h.chat.VisitorHistory(ctx, v, f.After, f.Limit)
		if err != nil {
			w.failErr(f, err)
			return
		}
		w.ok(f, map[string]any{"messages": ms})
	case "close":
		h.answer(w, f, h.chat.VisitorClose(ctx, v))
	case "rate":
		h.answer(w, f, h.chat.Rate(ctx, v, f.Score))
	case "leave_message":
		h.answer(w, f, h.chat.LeaveMessage(ctx, v, f.Name, f.Email, f.Text))
	case "transcript":
		h.answer(w, f, h.ops.RequestTranscript(ctx, v, f.Email))
	case "upload":
		h.startUpload(w, f, v.Tenant, v.Conversation, chat.Sender{Kind: "visitor", ID: v.ID}, nil)
	case "ping":
		w.ok(f, nil)
	default:
		w.fail(f, "unknown_type", "unknown command "+f.Type)
	}
}

// ackWhenCommitted answers a send once its message is committed, without
// holding up the connection's next commands (at most wsInflight wait).
func ackWhenCommitted(w *wsConn, f *frame, inflight chan struct{}, wait func() (chat.Message, error)) {
	inflight <- struct{}{}
	go func() {
		defer func() { <-inflight }()
		m, err := wait()
		if err != nil {
			w.failErr(f, err)
			return
		}
		// The readers first: the ack is queued once their writers took the
		// message (they have it by the commit at the latest).
		for _, r := range m.Readers {
			if r, ok := r.(*wsConn); ok && r != w {
				r.handedOff()
			}
		}
		m.Readers = nil
		w.push(reply{Type: "ack", ID: f.ID, Data: m})
	}()
}

func (h *socketAPI) answer(w *wsConn, f *frame, err error) {
	if err != nil {
		w.failErr(f, err)
		return
	}
	w.ok(f, nil)
}

// agentSocket is what the upgrade learnt of an agent socket: who it is,
// as the engine and the policy know them, and its console session.
type agentSocket struct {
	Agent   chat.Agent
	Subject string // casbin's subject: user:ID or token:ID
	Session string // the console session's secret; "" for an API token
}

func (h *socketAPI) agentConn(c *websocket.Conn) {
	releaseRequest(c)
	subject, _ := c.Locals(localSubj).(string)
	session, _ := c.Locals(localSess).(string)
	a := c.Locals(localAgent).(chat.Agent)
	if !h.ops.RunsTenant(a.Tenant) {
		h.relay(c, a.Tenant, relayHello{Kind: "agent", Agent: &a, Subject: subject, Session: session})
		return
	}
	h.agentSession(c, agentSocket{Agent: a, Subject: subject, Session: session})
}

// agentSession runs an agent's connection to its end.
func (h *socketAPI) agentSession(c frameConn, s agentSocket) {
	a, subject, session := s.Agent, s.Subject, s.Session
	checked := time.Now()
	w := newWSConn(h.ctx, c, h.log, wsAgentRate)
	defer w.cancel()
	w.delivered = h.metrics.delivered
	w.start()
	h.metrics.sockets.WithLabelValues("agent").Inc()
	defer h.metrics.sockets.WithLabelValues("agent").Dec()
	if !w.hello(h.log, func(f *frame) bool {
		if f.Type != "hello" {
			w.fail(f, "hello", "the first frame is hello")
			w.closeNow(fws.ClosePolicyViolation, "expected hello")
			return false
		}
		if f.Queues != nil {
			if err := h.chat.SetWorking(w.ctx, a, f.Queues, true); err != nil {
				w.failErr(f, err)
				w.closeNow(fws.ClosePolicyViolation, "could not connect")
				return false
			}
		}
		snap, err := h.chat.ConnectAgent(w.ctx, a, w, f.Status)
		if err != nil {
			w.failErr(f, err)
			w.closeNow(fws.ClosePolicyViolation, "could not connect")
			return false
		}
		me := map[string]any{"id": a.User, "name": a.Name, "tenant": a.Tenant, "supervise": a.Supervise, "bot": a.Bot}
		if err := w.write(reply{Type: "hello_ok", ID: f.ID, Data: map[string]any{"v": ProtocolVersion, "me": me, "state": snap}}); err != nil {
			h.chat.DisconnectAgent(a, w)
			return false
		}
		return true
	}) {
		return
	}
	defer h.chat.DisconnectAgent(a, w)
	defer h.endUpload(w)
	h.sockets.add(w)
	defer h.sockets.remove(w)
	w.begin()
	defer func() { w.drop(fws.CloseNormalClosure, ""); <-w.ended }()
	inflight := make(chan struct{}, wsInflight)
	w.serveFrames(h.log, func(f *frame) {
		// A role can change (or a token be revoked) while the socket is open:
		// every command is authorized against the policy as it is now.
		if !h.auth.Enforcer.Allowed(subject, a.Tenant, "chat", "work") {
			w.fail(f, "forbidden", "your role may no longer work chats")
			w.end(fws.ClosePolicyViolation, "no longer allowed")
			return
		}
		// A console session can end (logout, expiry, password change) while
		// its socket is open: look again now and then.
		if session != "" && time.Since(checked) >= h.sessionCheck {
			checked = time.Now()
			if _, _, err := h.auth.Session(w.ctx, session); errors.Is(err, auth.ErrNoSession) || errors.Is(err, store.ErrNotFound) {
				w.fail(f, "unauthenticated", "your session has ended; log in again")
				w.end(fws.ClosePolicyViolation, "session ended")
				return
			} else if err != nil {
				// The database not answering ends nobody's session: the
				// next command looks again.
				checked = time.Time{}
			}
		}
		a.Supervise = h.auth.Enforcer.Allowed(subject, a.Tenant, "chat", "supervise")
		h.agentCommand(w, a, f, inflight)
	}, func(data []byte) { h.uploadChunk(w, data, a.Tenant, chat.Sender{Kind: agentKind(a), ID: a.User}) })
}

func agentKind(a chat.Agent) string {
	if a.Bot {
		return "bot"
	}
	return "agent"
}

func (h *socketAPI) agentCommand(w *wsConn, a chat.Agent, f *frame, inflight chan struct{}) {
	ctx, e, id := w.ctx, h.chat, f.Conversation
	switch f.Type {
	case "send":
		m := chat.Message{ClientID: f.ClientID, Resend: f.Resend, Kind: f.Kind, Text: f.Text, Payload: f.Payload, Origin: w}
		if f.Canned != "" {
			// A canned response (by id or shortcut), its placeholders filled.
			cr, err := h.st.CannedOne(ctx, a.Tenant, f.Canned)
			if err != nil {
				w.fail(f, "not_found", "no such canned response")
				return
			}
			if m.Text, err = e.Expand(ctx, a, id, cr.Text); err != nil {
				w.failErr(f, err)
				return
			}
		}
		if f.Internal {
			m.Audience = chat.AudienceAgents
		}
		p, err := e.AgentPost(ctx, a, id, m)
		if err != nil {
			w.failErr(f, err)
			return
		}
		ackWhenCommitted(w, f, inflight, func() (chat.Message, error) {
			m, err := p.Wait(ctx)
			m.Sender.Name = a.Name
			return m, err
		})
	case "presence":
		if f.Queues != nil {
			if err := e.SetWorking(ctx, a, f.Queues, false); err != nil {
				w.failErr(f, err)
				return
			}
			if f.Status == "" {
				w.ok(f, nil)
				return
			}
		}
		h.answer(w, f, e.SetPresence(ctx, a, f.Status))
	case "accept":
		h.answer(w, f, e.Accept(ctx, a, id))
	case "decline":
		h.answer(w, f, e.Decline(ctx, a, id))
	case "typing":
		e.Typing(a, id, f.On)
	case "read":
		e.Read(a, id, f.Seq)
	case "history":
		ms, err := e.History(ctx, a, id, f.After, f.Limit)
		if err != nil {
			w.failErr(f, err)
			return
		}
		w.ok(f, map[string]any{"conversation": id, "messages": ms})
	case "context":
		cc, err := h.ops.ChatContext(ctx, a, id)
		if err != nil {
			w.failErr(f, err)
			return
		}
		w.ok(f, cc)
	case "transfer":
		h.answer(w, f, e.Transfer(ctx, a, id, f.Agent, f.Queue, f.Note))
	case "invite":
		h.answer(w, f, e.Invite(ctx, a, id, f.Agent, f.Mode, f.Note))
	case "leave":
		h.answer(w, f, e.Leave(ctx, a, id))
	case "monitor":
		h.answer(w, f, e.Monitor(ctx, a, id))
	case "barge":
		h.answer(w, f, e.Barge(ctx, a, id))
	case "assign":
		h.answer(w, f, e.Assign(ctx, a, id, f.Agent))
	case "hold":
		h.answer(w, f, e.Hold(ctx, a, id))
	case "reopen":
		h.answer(w, f, e.Reopen(ctx, a, id))
	case "close":
		h.answer(w, f, e.CloseChat(ctx, a, id, f.Disposition, f.Tags))
	case "upload":
		h.startUpload(w, f, a.Tenant, id, chat.Sender{Kind: agentKind(a), ID: a.User}, &a)
	case "live":
		live, err := e.WatchLive(ctx, a, w, f.On)
		if err != nil {
			w.failErr(f, err)
			return
		}
		w.ok(f, live)
	case "ping":
		w.ok(f, nil)
	default:
		w.fail(f, "unknown_type", "unknown command "+f.Type)
	}
}
