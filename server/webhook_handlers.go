package server

import (
	"context"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/webhooks"
)

// webhookAPI serves a tenant's webhooks and their deliveries.
type webhookAPI struct {
	st           *store.Store
	hooks        *webhooks.Dispatcher
	allowPrivate bool
}

type webhookRequest struct {
	URL    *string   `json:"url"`
	Events *[]string `json:"events"`
	Active *bool     `json:"active"`
}

func (r webhookRequest) apply(ctx context.Context, w *store.Webhook, allowPrivate bool) error {
	if r.URL != nil {
		w.URL = *r.URL
	}
	if r.Events != nil {
		w.Events = *r.Events
	}
	if r.Active != nil {
		w.Active = *r.Active
	}
	if err := webhooks.CheckTarget(ctx, w.URL, allowPrivate); err != nil {
		return &store.FieldError{Field: "url", Message: err.Error()}
	}
	if len(w.Events) == 0 {
		return &store.FieldError{Field: "events", Message: "at least one event"}
	}
	for _, e := range w.Events {
		if !slices.Contains(webhooks.Events, e) {
			return &store.FieldError{Field: "events", Message: "unknown event " + e}
		}
	}
	slices.Sort(w.Events)
	w.Events = slices.Compact(w.Events)
	return nil
}

func (h webhookAPI) listWebhooks(c *fiber.Ctx) error {
	ws, err := h.st.Webhooks(c.UserContext(), who(c).Tenant)
	if err != nil {
		return err
	}
	return list(c, ws, "")
}

func (h webhookAPI) createWebhook(c *fiber.Ctx) error {
	p := who(c)
	var req webhookRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	w := store.Webhook{TenantID: p.Tenant, Active: true, Secret: webhooks.NewSecret()}
	if err := req.apply(c.UserContext(), &w, h.allowPrivate); err != nil {
		return err
	}
	saved, err := h.st.SaveWebhook(c.UserContext(), p.Actor, w)
	if err != nil {
		return err
	}
	h.hooks.Forget(p.Tenant)
	// The secret is shown once: receivers verify signatures with it.
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"webhook": saved, "secret": saved.Secret})
}

func (h webhookAPI) getWebhook(c *fiber.Ctx) error {
	w, err := h.st.Webhook(c.UserContext(), who(c).Tenant, param(c, "webhookID"))
	if err != nil {
		return err
	}
	return c.JSON(w)
}

func (h webhookAPI) updateWebhook(c *fiber.Ctx) error {
	p := who(c)
	w, err := h.st.Webhook(c.UserContext(), p.Tenant, param(c, "webhookID"))
	if err != nil {
		return err
	}
	var req webhookRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := req.apply(c.UserContext(), &w, h.allowPrivate); err != nil {
		return err
	}
	saved, err := h.st.SaveWebhook(c.UserContext(), p.Actor, w)
	if err != nil {
		return err
	}
	h.hooks.Forget(p.Tenant)
	return c.JSON(saved)
}

func (h webhookAPI) deleteWebhook(c *fiber.Ctx) error {
	p := who(c)
	if err := h.st.DeleteWebhook(c.UserContext(), p.Actor, p.Tenant, param(c, "webhookID")); err != nil {
		return err
	}
	h.hooks.Forget(p.Tenant)
	return c.SendStatus(fiber.StatusNoContent)
}

func (h webhookAPI) listDeliveries(c *fiber.Ctx) error {
	p := who(c)
	page, err := listPage(c)
	if err != nil {
		return err
	}
	if _, err := h.st.Webhook(c.UserContext(), p.Tenant, param(c, "webhookID")); err != nil {
		return err
	}
	items, next, err := h.st.Deliveries(c.UserContext(), p.Tenant, param(c, "webhookID"), page)
	if err != nil {
		return err
	}
	// Payloads are sealed at rest: the log shows them opened.
	for i := range items {
		if items[i].Payload, err = h.hooks.Payload(c.UserContext(), items[i]); err != nil {
			return err
		}
	}
	return list(c, items, next)
}

func (h webhookAPI) replayDelivery(c *fiber.Ctx) error {
	p := who(c)
	if err := h.st.ReplayDelivery(c.UserContext(), p.Actor, p.Tenant, param(c, "webhookID"), param(c, "deliveryID")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusAccepted)
}
