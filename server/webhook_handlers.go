package server

import (
	"context"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/webhooks"
)

func (s *Server) webhookRoutes(r fiber.Router) {
	r.Get("/webhooks", s.authz("webhooks", "read"), s.listWebhooks)
	r.Post("/webhooks", s.authz("webhooks", "write"), s.createWebhook)
	r.Get("/webhooks/:webhookID", s.authz("webhooks", "read"), s.getWebhook)
	r.Patch("/webhooks/:webhookID", s.authz("webhooks", "write"), s.updateWebhook)
	r.Delete("/webhooks/:webhookID", s.authz("webhooks", "write"), s.deleteWebhook)
	r.Get("/webhooks/:webhookID/deliveries", s.authz("webhooks", "read"), s.listDeliveries)
	r.Post("/webhooks/:webhookID/deliveries/:deliveryID/replay", s.authz("webhooks", "write"), s.replayDelivery)
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

func (s *Server) listWebhooks(c *fiber.Ctx) error {
	ws, err := s.st.Webhooks(c.UserContext(), who(c).Tenant)
	if err != nil {
		return err
	}
	return list(c, ws, "")
}

func (s *Server) createWebhook(c *fiber.Ctx) error {
	p := who(c)
	var req webhookRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	w := store.Webhook{TenantID: p.Tenant, Active: true, Secret: webhooks.NewSecret()}
	if err := req.apply(c.UserContext(), &w, s.cfg.WebhooksPrivate); err != nil {
		return err
	}
	saved, err := s.st.SaveWebhook(c.UserContext(), p.Actor, w)
	if err != nil {
		return err
	}
	s.hooks.Forget(p.Tenant)
	// The secret is shown once: receivers verify signatures with it.
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"webhook": saved, "secret": saved.Secret})
}

func (s *Server) getWebhook(c *fiber.Ctx) error {
	w, err := s.st.Webhook(c.UserContext(), who(c).Tenant, param(c, "webhookID"))
	if err != nil {
		return err
	}
	return c.JSON(w)
}

func (s *Server) updateWebhook(c *fiber.Ctx) error {
	p := who(c)
	w, err := s.st.Webhook(c.UserContext(), p.Tenant, param(c, "webhookID"))
	if err != nil {
		return err
	}
	var req webhookRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := req.apply(c.UserContext(), &w, s.cfg.WebhooksPrivate); err != nil {
		return err
	}
	saved, err := s.st.SaveWebhook(c.UserContext(), p.Actor, w)
	if err != nil {
		return err
	}
	s.hooks.Forget(p.Tenant)
	return c.JSON(saved)
}

func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	p := who(c)
	if err := s.st.DeleteWebhook(c.UserContext(), p.Actor, p.Tenant, param(c, "webhookID")); err != nil {
		return err
	}
	s.hooks.Forget(p.Tenant)
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) listDeliveries(c *fiber.Ctx) error {
	p := who(c)
	page, err := listPage(c)
	if err != nil {
		return err
	}
	if _, err := s.st.Webhook(c.UserContext(), p.Tenant, param(c, "webhookID")); err != nil {
		return err
	}
	items, next, err := s.st.Deliveries(c.UserContext(), p.Tenant, param(c, "webhookID"), page)
	if err != nil {
		return err
	}
	// Payloads are sealed at rest: the log shows them opened.
	for i := range items {
		if items[i].Payload, err = s.hooks.Payload(c.UserContext(), items[i]); err != nil {
			return err
		}
	}
	return list(c, items, next)
}

func (s *Server) replayDelivery(c *fiber.Ctx) error {
	p := who(c)
	if err := s.st.ReplayDelivery(c.UserContext(), p.Actor, p.Tenant, param(c, "webhookID"), param(c, "deliveryID")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusAccepted)
}
