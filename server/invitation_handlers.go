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
func (s *Server) invite(c *fiber.Ctx) error {
	p := who(c)
	var req inviteRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ttl := auth.InvitationTTL
	if req.ExpiresInDays != nil {
		ttl = time.Duration(*req.ExpiresInDays) * 24 * time.Hour
	}
	token, inv, err := s.auth.Invite(c.UserContext(), p.Actor, p.Role, p.Tenant, req.Email, req.Role, ttl)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"invitation": inv, "url": s.invitationURL(token)})
}

// invitationURL puts the token in the fragment: browsers send it to no
// server, so it stays out of access logs and Referer headers.
func (s *Server) invitationURL(token string) string { return s.cfg.PublicURL + "/invite#" + token }

func (s *Server) listInvitations(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	items, next, err := s.st.Invitations(c.UserContext(), who(c).Tenant, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}

func (s *Server) revokeInvitation(c *fiber.Ctx) error {
	p := who(c)
	if err := s.st.RevokeInvitation(c.UserContext(), p.Actor, p.Tenant, param(c, "invitationID")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type invitationTokenRequest struct {
	Token string `json:"token"`
}

// previewInvitation shows the invited person what they are asked to join
// (the token travels in the body, never in a URL).
func (s *Server) previewInvitation(c *fiber.Ctx) error {
	if err := s.sameOrigin(c); err != nil {
		return err
	}
	var req invitationTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	inv, tenant, err := s.auth.PendingInvitation(c.UserContext(), req.Token)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tenant_name": tenant, "email": inv.Email, "role": inv.Role, "expires_at": inv.ExpiresAt})
}

// acceptInvitation makes the logged-in user a member of the invitation's
// tenant (the invitation must be for their email).
func (s *Server) acceptInvitation(c *fiber.Ctx) error {
	p := who(c)
	if p.User == nil {
		return errBadRequest("not_a_session", "log in to the console to accept an invitation", "")
	}
	var req invitationTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	inv, err := s.auth.AcceptInvitation(c.UserContext(), req.Token, *p.User)
	if err != nil {
		return err
	}
	p.Tenant, p.Role = inv.TenantID, inv.Role
	return s.renderMe(c, p)
}

type joinRequest struct {
	Token    string `json:"token"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

// joinByInvitation accepts an invitation without a session: with the
// password of the invited address's account, or by creating that account.
// It logs the person in, and refuses cross-origin requests as login does.
func (s *Server) joinByInvitation(c *fiber.Ctx) error {
	if err := s.sameOrigin(c); err != nil {
		return err
	}
	var req joinRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Password == "" {
		return &store.FieldError{Field: "password", Message: "is required"}
	}
	l, inv, err := s.auth.JoinByInvitation(c.UserContext(), req.Token, req.Name, req.Password, s.proxies.clientIP(c), c.Get(fiber.HeaderUserAgent))
	if err != nil {
		return err
	}
	s.setSessionCookie(c, l.Secret)
	s.log.Info("joined by invitation", "request_id", requestID(c), "user", l.User.ID, "tenant", inv.TenantID)
	return s.renderMe(c, &principal{Subject: auth.UserSubject(l.User.ID), User: &l.User, Session: &l.Session, Tenant: inv.TenantID, Role: inv.Role})
}
