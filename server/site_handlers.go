package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/store"
)

func (h siteAPI) listSites(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	items, next, err := h.st.Sites(c.UserContext(), who(c).Tenant, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}

// siteAPI serves a tenant's sites.
type siteAPI struct {
	st  *store.Store
	ops *ops.Service
}

// siteRequest is the body of create and update; an absent field keeps its
// current (or default) value.
type siteRequest struct {
	Key            *string             `json:"key"`
	Name           *string             `json:"name"`
	AllowedOrigins *[]string           `json:"allowed_origins"`
	TimeZone       *string             `json:"time_zone"`
	Theme          *store.SiteTheme    `json:"theme"`
	Settings       *store.SiteSettings `json:"settings"`
}

func (r siteRequest) apply(st *store.Site) {
	if r.Name != nil {
		st.Name = *r.Name
	}
	if r.AllowedOrigins != nil {
		st.AllowedOrigins = *r.AllowedOrigins
	}
	if r.TimeZone != nil {
		st.TimeZone = *r.TimeZone
	}
	if r.Theme != nil {
		st.Theme = *r.Theme
	}
	if r.Settings != nil {
		st.Settings = *r.Settings
	}
}

func (h siteAPI) createSite(c *fiber.Ctx) error {
	p := who(c)
	var req siteRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	st := store.Site{TenantID: p.Tenant, Theme: store.DefaultSiteTheme, Settings: store.DefaultSiteSettings, AllowedOrigins: []string{}}
	if req.Key != nil {
		st.Key = *req.Key
		if st.Key == "" {
			return &store.FieldError{Field: "key", Message: "must not be empty; leave it out for a random key"}
		}
	}
	req.apply(&st)
	st, err := h.st.CreateSite(c.UserContext(), p.Actor, st)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(st)
}

func (h siteAPI) getSite(c *fiber.Ctx) error {
	st, err := h.st.Site(c.UserContext(), who(c).Tenant, param(c, "siteID"))
	if err != nil {
		return err
	}
	return c.JSON(st)
}

func (h siteAPI) updateSite(c *fiber.Ctx) error {
	p, id := who(c), param(c, "siteID")
	if _, err := h.st.Site(c.UserContext(), p.Tenant, id); err != nil {
		return err
	}
	var req siteRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Key != nil {
		return &store.FieldError{Field: "key", Message: "cannot change: it is in every page that carries the snippet"}
	}
	st, err := h.st.UpdateSite(c.UserContext(), p.Actor, p.Tenant, id, func(st *store.Site) error {
		req.apply(st)
		return nil
	})
	if err != nil {
		return err
	}
	h.ops.Forget(st.Key)
	return c.JSON(st)
}

func (h siteAPI) deleteSite(c *fiber.Ctx) error {
	p := who(c)
	if err := h.ops.DeleteSite(c.UserContext(), p.Actor, p.Tenant, param(c, "siteID")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// getSiteSecret shows the secret a site's server uses to sign visitor identities.
func (h siteAPI) getSiteSecret(c *fiber.Ctx) error {
	st, err := h.st.Site(c.UserContext(), who(c).Tenant, param(c, "siteID"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"identity_secret": st.IdentitySecret})
}

func (h siteAPI) rotateSiteSecret(c *fiber.Ctx) error {
	p := who(c)
	st, err := h.st.RotateSiteSecret(c.UserContext(), p.Actor, p.Tenant, param(c, "siteID"))
	if err != nil {
		return err
	}
	h.ops.Forget(st.Key)
	return c.JSON(fiber.Map{"identity_secret": st.IdentitySecret})
}
