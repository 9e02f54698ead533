package server

import (
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/store"
)

const (
	localSite   = "ws_site"
	localDevice = "ws_device"
	localAgent  = "ws_agent"
	localSubj   = "ws_subject"
	localSess   = "ws_session"
)

func (s *Server) chatRoutes() {
	s.app.Get("/ws/visitor", s.visitorUpgrade, wsUpgrade(s.visitorConn, 256))
	s.app.Get("/chat/files/:fileID", s.visitorFile)
	s.app.Options("/chat/files/:fileID", s.filePreflight)
	s.app.Get("/ws/agent", s.tenantFromQuery, s.authenticate, s.sameOriginOnly, s.authz("chat", "work"), s.agentUpgrade, wsUpgrade(s.agentConn, 4096))
}

// visitorUpgrade checks a visitor socket before the upgrade: a known site,
// one of its allowed origins (browsers always send Origin on a WebSocket),
// and the per-address limit.
func (s *Server) visitorUpgrade(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return &apiError{Status: fiber.StatusUpgradeRequired, Code: "upgrade_required", Message: "this is a WebSocket endpoint"}
	}
	if !s.wsIP.allow(s.proxies.clientIP(c), time.Now()) {
		return tooMany(c, "too many connections from this address")
	}
	if c.Get(fiber.HeaderOrigin) == "" {
		return &apiError{Status: fiber.StatusForbidden, Code: "origin_not_allowed", Message: "an Origin header is required"}
	}
	site, err := s.gate.allowedSite(c, c.Query("site"))
	if err != nil {
		return err
	}
	c.Locals(localSite, site)
	// The user agent is read in the hello, not kept as a map per connection.
	c.Locals(localDevice, strings.Clone(c.Get(fiber.HeaderUserAgent)))
	return c.Next()
}

// sameOriginOnly refuses a cross-site WebSocket: a page elsewhere must not
// ride on an agent's session cookie. Browsers send Origin on every upgrade,
// so a cookie-authenticated one without it is refused too; a bot with a
// bearer token has no origin to send.
func (s *Server) sameOriginOnly(c *fiber.Ctx) error {
	if err := s.sameOrigin(c); err != nil {
		return err
	}
	if p := who(c); p != nil && p.Session != nil && c.Get(fiber.HeaderOrigin) == "" {
		return &apiError{Status: fiber.StatusForbidden, Code: "origin_not_allowed", Message: "a console connection must come from the console's page (no Origin header was sent)"}
	}
	return c.Next()
}

// tenantFromQuery lets a browser, which cannot set headers on a WebSocket,
// name its tenant as ?tenant=.
func (s *Server) tenantFromQuery(c *fiber.Ctx) error {
	if t := c.Query("tenant"); t != "" && c.Get(headerTenant) == "" {
		c.Request().Header.Set(headerTenant, t)
	}
	return c.Next()
}

// agentUpgrade turns the authenticated principal into the engine's agent.
func (s *Server) agentUpgrade(c *fiber.Ctx) error {
	// a.Name is the display name the user chose, or "": visitors never see
	// a part of an email address.
	a := chatAgent(c, s.auth.Enforcer)
	if p := who(c); p.User != nil {
		url, err := s.avatars.avatarURL(c.UserContext(), p.User.ID)
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

func (s *Server) visitorConn(c *websocket.Conn) {
	releaseRequest(c)
	site := c.Locals(localSite).(*store.Site)
	ua, _ := c.Locals(localDevice).(string)
	w := newWSConn(s.ctx, c, s.log, wsVisitorRate)
	defer w.cancel()
	w.delivered = s.metrics.delivered
	w.start()
	s.metrics.sockets.WithLabelValues("visitor").Inc()
	defer s.metrics.sockets.WithLabelValues("visitor").Dec()
	var v chat.Visitor
	if !w.hello(s.log, func(f *frame) (ok bool) {
		v, ok = s.visitorHello(w, f, site, analytics.Device(ua))
		return ok
	}) {
		return
	}
	defer s.chat.DisconnectVisitor(v, w)
	s.sockets.add(w)
	defer s.sockets.remove(w)
	w.begin()
	defer func() { w.drop(fws.CloseNormalClosure, ""); <-w.ended }()
	inflight := make(chan struct{}, wsInflight)
	who := chat.Sender{Kind: "visitor", ID: v.ID}
	defer s.endUpload(w)
	w.serveFrames(s.log, func(f *frame) { s.visitorCommand(w, site, v, f, inflight) },
		func(data []byte) { s.uploadChunk(w, data, v.Tenant, who) })
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
// f.After. On failure it has answered and closed.
func (s *Server) visitorHello(w *wsConn, f *frame, site *store.Site, device map[string]string) (chat.Visitor, bool) {
	var v chat.Visitor
	var token string
	var err error
	switch f.Type {
	case "start":
		meta := chat.Meta{}
		if f.Meta != nil {
			meta = *f.Meta
		}
		meta.Device = device
		if err = s.ops.ResolveOffer(w.ctx, *site, &meta); err == nil {
			v, token, err = s.chat.Start(w.ctx, *site, f.Visitor, meta)
		}
	case "resume":
		v, err = s.chat.VisitorByToken(w.ctx, f.Token)
		if err == nil && v.Site != site.ID {
			err = chat.ErrToken
		}
	default:
		w.fail(f, "hello", "the first frame is start or resume")
		w.closeNow(fws.ClosePolicyViolation, "expected start or resume")
		return v, false
	}
	if err != nil {
		w.failErr(f, err)
		w.closeNow(fws.ClosePolicyViolation, "could not open the conversation")
		return v, false
	}
	view, err := s.chat.ConnectVisitor(w.ctx, v, w)
	if err != nil {
		w.failErr(f, err)
		w.closeNow(fws.CloseInternalServerErr, "")
		return v, false
	}
	history, reset, err := s.chat.VisitorResume(w.ctx, v, f.After, f.AfterID, 1000)
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
		err = w.write(reply{Type: f.Type + "_ok", ID: f.ID, Data: hello})
	}
	if err != nil {
		s.chat.DisconnectVisitor(v, w)
		w.failErr(f, err)
		w.closeNow(fws.CloseInternalServerErr, "")
		return v, false
	}
	return v, true
}

func (s *Server) visitorCommand(w *wsConn, site *store.Site, v chat.Visitor, f *frame, inflight chan struct{}) {
	ctx := w.ctx
	switch f.Type {
	case "send":
		wait, err := s.chat.VisitorPost(ctx, v, chat.Message{ClientID: f.ClientID, Resend: f.Resend, Kind: f.Kind, Text: f.Text, Payload: f.Payload, Origin: w})
		if err != nil {
			w.failErr(f, err)
			return
		}
		ackWhenCommitted(w, f, inflight, func() (chat.Message, error) { return wait(ctx) })
	case "typing":
		s.chat.VisitorTyping(v, f.Text)
	case "read":
		s.chat.VisitorRead(v, f.Seq)
	case "set", "identify":
		// What the page says of the visitor after the chat started reaches
		// the agent too; an identity only when the site's server signed it.
		about := chat.Meta{Vars: f.Vars, Identity: f.Identity}
		if (f.Type == "set") != (f.Vars != nil) || (f.Type == "identify") != (f.Identity != nil) || f.Vars != nil && f.Identity != nil {
			w.fail(f, "invalid", "set takes vars; identify takes identity")
			return
		}
		if err := s.ops.ResolveOffer(ctx, *site, &about); err != nil {
			w.failErr(f, err)
			return
		}
		if f.Type == "identify" && about.Identity == nil {
			w.fail(f, "invalid", "identity: the hash does not match the id (the site's server signs it)")
			return
		}
		s.answer(w, f, s.chat.VisitorAbout(ctx, v, about.Vars, about.Identity))
	case "page":
		if f.Page == nil {
			w.fail(f, "invalid", "page: a url and a title")
			return
		}
		s.answer(w, f, s.chat.VisitorPage(ctx, v, *f.Page))
	case "history":
		ms, err := s.chat.VisitorHistory(ctx, v, f.After, f.Limit)
		if err != nil {
			w.failErr(f, err)
			return
		}
		w.ok(f, map[string]any{"messages": ms})
	case "close":
		s.answer(w, f, s.chat.VisitorClose(ctx, v))
	case "rate":
		s.answer(w, f, s.chat.Rate(ctx, v, f.Score))
	case "leave_message":
		s.answer(w, f, s.chat.LeaveMessage(ctx, v, f.Name, f.Email, f.Text))
	case "upload":
		s.startUpload(w, f, v.Tenant, v.Conversation, chat.Sender{Kind: "visitor", ID: v.ID}, nil)
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

func (s *Server) answer(w *wsConn, f *frame, err error) {
	if err != nil {
		w.failErr(f, err)
		return
	}
	w.ok(f, nil)
}

func (s *Server) agentConn(c *websocket.Conn) {
	releaseRequest(c)
	a := c.Locals(localAgent).(chat.Agent)
	subject, _ := c.Locals(localSubj).(string)
	session, _ := c.Locals(localSess).(string)
	checked := time.Now()
	w := newWSConn(s.ctx, c, s.log, wsAgentRate)
	defer w.cancel()
	w.delivered = s.metrics.delivered
	w.start()
	s.metrics.sockets.WithLabelValues("agent").Inc()
	defer s.metrics.sockets.WithLabelValues("agent").Dec()
	if !w.hello(s.log, func(f *frame) bool {
		if f.Type != "hello" {
			w.fail(f, "hello", "the first frame is hello")
			w.closeNow(fws.ClosePolicyViolation, "expected hello")
			return false
		}
		if f.Queues != nil {
			if err := s.chat.SetWorking(w.ctx, a, f.Queues, true); err != nil {
				w.failErr(f, err)
				w.closeNow(fws.ClosePolicyViolation, "could not connect")
				return false
			}
		}
		snap, err := s.chat.ConnectAgent(w.ctx, a, w, f.Status)
		if err != nil {
			w.failErr(f, err)
			w.closeNow(fws.ClosePolicyViolation, "could not connect")
			return false
		}
		me := map[string]any{"id": a.User, "name": a.Name, "tenant": a.Tenant, "supervise": a.Supervise, "bot": a.Bot}
		if err := w.write(reply{Type: "hello_ok", ID: f.ID, Data: map[string]any{"v": ProtocolVersion, "me": me, "state": snap}}); err != nil {
			s.chat.DisconnectAgent(a, w)
			return false
		}
		return true
	}) {
		return
	}
	defer s.chat.DisconnectAgent(a, w)
	defer s.endUpload(w)
	s.sockets.add(w)
	defer s.sockets.remove(w)
	w.begin()
	defer func() { w.drop(fws.CloseNormalClosure, ""); <-w.ended }()
	inflight := make(chan struct{}, wsInflight)
	w.serveFrames(s.log, func(f *frame) {
		// A role can change (or a token be revoked) while the socket is open:
		// every command is authorized against the policy as it is now.
		if !s.auth.Enforcer.Allowed(subject, a.Tenant, "chat", "work") {
			w.fail(f, "forbidden", "your role may no longer work chats")
			w.end(fws.ClosePolicyViolation, "no longer allowed")
			return
		}
		// A console session can end (logout, expiry, password change) while
		// its socket is open: look again now and then.
		if session != "" && time.Since(checked) >= s.sessionCheck {
			checked = time.Now()
			if _, _, err := s.auth.Session(w.ctx, session); err != nil {
				w.fail(f, "unauthenticated", "your session has ended; log in again")
				w.end(fws.ClosePolicyViolation, "session ended")
				return
			}
		}
		a.Supervise = s.auth.Enforcer.Allowed(subject, a.Tenant, "chat", "supervise")
		s.agentCommand(w, a, f, inflight)
	}, func(data []byte) { s.uploadChunk(w, data, a.Tenant, chat.Sender{Kind: agentKind(a), ID: a.User}) })
}

func agentKind(a chat.Agent) string {
	if a.Bot {
		return "bot"
	}
	return "agent"
}

func (s *Server) agentCommand(w *wsConn, a chat.Agent, f *frame, inflight chan struct{}) {
	ctx, e, id := w.ctx, s.chat, f.Conversation
	switch f.Type {
	case "send":
		m := chat.Message{ClientID: f.ClientID, Resend: f.Resend, Kind: f.Kind, Text: f.Text, Payload: f.Payload, Origin: w}
		if f.Canned != "" {
			// A canned response (by id or shortcut), its placeholders filled.
			cr, err := s.st.CannedOne(ctx, a.Tenant, f.Canned)
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
		s.answer(w, f, e.SetPresence(ctx, a, f.Status))
	case "accept":
		s.answer(w, f, e.Accept(ctx, a, id))
	case "decline":
		s.answer(w, f, e.Decline(ctx, a, id))
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
		vc, err := e.Context(ctx, a, id)
		if err != nil {
			w.failErr(f, err)
			return
		}
		w.ok(f, vc)
	case "transfer":
		s.answer(w, f, e.Transfer(ctx, a, id, f.Agent, f.Queue, f.Note))
	case "invite":
		s.answer(w, f, e.Invite(ctx, a, id, f.Agent, f.Mode, f.Note))
	case "leave":
		s.answer(w, f, e.Leave(ctx, a, id))
	case "monitor":
		s.answer(w, f, e.Monitor(ctx, a, id))
	case "barge":
		s.answer(w, f, e.Barge(ctx, a, id))
	case "assign":
		s.answer(w, f, e.Assign(ctx, a, id, f.Agent))
	case "hold":
		s.answer(w, f, e.Hold(ctx, a, id))
	case "reopen":
		s.answer(w, f, e.Reopen(ctx, a, id))
	case "close":
		s.answer(w, f, e.CloseChat(ctx, a, id, f.Disposition, f.Tags))
	case "upload":
		s.startUpload(w, f, a.Tenant, id, chat.Sender{Kind: agentKind(a), ID: a.User}, &a)
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
