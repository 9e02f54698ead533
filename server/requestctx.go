package server

import (
	"context"
	"net"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
)

// requestTimeout bounds a request's work; the HTTP write timeout is the same.
const requestTimeout = 30 * time.Second

// clientCheck is how long a request runs before its connection is watched,
// and how often then: fasthttp reads nothing from a connection while its
// handler runs, so a client that went is noticed only by looking.
const clientCheck = 250 * time.Millisecond

// requestContext gives every request a context that ends when the server
// shuts down, after requestTimeout, or when the client closes the
// connection, so that the database work of a request nobody waits for
// stops. Handlers take it from c.UserContext().
func (s *Server) requestContext(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(s.ctx, requestTimeout)
	defer cancel()
	if raw := rawConn(c.Context().Conn()); raw != nil {
		defer watchPeer(raw, cancel)()
	}
	c.SetUserContext(ctx)
	return c.Next()
}

// rawConn is the socket under a connection (TLS included), or nil.
func rawConn(c net.Conn) syscall.RawConn {
	for {
		switch v := c.(type) {
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		case syscall.Conn:
			raw, err := v.SyscallConn()
			if err != nil {
				return nil
			}
			return raw
		default:
			return nil
		}
	}
}

// watchPeer calls gone if the peer closes the connection while the request
// runs; a request shorter than clientCheck costs a timer only. stop ends
// the watch.
func watchPeer(raw syscall.RawConn, gone func()) (stop func()) {
	done := make(chan struct{})
	t := time.AfterFunc(clientCheck, func() {
		tick := time.NewTicker(clientCheck)
		defer tick.Stop()
		for {
			if peerClosed(raw) {
				gone()
				return
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() {
		t.Stop()
		close(done)
	}
}
