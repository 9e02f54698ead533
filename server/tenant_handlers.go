package server

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/server/auth"
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

type addMemberRequest struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

// addMember adds a user to the tenant: an existing account by its email, or a
// new account when a password is given.
func (s *Server) addMember(c *fiber.Ctx) error {
	p := who(c)
	var req addMemberRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	email, err := auth.ValidEmail(req.Email)
	if err != nil {
		return err
	}
	if !auth.ValidRole(req.Role) {
		return &store.FieldError{Field: "role", Message: "unknown role"}
	}
	if req.Role == auth.RoleOwner && p.Role != auth.RoleOwner {
		return auth.ErrEscalation
	}
	ctx := c.UserContext()
	u, err := s.st.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if req.Password == "" {
			return &store.FieldError{Field: "password", Message: "is required for a new account"}
		}
		u, err = s.auth.CreateUser(ctx, p.Actor, p.Tenant, auth.NewUser{Email: email, Name: req.Name, Password: req.Password, Role: req.Role})
		if err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if req.Password != "" || req.Name != "" {
			return &store.FieldError{Field: "password", Message: "cannot be set for an existing account"}
		}
		if _, err := s.st.Member(ctx, p.Tenant, u.ID); err == nil {
			return store.ErrConflict
		}
		if err := s.auth.SetMembership(ctx, p.Actor, p.Role, p.Tenant, u.ID, req.Role); err != nil {
			return err
		}
	}
	m, err := s.st.Member(ctx, p.Tenant, u.ID)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(m)
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
	items, next, err := s.st.Audit(c.UserContext(), who(c).Tenant, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}
