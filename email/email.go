// Package email sends a tenant's mail through the SMTP server it configured:
// its settings (validated here, sealed at rest by the store), the messages
// nudge writes (plain text and escaped HTML), and a durable outbox with
// retries that is also the tenant's delivery log. What a message says is
// composed by the caller (ops), which knows transcripts and queues; this
// package knows SMTP.
package email

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Connection security of an SMTP server.
const (
	StartTLS = "starttls" // plain connection upgraded with STARTTLS, required (port 587)
	TLS      = "tls"      // TLS from the first byte (port 465)
	None     = "none"     // no encryption: a relay on the same host or network only
)

// Settings are a tenant's email settings.
type Settings struct {
	// Enabled: nudge sends the tenant's mail. Off keeps the settings and
	// queues nothing new.
	Enabled  bool   `json:"enabled"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"`
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	// From is the sender's address, FromName the name shown with it.
	From     string `json:"from"`
	FromName string `json:"from_name"`
	// NotifyAddress receives offline-form messages and missed-chat notices
	// instead of the queue's agents, when set.
	NotifyAddress string `json:"notify_address"`
	// Which mail nudge sends.
	Transcripts     bool `json:"transcripts"`      // the transcript to a visitor who asks after the chat
	OfflineMessages bool `json:"offline_messages"` // messages left on the offline form
	MissedChats     bool `json:"missed_chats"`     // chats that ended before an agent answered
}

// Limits of the settings' fields.
const (
	MaxHost     = 253
	MaxUsername = 256
	MaxPassword = 1024
	MaxAddress  = 254
	MaxName     = 200
)

// Validate checks the settings and fills the default port of their
// security. Its errors are sentences for the person filling the form.
func (s *Settings) Validate() error {
	s.Host = strings.TrimSpace(s.Host)
	s.From, s.NotifyAddress = strings.TrimSpace(s.From), strings.TrimSpace(s.NotifyAddress)
	s.FromName = strings.TrimSpace(s.FromName)
	if s.Security == "" {
		s.Security = StartTLS
	}
	if s.Port == 0 {
		s.Port = map[string]int{StartTLS: 587, TLS: 465, None: 25}[s.Security]
	}
	var errs []error
	switch {
	case s.Host == "":
		errs = append(errs, errors.New("the SMTP server's host name is missing"))
	case len(s.Host) > MaxHost || !hostname(s.Host):
		errs = append(errs, errors.New("the SMTP server's host name is not a host name or an IP address"))
	}
	if s.Security != StartTLS && s.Security != TLS && s.Security != None {
		errs = append(errs, errors.New("security is starttls, tls or none"))
	}
	if s.Port < 1 || s.Port > 65535 {
		errs = append(errs, errors.New("the port is a number from 1 to 65535"))
	}
	if len(s.Username) > MaxUsername || hasControl(s.Username) {
		errs = append(errs, fmt.Errorf("the user name is at most %d characters, on one line", MaxUsername))
	}
	if len(s.Password) > MaxPassword || strings.ContainsAny(s.Password, "\r\n\x00") {
		errs = append(errs, fmt.Errorf("the password is at most %d characters, on one line", MaxPassword))
	}
	if s.Security == None && (s.Username != "" || s.Password != "") {
		errs = append(errs, errors.New("a user name and password are sent only over an encrypted connection: choose STARTTLS or TLS"))
	}
	if !Address(s.From) {
		errs = append(errs, errors.New("the sender's address is not an email address"))
	}
	if len(s.FromName) > MaxName || hasControl(s.FromName) {
		errs = append(errs, fmt.Errorf("the sender's name is at most %d characters, on one line", MaxName))
	}
	if s.NotifyAddress != "" && !Address(s.NotifyAddress) {
		errs = append(errs, errors.New("the notification address is not an email address"))
	}
	return errors.Join(errs...)
}

// Address reports whether s is one plain email address (no name, no
// comment, no line break), as a recipient or sender is given.
func Address(s string) bool {
	if s == "" || len(s) > MaxAddress || hasControl(s) {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && hostname(s[at+1:])
}

func hostname(h string) bool {
	if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')) {
				return false
			}
		}
	}
	return true
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0 || !utf8.ValidString(s)
}

// OneLine makes s fit a header: control characters (CR and LF above all:
// a line break would start a header of the sender's choosing) become
// spaces, runs of space collapse, and it is cut to max bytes on a rune
// boundary.
func OneLine(s string, max int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut]) + "…"
	}
	return s
}

// Public is the settings as the console shows them: the password is never
// sent back, only whether one is set.
type Public struct {
	Settings
	PasswordSet bool `json:"password_set"`
}

// Show gives the settings without their password.
func (s Settings) Show() Public {
	p := Public{Settings: s, PasswordSet: s.Password != ""}
	p.Password = ""
	return p
}

// Decode reads a stored settings document.
func Decode(doc []byte) (Settings, error) {
	var s Settings
	if err := json.Unmarshal(doc, &s); err != nil {
		return Settings{}, fmt.Errorf("email: settings: %w", err)
	}
	return s, nil
}

// Message is one email as composed, before it is sent: kept (sealed) in the
// outbox so that every attempt sends the same.
type Message struct {
	To        []string `json:"to"`
	ReplyTo   string   `json:"reply_to,omitempty"`
	Subject   string   `json:"subject"`
	Text      string   `json:"text"`
	HTML      string   `json:"html,omitempty"`
	MessageID string   `json:"message_id"` // without the angle brackets
}
