package server

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/ops"
)

// liveVisitors lists a site's visitors on it now, for the agents' Visitors
// page (polled every few seconds).
func (h chatAPI) liveVisitors(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	items, err := h.ops.LiveVisitors(c.UserContext(), site)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": items, "push_offers": site.Settings.PushOffers})
}

// inviteVisitor makes a visitor on the site an agent's chat offer.
func (h chatAPI) inviteVisitor(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	var req ops.InviteRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	o, err := h.ops.Invite(c.UserContext(), who(c).Actor, chatAgent(c, h.enforcer), site, param(c, "visitorID"), req)
	switch {
	case errors.Is(err, ops.ErrBadVisitor):
		return errBadRequest("invalid", err.Error(), "visitorID")
	case errors.Is(err, ops.ErrNotOnSite):
		return &apiError{Status: fiber.StatusConflict, Code: "not_on_site", Message: "This visitor has no page of the site open now."}
	case errors.Is(err, ops.ErrNoPush):
		return &apiError{Status: fiber.StatusConflict, Code: "push_off", Message: "This site's pages do not ask for invitations: an owner or admin turns on pushed offers in the site's settings."}
	case err != nil:
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"id": o.ID, "expires_at": o.Expires.UTC()})
}
