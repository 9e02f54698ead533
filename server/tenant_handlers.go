package server

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/store"
)

// teamAPI serves a tenant's members, API tokens and audit log.
type teamAPI struct {
	st   *store.Store
	auth *auth.Service
}

// param copies a path parameter: fiber reuses the buffer behind c.Params.
func param(c *fiber.Ctx, name string) string { return strings.Clone(c.Params(name)) }

func (h teamAPI) listMembers(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	items, next, err := h.st.Members(c.UserContext(), who(c).Tenant, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}

func (h teamAPI) getMember(c *fiber.Ctx) error {
	m, err := h.st.Member(c.UserContext(), who(c).Tenant, param(c, "userID"))
	if err != nil {
		return err
	}
	return c.JSON(m)
}

type updateMemberRequest struct {
	Role string `json:"role"`
}

func (h teamAPI) updateMember(c *fiber.Ctx) error {
	p, id := who(c), param(c, "userID")
	ctx := c.UserContext()
	if _, err := h.st.Member(ctx, p.Tenant, id); err != nil {
		return err
	}
	var req updateMemberRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := h.auth.SetMembership(ctx, p.Actor, p.Role, p.Tenant, id, req.Role); err != nil {
		return err
	}
	m, err := h.st.Member(ctx, p.Tenant, id)
	if err != nil {
		return err
	}
	return c.JSON(m)
}

func (h teamAPI) removeMember(c *fiber.Ctx) error {
	p, id := who(c), param(c, "userID")
	ctx := c.UserContext()
	if _, err := h.st.Member(ctx, p.Tenant, id); err != nil {
		return err
	}
	if err := h.auth.RemoveMembership(ctx, p.Actor, p.Role, p.Tenant, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h teamAPI) listTokens(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	items, next, err := h.st.Tokens(c.UserContext(), who(c).Tenant, page)
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
func (h teamAPI) createToken(c *fiber.Ctx) error {
	p := who(c)
	var req createTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Role == auth.RoleOwner && p.Role != auth.RoleOwner {
		return auth.ErrEscalation
	}
	secret, t, err := h.auth.CreateToken(c.UserContext(), p.Actor, p.Tenant, req.Name, req.Role, req.ExpiresAt)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"token": t, "secret": secret})
}

func (h teamAPI) deleteToken(c *fiber.Ctx) error {
	p := who(c)
	if err := h.auth.DeleteToken(c.UserContext(), p.Actor, p.Tenant, param(c, "tokenID")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h teamAPI) listAudit(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	f := store.AuditFilter{Action: strings.Clone(c.Query("action")), Actor: strings.Clone(c.Query("actor"))}
	if len(f.Action) > 64 || len(f.Actor) > 128 {
		return errBadRequest("invalid_query", "action and actor are at most 64 and 128 bytes", "action")
	}
	items, next, err := h.st.Audit(c.UserContext(), who(c).Tenant, f, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}
