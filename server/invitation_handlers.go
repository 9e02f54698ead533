package server

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/store"
)

type inviteRequest struct {
	Email         string `json:"email"`
	Role          string `json:"role"`
	ExpiresInDays *int   `json:"expires_in_days"`
}

// invite creates an invitation and answers with its link, whether or not an
// account has the address: the answer tells the inviter nothing about other
// tenants' users.
func (h accountAPI) invite(c *fiber.Ctx) error {
	p := who(c)
	var req inviteRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ttl := auth.InvitationTTL
	if req.ExpiresInDays != nil {
		ttl = time.Duration(*req.ExpiresInDays) * 24 * time.Hour
	}
	token, inv, err := h.auth.Invite(c.UserContext(), p.Actor, p.Role, p.Tenant, req.Email, req.Role, ttl)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"invitation": inv, "url": h.invitationURL(token)})
}

// invitationURL puts the token in the fragment: browsers send it to no
// server, so it stays out of access logs and Referer headers.
func (h accountAPI) invitationURL(token string) string { return h.publicURL + "/invite#" + token }

func (h accountAPI) listInvitations(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	items, next, err := h.st.Invitations(c.UserContext(), who(c).Tenant, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}

func (h accountAPI) revokeInvitation(c *fiber.Ctx) error {
	p := who(c)
	if err := h.st.RevokeInvitation(c.UserContext(), p.Actor, p.Tenant, param(c, "invitationID")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type invitationTokenRequest struct {
	Token string `json:"token"`
}

// previewInvitation shows the invited person what they are asked to join
// (the token travels in the body, never in a URL).
func (h accountAPI) previewInvitation(c *fiber.Ctx) error {
	if err := h.origin.sameOrigin(c); err != nil {
		return err
	}
	var req invitationTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	inv, tenant, err := h.auth.PendingInvitation(c.UserContext(), req.Token)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tenant_name": tenant, "email": inv.Email, "role": inv.Role, "expires_at": inv.ExpiresAt})
}

// acceptInvitation makes the logged-in user a member of the invitation's
// tenant (the invitation must be for their email).
func (h accountAPI) acceptInvitation(c *fiber.Ctx) error {
	p := who(c)
	if p.User == nil {
		return errBadRequest("not_a_session", "log in to the console to accept an invitation", "")
	}
	var req invitationTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	inv, err := h.auth.AcceptInvitation(c.UserContext(), req.Token, *p.User)
	if err != nil {
		return err
	}
	p.Tenant, p.Role = inv.TenantID, inv.Role
	return h.renderMe(c, p)
}

type joinRequest struct {
	Token    string `json:"token"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

// joinByInvitation accepts an invitation without a session: with the
// password of the invited address's account, or by creating that account.
// It logs the person in, and refuses cross-origin requests as login does.
func (h accountAPI) joinByInvitation(c *fiber.Ctx) error {
	if err := h.origin.sameOrigin(c); err != nil {
		return err
	}
	var req joinRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Password == "" {
		return &store.FieldError{Field: "password", Message: "is required"}
	}
	l, inv, err := h.auth.JoinByInvitation(c.UserContext(), req.Token, req.Name, req.Password, h.proxies.clientIP(c), c.Get(fiber.HeaderUserAgent))
	if err != nil {
		return err
	}
	h.setSessionCookie(c, l.Secret)
	h.log.Info("joined by invitation", "request_id", requestID(c), "user", l.User.ID, "tenant", inv.TenantID)
	return h.renderMe(c, &principal{Subject: auth.UserSubject(l.User.ID), User: &l.User, Session: &l.Session, Tenant: inv.TenantID, Role: inv.Role})
}
