package server

import (
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/ops"
)

var visitorIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// pollOffers serves GET /offers/{siteKey}?visitor=…[&user=…&hash=…]: 204
// when nothing waits, else the offers. A user id counts only with the
// identity hash the site's server computed, so that nobody reads another
// user's offers by guessing their id.
func (h pageAPI) pollOffers(c *fiber.Ctx) error {
	now := time.Now()
	site, err := h.gate.allowedSite(c, c.Params("key"))
	if err != nil {
		return err
	}
	if !h.collectIP.allow(h.proxies.clientIP(c), now) {
		return tooMany(c, "too many requests from this address")
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	var ids []string
	if v := c.Query("visitor"); v != "" {
		if !visitorIDRE.MatchString(v) {
			return errBadRequest("invalid_query", "visitor: 1 to 64 letters, digits, _ or -", "visitor")
		}
		ids = append(ids, strings.Clone(v))
	}
	if u := c.Query("user"); u != "" {
		if len(u) > 128 || !analytics.VerifyIdentity(site.IdentitySecret, u, c.Query("hash")) {
			return errBadRequest("invalid_query", "user: the identity hash does not verify", "hash")
		}
		ids = append(ids, "u:"+strings.Clone(u))
	}
	if len(ids) == 0 {
		return errBadRequest("invalid_query", "visitor or user is required", "visitor")
	}
	got, err := h.ops.PollOffers(c.UserContext(), *site, ids, now)
	if err != nil {
		return err
	}
	if len(got) == 0 {
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.JSON(fiber.Map{"offers": got})
}

// pushOffer serves POST /api/sites/{site}/visitors/{id}/offers: the visitor
// (by visitor id, or by the user id the site identified them with) gets a
// chat offer on their open page within seconds; 409 when they are not on the site.
func (h pageAPI) pushOffer(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	var req ops.PushRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	o, err := h.ops.PushOffer(c.UserContext(), who(c).Actor, site, param(c, "visitorID"), req)
	switch {
	case errors.Is(err, ops.ErrBadVisitor):
		return errBadRequest("invalid", err.Error(), "visitorID")
	case errors.Is(err, ops.ErrNotOnSite):
		return &apiError{Status: fiber.StatusConflict, Code: "not_on_site", Message: err.Error()}
	case err != nil:
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"id": o.ID, "expires_at": o.Expires.UTC()})
}

// availability serves GET /availability/{siteKey}: every queue of the
// site's tenant, by folded name, as the chat engine counts it (available,
// connected agents with a free slot). The same for every visitor of a
// site, computed at most every two seconds per tenant and cacheable for five.
func (h pageAPI) availability(c *fiber.Ctx) error {
	site, err := h.gate.allowedSite(c, c.Params("key"))
	if err != nil {
		return err
	}
	qs, err := h.ops.Availability(c.UserContext(), site.TenantID)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=5")
	return c.JSON(fiber.Map{"queues": qs})
}

// chatWelcome answers what the chat panel shows before the visitor writes:
// the team's words and faces, whether and when someone can answer, and the
// pre-chat question and form. The chat starts with the first message.
func (h pageAPI) chatWelcome(c *fiber.Ctx) error {
	site, err := h.gate.allowedSite(c, c.Params("key"))
	if err != nil {
		return err
	}
	w, err := h.ops.Welcome(c.UserContext(), site.TenantID)
	if err != nil {
		return err
	}
	if w.Title == "" {
		w.Title = site.Name
	}
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.JSON(w)
}
