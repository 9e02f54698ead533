package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/contacts"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/store"
)

// contactAPI serves a tenant's contacts.
type contactAPI struct {
	ops *ops.Service
}

// maxContactConversations bounds the conversations a contact's page lists.
const maxContactConversations = 200

func (h contactAPI) listContacts(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	items, next, err := h.ops.Contacts.List(c.UserContext(), who(c).Tenant, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}

// contactView is a contact with the devices and conversations it links.
type contactView struct {
	Contact       contacts.Contact            `json:"contact"`
	Visitors      []store.ContactVisitor      `json:"visitors"`
	Conversations []store.ContactConversation `json:"conversations"`
}

func (h contactAPI) getContact(c *fiber.Ctx) error {
	ctx, tenant := c.UserContext(), who(c).Tenant
	ct, err := h.ops.Contacts.Get(ctx, tenant, param(c, "contactID"))
	if err != nil {
		return err
	}
	v := contactView{Contact: ct, Visitors: []store.ContactVisitor{}, Conversations: []store.ContactConversation{}}
	vs, err := h.ops.Contacts.Visitors(ctx, tenant, ct.ID)
	if err != nil {
		return err
	}
	cs, err := h.ops.Contacts.Conversations(ctx, tenant, ct, maxContactConversations)
	if err != nil {
		return err
	}
	v.Visitors, v.Conversations = append(v.Visitors, vs...), append(v.Conversations, cs...)
	return c.JSON(v)
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
