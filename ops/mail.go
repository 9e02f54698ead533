package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/email"
	"github.com/nudgehq/nudge/redact"
	"github.com/nudgehq/nudge/store"
)

// What nudge emails.
const (
	MailTranscript = "transcript" // a chat's transcript, to its visitor
	MailOffline    = "offline"    // a message left on the offline form, to the queue's agents
	MailMissed     = "missed"     // a chat that ended unanswered, to the queue's agents
	MailTest       = "test"       // the settings' "send test mail"
)

// MaxTranscripts is how many times a conversation's transcript is sent: a
// visitor may correct a mistyped address, not mail anyone at will.
const MaxTranscripts = 3

// MailLogKept is how long the delivery log keeps a sent or failed email.
const MailLogKept = 90 * 24 * time.Hour

// mailRequest is what a cause asks of an email (sealed in the outbox).
type mailRequest struct {
	To     string        `json:"to,omitempty"`
	Waited time.Duration `json:"waited,omitempty"`
}

// emailSettings are a tenant's settings; ok is false when it has none.
func (s *Service) emailSettings(ctx context.Context, tenant string) (email.Settings, bool, error) {
	set, err := s.mailSettings.get(ctx, tenant)
	if errors.Is(err, store.ErrNotFound) {
		return email.Settings{}, false, nil
	}
	return set, err == nil, err
}

func (s *Service) loadEmailSettings(ctx context.Context, tenant string) (email.Settings, error) {
	doc, err := s.Store.EmailSettings(ctx, tenant)
	if err != nil {
		return email.Settings{}, err
	}
	return email.Decode(doc)
}

// EmailSettings are a tenant's settings as the console shows them (no
// password); a tenant without any gets the form's defaults.
func (s *Service) EmailSettings(ctx context.Context, tenant string) (email.Public, error) {
	set, ok, err := s.emailSettings(ctx, tenant)
	if err != nil {
		return email.Public{}, err
	}
	if !ok {
		set = email.Settings{Security: email.StartTLS, Port: 587, Transcripts: true, OfflineMessages: true}
	}
	return set.Show(), nil
}

// ErrEmail is a refusal of email settings or of a test email's address,
// ErrNotSent a test email the server did not take: their texts are
// sentences for the person who asked.
var (
	ErrEmail   = errors.New("email")
	ErrNotSent = errors.New("not sent")
)

// SetEmailSettings validates and stores a tenant's settings. A nil password
// keeps the stored one.
func (s *Service) SetEmailSettings(ctx context.Context, actor store.Actor, tenant string, in email.Settings, password *string) (email.Public, error) {
	old, ok, err := s.emailSettings(ctx, tenant)
	if err != nil {
		return email.Public{}, err
	}
	in.Password = ""
	switch {
	case password != nil:
		in.Password = *password
	case ok && old.Host == strings.TrimSpace(in.Host) && old.Username == in.Username:
		// The password stays with the server and user it was given for.
		in.Password = old.Password
	}
	if err := in.Validate(); err != nil {
		return email.Public{}, fmt.Errorf("%w: %w", ErrEmail, err)
	}
	doc, _ := json.Marshal(in)
	// The audit log is in clear: it says what changed in the terms of the
	// server, not who signs in to it or what the mail is signed with.
	detail := map[string]any{"enabled": in.Enabled, "host": in.Host, "port": in.Port, "security": in.Security,
		"transcripts": in.Transcripts, "offline_messages": in.OfflineMessages, "missed_chats": in.MissedChats, "password_changed": password != nil}
	if err := s.Store.SetEmailSettings(ctx, actor, tenant, doc, detail); err != nil {
		return email.Public{}, err
	}
	s.mailSettings.forget(tenant)
	s.announce(changedMail, tenant)
	return in.Show(), nil
}

// SendTestMail sends the test email to an address at once with the
// tenant's stored settings (enabled or not) and answers with the outcome,
// which the delivery log records too.
func (s *Service) SendTestMail(ctx context.Context, tenant, to string) (MailView, error) {
	to = strings.TrimSpace(to)
	if !email.Address(to) {
		return MailView{}, fmt.Errorf("%w: %q is not an email address", ErrEmail, email.OneLine(to, 80))
	}
	set, ok, err := s.emailSettings(ctx, tenant)
	if err != nil {
		return MailView{}, err
	}
	if !ok {
		return MailView{}, fmt.Errorf("%w: save the SMTP settings first", ErrEmail)
	}
	req, _ := json.Marshal(mailRequest{To: to})
	// Due later than an attempt's claim: the outbox leaves it to this call.
	later := time.Now().Add(time.Hour)
	m := store.Mail{ID: store.NewID(), TenantID: tenant, Kind: MailTest, Request: req, NextAttemptAt: &later}
	if err := s.Store.AddMail(ctx, m); err != nil {
		return MailView{}, err
	}
	sendErr := s.Mail.SendNow(ctx, m, set)
	m, err = s.Store.Mail(ctx, tenant, m.ID)
	if err != nil {
		return MailView{}, err
	}
	if sendErr != nil {
		return mailView(m), fmt.Errorf("%w: %w", ErrNotSent, sendErr)
	}
	return mailView(m), nil
}

// MailView is an email as the delivery log shows it.
type MailView struct {
	ID             string     `json:"id"`
	Kind           string     `json:"kind"`
	ConversationID string     `json:"conversation_id,omitempty"`
	To             []string   `json:"to"`
	Subject        string     `json:"subject"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	LastError      string     `json:"last_error"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

func mailView(m store.Mail) MailView {
	v := MailView{ID: m.ID, Kind: m.Kind, ConversationID: m.ConversationID, To: []string{}, Status: m.Status, Attempts: m.Attempts,
		LastError: m.LastError, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if m.Status == store.MailPending {
		v.NextAttemptAt = m.NextAttemptAt
	}
	var msg email.Message
	if m.Message != nil && json.Unmarshal(m.Message, &msg) == nil {
		v.To, v.Subject = msg.To, msg.Subject
	} else {
		var req mailRequest
		if json.Unmarshal(m.Request, &req) == nil && req.To != "" {
			v.To = []string{req.To}
		}
	}
	return v
}

// Mails is a page of a tenant's delivery log, newest first.
func (s *Service) Mails(ctx context.Context, tenant string, f store.MailFilter, p store.Page) ([]MailView, string, error) {
	ms, next, err := s.Store.Mails(ctx, tenant, f, p)
	if err != nil {
		return nil, "", err
	}
	out := make([]MailView, len(ms))
	for i, m := range ms {
		out[i] = mailView(m)
	}
	return out, next, nil
}

// RetryMail sends a failed email again.
func (s *Service) RetryMail(ctx context.Context, actor store.Actor, tenant, id string) error {
	if err := s.Store.RetryMail(ctx, actor, tenant, id); err != nil {
		return err
	}
	s.Mail.Kick()
	return nil
}

// TranscriptsOffered reports whether a tenant's visitors may ask for their
// chat's transcript by email.
func (s *Service) TranscriptsOffered(ctx context.Context, tenant string) bool {
	set, ok, err := s.emailSettings(ctx, tenant)
	return err == nil && ok && set.Enabled && set.Transcripts
}

// RequestTranscript queues the transcript of a visitor's closed chat to
// the address they typed, or (none typed) to their verified email.
func (s *Service) RequestTranscript(ctx context.Context, v chat.Visitor, to string) error {
	if !s.TranscriptsOffered(ctx, v.Tenant) {
		return fmt.Errorf("%w: transcripts are not sent by email here", chat.ErrState)
	}
	s.Chat.Flush() // the close may still be on its way to the disk
	c, err := s.Store.Conversation(ctx, v.Tenant, v.Conversation)
	if err != nil || c.SiteID != v.Site || c.Visitor != v.ID {
		return chat.ErrNotFound
	}
	if c.Status != chat.StatusClosed {
		return fmt.Errorf("%w: the transcript is sent once the chat has ended", chat.ErrState)
	}
	to = strings.TrimSpace(to)
	if to == "" {
		var meta chat.Meta
		json.Unmarshal(c.Metadata, &meta)
		if meta.Identity != nil && meta.Identity.Verified && email.Address(meta.Identity.Email) {
			to = meta.Identity.Email
		}
	}
	if to == "" {
		return fmt.Errorf("%w: an email address to send the transcript to", chat.ErrInvalid)
	}
	if !email.Address(to) {
		return fmt.Errorf("%w: that is not an email address", chat.ErrInvalid)
	}
	n, err := s.Store.CountMail(ctx, v.Tenant, c.ID, MailTranscript)
	if err != nil {
		return err
	}
	if n >= MaxTranscripts {
		return fmt.Errorf("%w: the transcript was sent %d times already", chat.ErrState, MaxTranscripts)
	}
	req, _ := json.Marshal(mailRequest{To: to})
	if err := s.Store.AddMail(ctx, store.Mail{ID: store.NewID(), TenantID: v.Tenant, Kind: MailTranscript, ConversationID: c.ID, Request: req}); err != nil {
		return err
	}
	s.Mail.Kick()
	return nil
}

// afterClose queues what a conversation's close sends, in the close's commit:
// the message left on the offline form, or the notice of a chat nobody
// answered. It runs inside the commit: the settings come from the cache.
func (s *Service) afterClose(tx *store.Tx, cl chat.Closed) error {
	c := cl.Conversation
	set, ok, err := s.emailSettings(tx.Context(), c.TenantID)
	if err != nil || !ok || !set.Enabled {
		return err
	}
	kind, req := "", mailRequest{}
	switch {
	case c.CloseReason == "offline_message" && set.OfflineMessages:
		kind = MailOffline
	case set.MissedChats && cl.VisitorWrote && c.AssignedAt == nil && c.QueueID != "" &&
		slices.Contains([]string{"visitor", "inactivity"}, c.CloseReason):
		kind = MailMissed
		since := c.CreatedAt
		if c.QueuedAt != nil {
			since = *c.QueuedAt
		}
		if c.ClosedAt != nil {
			req.Waited = c.ClosedAt.Sub(since)
		}
	default:
		return nil
	}
	b, _ := json.Marshal(req)
	if err := tx.AddMail(store.Mail{ID: store.NewID(), TenantID: c.TenantID, Kind: kind, ConversationID: c.ID, Request: b}); err != nil {
		return err
	}
	s.mailQueued.Store(true)
	return nil
}

// compose writes an email of the outbox: called once, at its first attempt.
func (s *Service) compose(ctx context.Context, m store.Mail, set email.Settings) (email.Message, error) {
	var req mailRequest
	if err := json.Unmarshal(m.Request, &req); err != nil {
		return email.Message{}, fmt.Errorf("its request cannot be read: %w", err)
	}
	if m.Kind == MailTest {
		t, err := s.Store.Tenant(ctx, m.TenantID)
		if err != nil {
			return email.Message{}, err
		}
		msg := email.Test(t.Name)
		msg.To = []string{req.To}
		return msg, nil
	}
	c, err := s.Store.Conversation(ctx, m.TenantID, m.ConversationID)
	if err != nil {
		return email.Message{}, errors.New("its conversation no longer exists")
	}
	site, err := s.Store.Site(ctx, c.TenantID, c.SiteID)
	if err != nil {
		return email.Message{}, errors.New("its site no longer exists")
	}
	ms, err := s.visitorMessages(ctx, c)
	if err != nil {
		return email.Message{}, err
	}
	var meta chat.Meta
	json.Unmarshal(c.Metadata, &meta)
	queue := ""
	if c.QueueID != "" {
		if q, err := s.Store.Queue(ctx, c.TenantID, c.QueueID); err == nil {
			queue = q.Name
		}
	}
	link := strings.TrimRight(s.cfg.ConsoleURL, "/") + "/transcripts?conversation=" + url.QueryEscape(c.ID)
	if s.cfg.ConsoleURL == "" {
		link = ""
	}
	mask := (*redact.Redactor)(nil).Text // card numbers masked, always, as in the transcript
	switch m.Kind {
	case MailTranscript:
		d := email.TranscriptData{Site: site.Name, Start: c.CreatedAt}
		for _, msg := range ms {
			text := lineText(msg)
			if text == "" {
				continue
			}
			who := msg.Sender.Name
			switch {
			case msg.Sender.Kind == "visitor":
				who = "You"
			case who == "":
				who = site.Name
			}
			d.Lines = append(d.Lines, email.Line{At: msg.CreatedAt, Who: who, Text: mask(text)})
		}
		msg := email.Transcript(d)
		msg.To = []string{req.To}
		return msg, nil
	case MailReply:
		form := ""
		for _, x := range ms {
			if x.Kind == chat.KindForm {
				form = mask(x.Text)
			}
		}
		return s.composeReply(ctx, m, site, form)
	case MailOffline, MailMissed:
		to, err := s.queueRecipients(ctx, c, set)
		if err != nil {
			return email.Message{}, err
		}
		page := ""
		if meta.Page != nil {
			page = meta.Page.URL
		}
		var msg email.Message
		if m.Kind == MailOffline {
			d := email.LeftMessage{Site: site.Name, Queue: queue, At: c.CreatedAt, Page: page, Link: link}
			if c.ClosedAt != nil {
				d.At = *c.ClosedAt
			}
			for _, x := range ms {
				if x.Kind == chat.KindForm {
					var p struct{ Name, Email string }
					json.Unmarshal(x.Payload, &p)
					d.Name, d.Email, d.Text = p.Name, p.Email, mask(x.Text)
				}
			}
			if d.Email == "" && meta.Identity != nil && meta.Identity.Verified {
				d.Email = meta.Identity.Email
			}
			if d.Name == "" {
				d.Name = visitorName(meta)
			}
			if !email.Address(d.Email) {
				d.Email = ""
			}
			msg = email.Offline(d)
		} else {
			d := email.MissedChat{Site: site.Name, Queue: queue, Visitor: visitorName(meta), Waited: req.Waited, At: c.CreatedAt, Link: link}
			if c.ClosedAt != nil {
				d.At = *c.ClosedAt
			}
			for _, x := range ms {
				if x.Sender.Kind == "visitor" && x.Kind == chat.KindText {
					d.First = mask(x.Text)
					break
				}
			}
			msg = email.Missed(d)
		}
		msg.To = to
		return msg, nil
	}
	return email.Message{}, fmt.Errorf("no email is written for %q", m.Kind)
}

// visitorMessages are a conversation's messages as its visitor saw them.
func (s *Service) visitorMessages(ctx context.Context, c store.Conversation) ([]chat.Message, error) {
	v := chat.Visitor{Tenant: c.TenantID, Site: c.SiteID, ID: c.Visitor, Conversation: c.ID}
	var out []chat.Message
	for after := int64(0); ; {
		ms, err := s.Chat.VisitorHistory(ctx, v, after, 1000)
		if err != nil {
			return nil, fmt.Errorf("its messages cannot be read: %w", err)
		}
		out = append(out, ms...)
		if len(ms) < 1000 {
			return out, nil
		}
		after = ms[len(ms)-1].Seq
	}
}

// lineText is a message as a line of an emailed transcript ("" to leave it out).
func lineText(m chat.Message) string {
	switch m.Kind {
	case chat.KindText, chat.KindForm:
		return m.Text
	case chat.KindFile:
		var f struct{ Name string }
		json.Unmarshal(m.Payload, &f)
		return "(sent a file: " + f.Name + ")"
	case chat.KindRich:
		return m.Text
	}
	return ""
}

func visitorName(meta chat.Meta) string {
	switch {
	case meta.Identity != nil && meta.Identity.Verified && meta.Identity.Name != "":
		return meta.Identity.Name
	case meta.Form != nil && meta.Form.Name != "":
		return meta.Form.Name
	}
	return ""
}

// queueRecipients are who hears of a conversation's left message or missed
// chat: the notification address when set, else the queue's people (agents
// and supervisors whose queues include it).
func (s *Service) queueRecipients(ctx context.Context, c store.Conversation, set email.Settings) ([]string, error) {
	if set.NotifyAddress != "" {
		return []string{set.NotifyAddress}, nil
	}
	configs, err := s.Store.AgentConfigs(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	queues := map[string][]string{}
	for _, a := range configs {
		var p chat.AgentProfile
		if json.Unmarshal(a.Config, &p) == nil {
			queues[a.UserID] = p.Queues
		}
	}
	var to []string
	for p := (store.Page{Limit: 500}); ; {
		ms, next, err := s.Store.Members(ctx, c.TenantID, p)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			q := queues[m.ID]
			if (m.Role == "agent" || m.Role == "supervisor") && (len(q) == 0 || slices.Contains(q, c.QueueID)) && email.Address(m.Email) {
				to = append(to, m.Email)
			}
		}
		if next == "" {
			break
		}
		p.After = next
	}
	if len(to) == 0 {
		return nil, errors.New("no one to send it to: the queue has no agents, and no notification address is set")
	}
	return to, nil
}
