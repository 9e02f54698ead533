package server

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/store"
)

// param copies a path parameter: fiber reuses the buffer behind c.Params.
func param(c *fiber.Ctx, name string) string { return strings.Clone(c.Params(name)) }

func (s *Server) listMembers(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	items, next, err := s.st.Members(c.UserContext(), who(c).Tenant, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}

func (s *Server) getMember(c *fiber.Ctx) error {
	m, err := s.st.Member(c.UserContext(), who(c).Tenant, param(c, "userID"))
	if err != nil {
		return err
	}
	return c.JSON(m)
}

type updateMemberRequest struct {
	Role string `json:"role"`
}

func (s *Server) updateMember(c *fiber.Ctx) error {
	p, id := who(c), param(c, "userID")
	ctx := c.UserContext()
	if _, err := s.st.Member(ctx, p.Tenant, id); err != nil {
		return err
	}
	var req updateMemberRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.auth.SetMembership(ctx, p.Actor, p.Role, p.Tenant, id, req.Role); err != nil {
		return err
	}
	m, err := s.st.Member(ctx, p.Tenant, id)
	if err != nil {
		return err
	}
	return c.JSON(m)
}

func (s *Server) removeMember(c *fiber.Ctx) error {
	p, id := who(c), param(c, "userID")
	ctx := c.UserContext()
	if _, err := s.st.Member(ctx, p.Tenant, id); err != nil {
		return err
	}
	if err := s.auth.RemoveMembership(ctx, p.Actor, p.Role, p.Tenant, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) listTokens(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	items, next, err := s.st.Tokens(c.UserContext(), who(c).Tenant, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}

type createTokenRequest struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// createToken answers the token's secret once; only its hash is kept.
func (s *Server) createToken(c *fiber.Ctx) error {
	p := who(c)
	var req createTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Role == auth.RoleOwner && p.Role != auth.RoleOwner {
		return auth.ErrEscalation
	}
	secret, t, err := s.auth.CreateToken(c.UserContext(), p.Actor, p.Tenant, req.Name, req.Role, req.ExpiresAt)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"token": t, "secret": secret})
}

func (s *Server) deleteToken(c *fiber.Ctx) error {
	p := who(c)
	if err := s.auth.DeleteToken(c.UserContext(), p.Actor, p.Tenant, param(c, "tokenID")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) listAudit(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	f := store.AuditFilter{Action: strings.Clone(c.Query("action")), Actor: strings.Clone(c.Query("actor"))}
	if len(f.Action) > 64 || len(f.Actor) > 128 {
		return errBadRequest("invalid_query", "action and actor are at most 64 and 128 bytes", "action")
	}
	items, next, err := s.st.Audit(c.UserContext(), who(c).Tenant, f, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}
