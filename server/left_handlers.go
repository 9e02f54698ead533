package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/store"
)

// The desk's left messages: a chatAPI's, since who sees which follows the
// chat's roles and queues.

func (h chatAPI) listLeftMessages(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	f := store.LeftFilter{State: c.Query("state"), Queue: c.Query("queue")}
	if f.State != "" && f.State != "new" && f.State != "answered" {
		return errBadRequest("invalid_query", "state is new or answered", "state")
	}
	items, next, err := h.ops.LeftMessages(c.UserContext(), chatAgent(c, h.enforcer), f, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}

func (h chatAPI) answerLeftMessage(c *fiber.Ctx) error {
	var r struct {
		Text string `json:"text"`
	}
	if err := decodeJSON(c, &r); err != nil {
		return err
	}
	if err := h.ops.AnswerLeftMessage(c.UserContext(), who(c).Actor, chatAgent(c, h.enforcer), param(c, "conversationID"), r.Text); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusAccepted)
}

func (h chatAPI) markLeftMessage(c *fiber.Ctx) error {
	var r struct {
		Answered *bool `json:"answered"`
	}
	if err := decodeJSON(c, &r); err != nil {
		return err
	}
	if err := h.ops.MarkLeftMessage(c.UserContext(), who(c).Actor, chatAgent(c, h.enforcer), param(c, "conversationID"), r.Answered); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
