package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/email"
	"github.com/nudgehq/nudge/store"
)

// MailReply is an agent's answer to a left message, by email.
const MailReply = "reply"

// LeftMessage is a message left on the offline form, as the desk lists it.
type LeftMessage struct {
	ConversationID string     `json:"conversation_id"`
	SiteID         string     `json:"site_id"`
	QueueID        string     `json:"queue_id"`
	Name           string     `json:"name"`
	Email          string     `json:"email"` // "" when the visitor left none (or not an address)
	Text           string     `json:"text"`
	Page           string     `json:"page"`
	CreatedAt      time.Time  `json:"created_at"`
	State          string     `json:"state"` // new, answered
	AnsweredAt     *time.Time `json:"answered_at"`
	AnsweredBy     string     `json:"answered_by"` // the member's name
}

// leftScope is the queues whose left messages an agent works: nil for all
// (supervisors, and agents who answer every queue).
func (s *Service) leftScope(ctx context.Context, a chat.Agent) ([]string, error) {
	if a.Supervise {
		return nil, nil
	}
	configs, err := s.Store.AgentConfigs(ctx, a.Tenant)
	if err != nil {
		return nil, err
	}
	for _, c := range configs {
		var p chat.AgentProfile
		if c.UserID == a.User && json.Unmarshal(c.Config, &p) == nil && len(p.Queues) > 0 {
			return p.Queues, nil
		}
	}
	return nil, nil
}

// LeftMessages lists the left messages an agent may work, newest first.
func (s *Service) LeftMessages(ctx context.Context, a chat.Agent, f store.LeftFilter, p store.Page) ([]LeftMessage, string, error) {
	queues, err := s.leftScope(ctx, a)
	if err != nil {
		return nil, "", err
	}
	f.Queues = queues
	ls, next, err := s.Store.LeftMessages(ctx, a.Tenant, f, p)
	if err != nil {
		return nil, "", err
	}
	out := make([]LeftMessage, 0, len(ls))
	names := map[string]string{}
	for _, l := range ls {
		v, err := s.leftView(ctx, l, names)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	return out, next, nil
}

func (s *Service) leftView(ctx context.Context, l store.LeftMessage, names map[string]string) (LeftMessage, error) {
	c := l.Conversation
	v := LeftMessage{ConversationID: c.ID, SiteID: c.SiteID, QueueID: c.QueueID, CreatedAt: c.CreatedAt, State: "new", AnsweredAt: l.AnsweredAt}
	if c.ClosedAt != nil {
		v.CreatedAt = *c.ClosedAt
	}
	ms, err := s.visitorMessages(ctx, c)
	if err != nil {
		return LeftMessage{}, err
	}
	for _, m := range ms {
		if m.Kind == chat.KindForm {
			var p struct{ Name, Email string }
			json.Unmarshal(m.Payload, &p)
			v.Name, v.Email, v.Text = p.Name, p.Email, m.Text
		}
	}
	var meta chat.Meta
	json.Unmarshal(c.Metadata, &meta)
	if v.Email == "" && meta.Identity != nil && meta.Identity.Verified {
		v.Email = meta.Identity.Email
	}
	if !email.Address(v.Email) {
		v.Email = ""
	}
	if v.Name == "" {
		v.Name = visitorName(meta)
	}
	if meta.Page != nil {
		v.Page = meta.Page.URL
	}
	if l.AnsweredAt != nil {
		v.State = "answered"
		name, ok := names[l.AnsweredBy]
		if !ok {
			if u, err := s.Store.User(ctx, l.AnsweredBy); err == nil {
				name = u.Name
			}
			names[l.AnsweredBy] = name
		}
		v.AnsweredBy = name
	}
	return v, nil
}

// leftMessage is one left message an agent may work.
func (s *Service) leftMessage(ctx context.Context, a chat.Agent, id string) (LeftMessage, error) {
	l, err := s.Store.LeftMessage(ctx, a.Tenant, id)
	if err != nil {
		return LeftMessage{}, err
	}
	queues, err := s.leftScope(ctx, a)
	if err != nil {
		return LeftMessage{}, err
	}
	if queues != nil && !slices.Contains(queues, l.Conversation.QueueID) {
		return LeftMessage{}, chat.ErrNotFound
	}
	return s.leftView(ctx, l, map[string]string{})
}

// MarkLeftMessage marks a left message answered (by a phone call, say) or
// new again. The message is looked up first: another tenant's is absent,
// whatever the request says.
func (s *Service) MarkLeftMessage(ctx context.Context, actor store.Actor, a chat.Agent, id string, answered *bool) error {
	if _, err := s.leftMessage(ctx, a, id); err != nil {
		return err
	}
	if answered == nil {
		return &store.FieldError{Field: "answered", Message: "true or false"}
	}
	by := ""
	if *answered {
		by = a.User
	}
	return s.Store.SetLeftAnswered(ctx, actor, a.Tenant, id, by, nil)
}

// replyRequest is what an answer's email is written from.
type replyRequest struct {
	To   string `json:"to"`
	Text string `json:"text"`
	By   string `json:"by"`
}

// AnswerLeftMessage answers a left message by email from the desk: the
// answer is queued to the visitor's address with the message marked
// answered (one commit), then added to the conversation, where the
// transcript and search show it.
func (s *Service) AnswerLeftMessage(ctx context.Context, actor store.Actor, a chat.Agent, id, text string) error {
	l, err := s.leftMessage(ctx, a, id)
	if err != nil {
		return err
	}
	text = strings.TrimSpace(text)
	if text == "" || !utf8.ValidString(text) || utf8.RuneCountInString(text) > chat.MaxText {
		return fmt.Errorf("%w: the answer is 1 to %d characters", chat.ErrInvalid, chat.MaxText)
	}
	if l.Email == "" {
		return fmt.Errorf("%w: the visitor left no email address to answer", chat.ErrState)
	}
	if set, ok, err := s.emailSettings(ctx, a.Tenant); err != nil {
		return err
	} else if !ok || !set.Enabled {
		return fmt.Errorf("%w: email is not set up for this account: an owner or admin sets it up on the Email page", chat.ErrState)
	}
	req, _ := json.Marshal(replyRequest{To: l.Email, Text: text, By: a.Name})
	mail := store.Mail{ID: store.NewID(), TenantID: a.Tenant, Kind: MailReply, ConversationID: id, Request: req}
	if err := s.Store.SetLeftAnswered(ctx, actor, a.Tenant, id, a.User, &mail); err != nil {
		return err
	}
	s.Mail.Kick()
	if _, err := s.Chat.Log().Append(ctx, a.Tenant, chat.Message{ConversationID: id, Sender: chat.Sender{Kind: "agent", ID: a.User},
		Kind: chat.KindText, Text: text}); err != nil {
		// The visitor has the answer; only the transcript lacks it.
		s.log.Warn("an answer to a left message was emailed but not added to its conversation", "conversation", id, "err", err)
	}
	return nil
}

// composeReply writes an answer to a left message.
func (s *Service) composeReply(ctx context.Context, m store.Mail, site store.Site, form string) (email.Message, error) {
	var req replyRequest
	if err := json.Unmarshal(m.Request, &req); err != nil {
		return email.Message{}, errors.New("its request cannot be read")
	}
	msg := email.Reply(email.ReplyData{Site: site.Name, Text: req.Text, By: req.By, Original: form})
	msg.To = []string{req.To}
	return msg, nil
}
