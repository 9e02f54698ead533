package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/ops"
)

// contactAPI serves a tenant's contacts.
type contactAPI struct {
	ops *ops.Service
}

func (h contactAPI) listContacts(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	if q := c.Query("q"); q != "" {
		if len(q) > 200 {
			return errBadRequest("invalid_query", "q is at most 200 bytes", "q")
		}
		items, err := h.ops.Contacts.Search(c.UserContext(), who(c).Tenant, q)
		if err != nil {
			return err
		}
		return list(c, items, "")
	}
	items, next, err := h.ops.Contacts.List(c.UserContext(), who(c).Tenant, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}

func (h contactAPI) getContact(c *fiber.Ctx) error {
	p, err := h.ops.Contact(c.UserContext(), who(c).Tenant, param(c, "contactID"))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

// eraseContact deletes a contact and everything it links on every site.
func (h contactAPI) eraseContact(c *fiber.Ctx) error {
	p := who(c)
	out, err := h.ops.EraseContact(c.UserContext(), p.Actor, p.Tenant, param(c, "contactID"))
	if err != nil {
		return err
	}
	return c.JSON(out)
}
