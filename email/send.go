package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SendOptions tune a send.
type SendOptions struct {
	RootCAs *x509.CertPool // nil: the system's
	Timeout time.Duration  // per connection (0: 30 s)
}

// Error is a failed send, its text a sentence for the delivery log.
// Permanent: the server refused the message for good (a 5xx answer to the
// sender, a recipient or the content): another attempt would fail alike.
type Error struct {
	Text      string
	Permanent bool
	Err       error
}

func (e *Error) Error() string { return e.Text }
func (e *Error) Unwrap() error { return e.Err }

// Send sends one message through the tenant's SMTP server.
func Send(ctx context.Context, s Settings, m Message, o SendOptions) error {
	msg := gomail.NewMsg()
	if err := msg.FromFormat(OneLine(s.FromName, MaxName), s.From); err != nil {
		return &Error{Text: "the sender's address is not an email address", Permanent: true, Err: err}
	}
	for _, to := range m.To {
		if !Address(to) {
			return &Error{Text: fmt.Sprintf("%q is not an email address", OneLine(to, 80)), Permanent: true}
		}
	}
	if err := msg.To(m.To...); err != nil {
		return &Error{Text: "a recipient is not an email address", Permanent: true, Err: err}
	}
	if m.ReplyTo != "" {
		if !Address(m.ReplyTo) {
			return &Error{Text: "the reply-to address is not an email address", Permanent: true}
		}
		msg.ReplyTo(m.ReplyTo)
	}
	msg.Subject(OneLine(m.Subject, 250))
	if m.MessageID != "" {
		msg.SetMessageIDWithValue(m.MessageID)
	}
	msg.SetDate()
	msg.SetUserAgent("nudge")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	opts := []gomail.Option{gomail.WithPort(s.Port), gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: s.Host, RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12})}
	switch s.Security {
	case TLS:
		opts = append(opts, gomail.WithSSL())
	case None:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(s.Username), gomail.WithPassword(s.Password))
	}
	c, err := gomail.NewClient(s.Host, opts...)
	if err != nil {
		return &Error{Text: "the SMTP settings are not usable: " + err.Error(), Permanent: true, Err: err}
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return explain(s, err)
	}
	return nil
}

// explain turns a failure into a sentence about the server, in the terms of
// the person who set it up.
func explain(s Settings, err error) *Error {
	where := net.JoinHostPort(s.Host, fmt.Sprint(s.Port))
	var se *gomail.SendError
	var op *net.OpError
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var rec tls.RecordHeaderError
	text := err.Error()
	switch {
	case errors.As(err, &dns):
		return &Error{Text: fmt.Sprintf("the SMTP server %s was not found (no such host name)", s.Host), Err: err}
	case errors.As(err, &cert), errors.As(err, &hostErr):
		return &Error{Text: fmt.Sprintf("the certificate of %s is not trusted: %s", where, lastPart(text)), Err: err}
	case errors.As(err, &rec):
		return &Error{Text: fmt.Sprintf("%s does not speak TLS from the first byte: choose STARTTLS, or the server's TLS port", where), Err: err}
	case strings.Contains(text, "does not support STARTTLS"):
		return &Error{Text: fmt.Sprintf("%s does not offer STARTTLS: choose TLS, or none for a relay on a trusted network", where), Err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return &Error{Text: fmt.Sprintf("%s did not answer in time", where), Err: err}
	case errors.As(err, &op) && op.Op == "dial":
		return &Error{Text: fmt.Sprintf("could not connect to %s: %s", where, lastPart(op.Err.Error())), Err: err}
	case strings.Contains(text, "auth"):
		return &Error{Text: fmt.Sprintf("%s refused the user name or password: %s", where, lastPart(text)), Err: err}
	case errors.As(err, &se):
		reason := map[gomail.SendErrReason]string{gomail.ErrSMTPMailFrom: "the sender", gomail.ErrSMTPRcptTo: "a recipient",
			gomail.ErrSMTPData: "the message", gomail.ErrSMTPDataClose: "the message", gomail.ErrWriteContent: "the message"}[se.Reason]
		if reason == "" {
			reason = "the message"
		}
		return &Error{Text: fmt.Sprintf("%s refused %s: %s", where, reason, lastPart(text)), Permanent: permanentCode(text), Err: err}
	case errors.As(err, &op):
		return &Error{Text: fmt.Sprintf("the connection to %s failed: %s", where, lastPart(op.Err.Error())), Err: err}
	}
	return &Error{Text: fmt.Sprintf("%s: %s", where, lastPart(text)), Err: err}
}

// permanentCode reports a 5xx SMTP answer in an error's text.
func permanentCode(text string) bool {
	for _, f := range strings.Fields(text) {
		if len(f) == 3 && f[0] == '5' && f[1] >= '0' && f[1] <= '9' && f[2] >= '0' && f[2] <= '9' {
			return true
		}
	}
	return false
}

// lastPart keeps the server's or the system's words, not the chain of
// package prefixes in front of them.
func lastPart(text string) string {
	if i := strings.LastIndex(text, ": "); i >= 0 && i+2 < len(text) {
		return text[i+2:]
	}
	return text
}
