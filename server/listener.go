package server

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// fdListener keeps the server up when the process runs out of file
// descriptors. fasthttp ends Serve on any Accept error but a timeout, so an
// EMFILE would stop a server that still has thousands of healthy
// connections. Instead the listener refuses the new connection (a spare
// descriptor, held for this, is released to accept it and close it at once,
// so the client is told rather than left waiting in the backlog), logs at
// most once a minute, and keeps accepting.
type fdListener struct {
	net.Listener
	log     *slog.Logger
	refused *atomic.Int64
	logged  time.Time

	mu    sync.Mutex
	spare *os.File
}

func newFDListener(ln net.Listener, log *slog.Logger, refused *atomic.Int64) *fdListener {
	spare, _ := os.Open(os.DevNull)
	return &fdListener{Listener: ln, log: log, refused: refused, spare: spare}
}

func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// Accept is called from one goroutine (fasthttp's accept loop).
func (l *fdListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err == nil || !outOfDescriptors(err) {
			return c, err
		}
		l.refused.Add(1)
		if time.Since(l.logged) > time.Minute {
			l.logged = time.Now()
			l.log.Error("out of file descriptors: refusing new connections, serving the open ones", "err", err)
		}
		if !l.refuseOne() {
			time.Sleep(50 * time.Millisecond) // not even the spare: wait for descriptors to free up
		}
	}
}

// refuseOne spends the spare descriptor on accepting and closing one waiting
// connection, then takes it back.
func (l *fdListener) refuseOne() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.spare == nil {
		l.spare, _ = os.Open(os.DevNull)
		return false
	}
	l.spare.Close()
	if c, err := l.Listener.Accept(); err == nil {
		c.Close()
	}
	l.spare, _ = os.Open(os.DevNull)
	return true
}

func (l *fdListener) Close() error {
	l.mu.Lock()
	if l.spare != nil {
		l.spare.Close()
		l.spare = nil
	}
	l.mu.Unlock()
	return l.Listener.Close()
}
