package server

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// TestAClientThatGoesEndsItsRequest: a request's context ends when its
// client closes the connection, and watching the connection takes nothing
// from it (the client's next request stays for the server).
func TestAClientThatGoesEndsItsRequest(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pair := func() (client, server net.Conn) {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err = ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return client, server
	}

	client, conn := pair()
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	stop := watchPeer(rawConn(conn), cancel)
	client.Close()
	<-ctx.Done() // the client went: the request's work stops
	stop()

	client, conn = pair()
	defer client.Close()
	defer conn.Close()
	ctx, cancel = context.WithCancel(context.Background())
	stop = watchPeer(rawConn(conn), cancel)
	client.Write([]byte("G")) // the next request begins: the client is there
	deadline := time.Now().Add(4 * clientCheck)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(clientCheck / 4)
	}
	stop()
	if ctx.Err() != nil {
		t.Fatal("a client that is still there was taken for gone")
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if n, err := conn.Read(b[:]); n != 1 || b[0] != 'G' {
		t.Fatalf("the watch took the client's bytes: %d %v", n, err)
	}
}

// TestRequestsRunUnderTheServersLife: a handler's context has a deadline
// and ends when the server stops.
func TestRequestsRunUnderTheServersLife(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	app := fiber.New()
	started := make(chan struct{})
	app.Get("/work", h.srv.requestContext, func(c *fiber.Ctx) error {
		ctx := c.UserContext()
		if _, ok := ctx.Deadline(); !ok {
			return c.SendString("no deadline")
		}
		close(started)
		<-ctx.Done() // the server stops
		return c.SendString(ctx.Err().Error())
	})
	go func() { <-started; h.srv.stop() }()
	res, err := app.Test(httptest.NewRequest("GET", "/work", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if string(body) != context.Canceled.Error() {
		t.Fatalf("the request's work ended with %q; want it cancelled by the server's stop", body)
	}
}
