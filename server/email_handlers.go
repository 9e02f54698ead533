package server

import (
	"errors"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/email"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/store"
)

// emailAPI serves a tenant's email settings and delivery log.
type emailAPI struct {
	ops *ops.Service
}

// emailSettingsRequest replaces the settings; a password left out keeps
// the stored one (for the same server and user).
type emailSettingsRequest struct {
	Enabled         bool    `json:"enabled"`
	Host            string  `json:"host"`
	Port            int     `json:"port"`
	Security        string  `json:"security"`
	Username        string  `json:"username"`
	Password        *string `json:"password"`
	From            string  `json:"from"`
	FromName        string  `json:"from_name"`
	NotifyAddress   string  `json:"notify_address"`
	Transcripts     bool    `json:"transcripts"`
	OfflineMessages bool    `json:"offline_messages"`
	MissedChats     bool    `json:"missed_chats"`
}

func (h emailAPI) getSettings(c *fiber.Ctx) error {
	s, err := h.ops.EmailSettings(c.UserContext(), who(c).Tenant)
	if err != nil {
		return err
	}
	return c.JSON(s)
}

func (h emailAPI) putSettings(c *fiber.Ctx) error {
	p := who(c)
	var r emailSettingsRequest
	if err := decodeJSON(c, &r); err != nil {
		return err
	}
	in := email.Settings{Enabled: r.Enabled, Host: r.Host, Port: r.Port, Security: r.Security, Username: r.Username,
		From: r.From, FromName: r.FromName, NotifyAddress: r.NotifyAddress,
		Transcripts: r.Transcripts, OfflineMessages: r.OfflineMessages, MissedChats: r.MissedChats}
	s, err := h.ops.SetEmailSettings(c.UserContext(), p.Actor, p.Tenant, in, r.Password)
	if err != nil {
		return emailError(err)
	}
	return c.JSON(s)
}

func (h emailAPI) sendTest(c *fiber.Ctx) error {
	var r struct {
		To string `json:"to"`
	}
	if err := decodeJSON(c, &r); err != nil {
		return err
	}
	m, err := h.ops.SendTestMail(c.UserContext(), who(c).Tenant, r.To)
	if errors.Is(err, ops.ErrNotSent) {
		// The delivery log has it too; the person gets the server's answer now.
		why := strings.TrimSuffix(strings.TrimPrefix(err.Error(), ops.ErrNotSent.Error()+": "), ".")
		return &apiError{Status: fiber.StatusBadGateway, Code: "not_sent", Message: "The test email was not sent: " + why + "."}
	}
	if err != nil {
		return emailError(err)
	}
	return c.JSON(m)
}

func (h emailAPI) listMails(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	f := store.MailFilter{Status: c.Query("status"), Kind: c.Query("kind")}
	if f.Status != "" && !slices.Contains([]string{store.MailPending, store.MailSending, store.MailSent, store.MailFailed}, f.Status) {
		return errBadRequest("invalid_query", "status is pending, sending, sent or failed", "status")
	}
	if f.Kind != "" && !slices.Contains([]string{ops.MailTranscript, ops.MailOffline, ops.MailMissed, ops.MailTest}, f.Kind) {
		return errBadRequest("invalid_query", "kind is transcript, offline, missed or test", "kind")
	}
	items, next, err := h.ops.Mails(c.UserContext(), who(c).Tenant, f, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}

func (h emailAPI) retryMail(c *fiber.Ctx) error {
	p := who(c)
	if err := h.ops.RetryMail(c.UserContext(), p.Actor, p.Tenant, param(c, "mailID")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusAccepted)
}

// emailError renders a refusal of the settings or of a test email: 422 with
// the reasons as sentences.
func emailError(err error) error {
	if !errors.Is(err, ops.ErrEmail) {
		return err
	}
	return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: sentence(err, ops.ErrEmail)}
}

// sentence is an error's words after its sentinel, one sentence per line
// joined, capitalized and ended with a full stop.
func sentence(err, sentinel error) string {
	text := strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
	parts := strings.Split(text, "\n")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p != "" {
			p = strings.ToUpper(p[:1]) + p[1:]
		}
		parts[i] = strings.TrimSuffix(p, ".") + "."
	}
	return strings.Join(parts, " ")
}
