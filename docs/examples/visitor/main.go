// Command visitor is a complete chat client for an app without a browser: it
// connects to nudge's visitor socket with a visitor token that the site's
// backend signed, starts a conversation, sends a message, prints what the
// team answers, and reconnects and resumes when the server restarts.
//
//	go run ./docs/examples/visitor --url https://nudge.example.com --site KEY \
//	    --secret "$SITE_IDENTITY_SECRET" --user cust-42 --text "Where is my order?"
//
// In a real app the token comes from the app's own backend, which holds the
// site's identity secret (GET /api/sites/{site}/secret) and signs a token for
// the user it has logged in; --secret signs one here so that the example runs
// alone. docs/protocol.md describes the protocol.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"
)

type options struct {
	url, site, secret        string
	user, email, name, topic string
	visitor, text            string
	replies                  int           // exit after this many answers (0: run until interrupted)
	timeout                  time.Duration // give up waiting for them
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the nudge server")
	flag.StringVar(&o.site, "site", "demo", "the site's key")
	flag.StringVar(&o.secret, "secret", os.Getenv("SITE_IDENTITY_SECRET"), "the site's identity secret (your backend's, never the app's)")
	flag.StringVar(&o.user, "user", "", "the user's id in your system")
	flag.StringVar(&o.email, "email", "", "the user's email (optional)")
	flag.StringVar(&o.name, "name", "", "the user's name (optional)")
	flag.StringVar(&o.topic, "topic", "", "the pre-chat question's answer, when the site asks one")
	flag.StringVar(&o.visitor, "visitor", "app-install-1", "this installation's id: the same on every start")
	flag.StringVar(&o.text, "text", "Hello!", "the first message")
	flag.IntVar(&o.replies, "replies", 0, "exit after this many answers (0: run until interrupted)")
	flag.DurationVar(&o.timeout, "timeout", 0, "give up after this long (0: never)")
	flag.Parse()
	if o.user == "" || o.secret == "" {
		fmt.Fprintln(os.Stderr, "visitor: --user and --secret (or SITE_IDENTITY_SECRET) are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "visitor:", err)
		os.Exit(1)
	}
}

// mintToken is what the site's backend does for a logged-in user: a JWT,
// HS256 under the site's identity secret, naming the site (aud) and the user
// (sub), valid for minutes (nudge refuses more than an hour).
func mintToken(o options) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{"sub": o.user, "aud": o.site, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	if o.email != "" {
		claims["email"] = o.email
	}
	if o.name != "" {
		claims["name"] = o.name
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(o.secret))
}

// frame is what the server sends: an answer, an error, or an event.
type frame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

type message struct {
	Seq    int64  `json:"seq"`
	Text   string `json:"text"`
	Sender struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"sender"`
}

// errRefused is a refusal that trying again will not change.
var errRefused = errors.New("refused")

// run chats until o.replies answers came, ctx ends, or the server refuses.
// A dropped connection is opened again and the conversation resumed with
// its chat token from the last message seen; a message not yet acknowledged
// is sent again under the same client_id, so it is stored once.
func run(ctx context.Context, o options, out io.Writer) error {
	ws := strings.Replace(o.url, "http", "ws", 1) + "/ws/visitor?site=" + o.site
	var chatToken string
	var after int64
	sent, replies := false, 0
	for attempt := 0; ; attempt++ {
		err := func() error {
			// A fresh token for each connection: they are short-lived.
			vt, err := mintToken(o)
			if err != nil {
				return err
			}
			// No Origin header: nudge asks a client without one for a token.
			c, _, err := websocket.DefaultDialer.DialContext(ctx, ws, nil)
			if err != nil {
				return err
			}
			defer c.Close()
			go func() { <-ctx.Done(); c.Close() }()
			hello := map[string]any{"type": "start", "id": "hello", "v": 1, "visitor": o.visitor, "visitor_token": vt}
			if o.topic != "" {
				// The site's pre-chat form: the topic, and the name it asks for.
				form := map[string]any{"topic": o.topic}
				if o.name != "" {
					form["name"] = o.name
				}
				hello["meta"] = map[string]any{"form": form}
			}
			if chatToken != "" {
				hello = map[string]any{"type": "resume", "id": "hello", "v": 1, "token": chatToken, "after": after, "visitor_token": vt}
			}
			if err := c.WriteJSON(hello); err != nil {
				return err
			}
			for {
				var f frame
				if err := c.ReadJSON(&f); err != nil {
					var ce *websocket.CloseError
					if errors.As(err, &ce) && ce.Code == 4401 {
						return fmt.Errorf("%w: %s", errRefused, ce.Text)
					}
					return err
				}
				switch f.Type {
				case "start_ok", "resume_ok":
					var ok struct {
						Token        string `json:"token"`
						Conversation struct {
							ID string `json:"id"`
						} `json:"conversation"`
						Messages []message `json:"messages"`
					}
					json.Unmarshal(f.Data, &ok)
					if ok.Token != "" {
						chatToken = ok.Token
						fmt.Fprintf(out, "conversation %s\n", ok.Conversation.ID)
					}
					for _, m := range ok.Messages {
						after = max(after, m.Seq)
					}
					if !sent {
						// The same client_id on every try: stored once.
						if err := c.WriteJSON(map[string]any{"type": "send", "id": "first", "client_id": "first", "resend": attempt > 0, "text": o.text}); err != nil {
							return err
						}
					}
				case "ack":
					var m message
					json.Unmarshal(f.Data, &m)
					sent, after = true, max(after, m.Seq)
					fmt.Fprintf(out, "sent: %s\n", m.Text)
				case "message":
					var m message
					json.Unmarshal(f.Data, &m)
					after = max(after, m.Seq)
					if m.Sender.Kind == "visitor" {
						continue
					}
					fmt.Fprintf(out, "%s (%s): %s\n", m.Sender.Name, m.Sender.Kind, m.Text)
					if m.Sender.Kind == "agent" {
						if replies++; o.replies > 0 && replies >= o.replies {
							return nil
						}
					}
				case "error":
					if f.ID == "hello" || f.Code == "visitor_token" {
						return fmt.Errorf("%w: %s", errRefused, f.Message)
					}
					fmt.Fprintf(out, "error %s: %s\n", f.Code, f.Message)
				}
			}
		}()
		if err == nil || errors.Is(err, errRefused) || ctx.Err() != nil {
			if ctx.Err() != nil && err != nil && !errors.Is(err, errRefused) {
				return ctx.Err()
			}
			return err
		}
		// The server restarted or the network dropped: back off, then resume.
		fmt.Fprintf(out, "reconnecting: %v\n", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(attempt+1)*500*time.Millisecond, 5*time.Second)):
		}
	}
}
