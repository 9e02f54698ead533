package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/cluster"
)

// In a cluster a chat socket may reach any node, while its tenant's chats
// run on one (ops.RunsTenant). The node that holds the socket relays it:
// it opens a pipe to the tenant's node (cluster.Pipe) with what its upgrade
// learnt (relayHello), then copies frames both ways and answers the
// client's pings itself. The tenant's node runs the same session as for a
// socket of its own, over the pipe (pipeConn). When the tenant moves, the
// relayed sockets close with 1012 and their clients connect again, to the
// new node through whichever they reach.

// relayHello is what the relaying node tells the tenant's node of a socket.
type relayHello struct {
	Kind    string      `json:"kind"` // visitor or agent
	SiteKey string      `json:"site_key,omitempty"`
	Device  string      `json:"device,omitempty"`
	Native  bool        `json:"native,omitempty"`
	Agent   *chat.Agent `json:"agent,omitempty"`
	Subject string      `json:"subject,omitempty"`
	Session string      `json:"session,omitempty"`
}

// relays are the sockets this node relays, by tenant, and the pipes it
// serves for the tenants it runs.
type relays struct {
	mu      sync.Mutex
	out     map[string]map[*cluster.Pipe]bool // tenant → pipes to its node
	serving map[string]func()                 // tenant → stop serving its pipes
}

// tenantChanged follows the tenants this node runs: it serves the pipes of
// those it runs, and drops the sockets it relays for a tenant whose node
// changed (to another, or to this one: they connect again, here).
func (h *socketAPI) tenantChanged(tenant string, runs bool) {
	bus := h.ops.Bus()
	h.relays.mu.Lock()
	defer h.relays.mu.Unlock()
	for p := range h.relays.out[tenant] {
		p.Close(fws.CloseServiceRestart, "the chat moved: reconnect")
	}
	delete(h.relays.out, tenant)
	if runs {
		if _, ok := h.relays.serving[tenant]; !ok {
			stop, err := bus.ServeTenant(tenant, h.acceptPipe)
			if err != nil {
				h.log.Error("cluster: serve a tenant's relayed sockets", "tenant", tenant, "err", err)
				return
			}
			h.relays.serving[tenant] = stop
		}
		return
	}
	if stop := h.relays.serving[tenant]; stop != nil {
		stop()
		delete(h.relays.serving, tenant)
	}
}

// acceptPipe starts the session of a socket another node relays here.
func (h *socketAPI) acceptPipe(p *cluster.Pipe, hello []byte) error {
	var r relayHello
	if err := json.Unmarshal(hello, &r); err != nil {
		return fmt.Errorf("a relayed socket's hello: %w", err)
	}
	c := newPipeConn(p)
	switch r.Kind {
	case "visitor":
		site, err := h.ops.Site(h.ctx, r.SiteKey)
		if err != nil || site == nil {
			return fmt.Errorf("a relayed socket's site %q is not known here", r.SiteKey)
		}
		go h.visitorSession(c, visitorSocket{Site: site, Device: r.Device, Native: r.Native})
	case "agent":
		if r.Agent == nil {
			return errors.New("a relayed agent socket without its agent")
		}
		go h.agentSession(c, agentSocket{Agent: *r.Agent, Subject: r.Subject, Session: r.Session})
	default:
		return fmt.Errorf("a relayed socket of kind %q", r.Kind)
	}
	return nil
}

// relay copies a client socket to the node that runs its tenant until
// either ends it.
func (h *socketAPI) relay(c *websocket.Conn, tenant string, hello relayHello) {
	body, _ := json.Marshal(hello)
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	p, err := h.ops.Bus().OpenPipe(ctx, tenant, body)
	cancel()
	if err != nil {
		// Between two owners (or the bus is down): the client tries again.
		h.log.Debug("cluster: relay a socket", "tenant", tenant, "err", err)
		c.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(fws.CloseTryAgainLater, "the chat is moving: try again"), time.Now().Add(time.Second))
		c.Close()
		return
	}
	h.relays.mu.Lock()
	if h.relays.out[tenant] == nil {
		h.relays.out[tenant] = map[*cluster.Pipe]bool{}
	}
	h.relays.out[tenant][p] = true
	h.relays.mu.Unlock()
	defer func() {
		h.relays.mu.Lock()
		delete(h.relays.out[tenant], p)
		h.relays.mu.Unlock()
	}()
	// From the client: frames go as they come; its close, or its silence
	// past the pong wait, ends the pipe.
	c.SetReadLimit(wsMaxFrame)
	c.SetReadDeadline(time.Now().Add(wsPongWait))
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(wsPongWait)) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			typ, data, err := c.ReadMessage()
			if err != nil {
				code := fws.CloseGoingAway
				var ce *fws.CloseError
				if errors.As(err, &ce) {
					code = ce.Code
				}
				p.Close(code, "the client left")
				return
			}
			kind := cluster.FrameText
			if typ == fws.BinaryMessage {
				kind = cluster.FrameBinary
			}
			if p.Send(kind, data) != nil {
				return
			}
		}
	}()
	// To the client: the node's frames, its close, and pings.
	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	closeWith := func(code int, reason string) {
		c.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		c.Close()
		<-done
	}
	for {
		select {
		case f := <-p.Frames():
			switch f.Kind {
			case cluster.FrameText, cluster.FrameBinary:
				typ := fws.TextMessage
				if f.Kind == cluster.FrameBinary {
					typ = fws.BinaryMessage
				}
				c.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
				if err := c.WriteMessage(typ, f.Data); err != nil {
					p.Close(fws.CloseGoingAway, "the client is gone")
					c.Close()
					<-done
					return
				}
			case cluster.FramePing:
				p.Send(cluster.FramePong, nil)
			case cluster.FrameClose:
				closeWith(cluster.CloseFrame(f.Data))
				return
			}
		case <-p.Closed():
			closeWith(fws.CloseServiceRestart, "the chat moved: reconnect")
			return
		case <-done:
			c.Close()
			return
		case <-ping.C:
			c.WriteControl(fws.PingMessage, nil, time.Now().Add(wsWriteTimeout))
		}
	}
}

// pipeConn is a relayed socket as the tenant's node sees it: a frameConn
// over a pipe. The relaying node enforces the frame limit and watches the
// client; here the read deadline stands for the relay's pongs.
type pipeConn struct {
	p *cluster.Pipe

	mu       sync.Mutex
	deadline time.Time
	pong     func(string) error
	once     sync.Once
}

func newPipeConn(p *cluster.Pipe) *pipeConn { return &pipeConn{p: p} }

// errPipeTimeout is a read past the deadline.
type errPipeTimeout struct{}

func (errPipeTimeout) Error() string   { return "cluster: the relayed socket was silent too long" }
func (errPipeTimeout) Timeout() bool   { return true }
func (errPipeTimeout) Temporary() bool { return false }

func (c *pipeConn) ReadMessage() (int, []byte, error) {
	for {
		c.mu.Lock()
		d, pong := c.deadline, c.pong
		c.mu.Unlock()
		var timeout <-chan time.Time
		var t *time.Timer
		if !d.IsZero() {
			t = time.NewTimer(time.Until(d))
			timeout = t.C
		}
		f, got, err := c.next(timeout)
		if t != nil {
			t.Stop()
		}
		if err != nil {
			return 0, nil, err
		}
		if !got {
			continue
		}
		switch f.Kind {
		case cluster.FrameText:
			return fws.TextMessage, f.Data, nil
		case cluster.FrameBinary:
			return fws.BinaryMessage, f.Data, nil
		case cluster.FramePong:
			if pong != nil {
				pong("")
			}
		case cluster.FrameClose:
			code, reason := cluster.CloseFrame(f.Data)
			return 0, nil, &fws.CloseError{Code: code, Text: reason}
		}
	}
}

// next waits for the relay's next frame, the pipe's end, or the deadline.
func (c *pipeConn) next(timeout <-chan time.Time) (cluster.Frame, bool, error) {
	select {
	case f := <-c.p.Frames():
		return f, true, nil
	case <-c.p.Closed():
		return cluster.Frame{}, false, &fws.CloseError{Code: fws.CloseAbnormalClosure, Text: "the relay is gone"}
	case <-timeout:
		return cluster.Frame{}, false, errPipeTimeout{}
	}
}

func (c *pipeConn) WriteMessage(typ int, data []byte) error {
	kind := cluster.FrameText
	if typ == fws.BinaryMessage {
		kind = cluster.FrameBinary
	}
	return c.p.Send(kind, data)
}

func (c *pipeConn) WriteControl(typ int, data []byte, _ time.Time) error {
	switch typ {
	case fws.CloseMessage:
		code, reason := fws.CloseNormalClosure, ""
		if len(data) >= 2 {
			code, reason = int(binary.BigEndian.Uint16(data)), string(data[2:])
		}
		c.once.Do(func() { c.p.Close(code, reason) })
	case fws.PingMessage:
		return c.p.Send(cluster.FramePing, nil)
	}
	return nil
}

func (c *pipeConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }
func (c *pipeConn) SetReadLimit(int64)               {}

func (c *pipeConn) SetPongHandler(h func(string) error) {
	c.mu.Lock()
	c.pong = h
	c.mu.Unlock()
}

func (c *pipeConn) Close() error {
	c.once.Do(func() { c.p.Close(fws.CloseGoingAway, "") })
	return nil
}
