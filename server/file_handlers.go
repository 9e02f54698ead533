package server

import (
	"errors"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/chat"
)

// maxUploading bounds the bytes of files being received at once, server-wide
// (Server.uploading): many half-sent files must not exhaust memory.
const maxUploading = 256 << 20

// startUpload answers an upload command: the size is checked, and the
// conversation's rules, before any byte of the file is received.
func (h *socketAPI) startUpload(w *wsConn, f *frame, tenant, conversation string, who chat.Sender, a *chat.Agent) {
	if w.up != nil {
		w.fail(f, "state", "one upload at a time: finish the current one")
		return
	}
	if err := h.chat.CheckUpload(w.ctx, tenant, conversation, who, a, f.Size); err != nil {
		w.failErr(f, err)
		return
	}
	if h.uploading.Add(f.Size) > maxUploading {
		h.uploading.Add(-f.Size)
		w.fail(f, "busy", "too many uploads at once; retry shortly")
		return
	}
	w.up = &upload{id: f.ID, name: f.Name, conversation: conversation, size: f.Size, buf: make([]byte, 0, f.Size)}
	w.ok(f, map[string]any{"max_chunk": wsMaxFrame - 1024})
}

// uploadChunk takes a binary frame of the current upload; the last one
// stores the file and answers upload_done with its reference.
func (h *socketAPI) uploadChunk(w *wsConn, data []byte, tenant string, who chat.Sender) {
	u := w.up
	if int64(len(u.buf)+len(data)) > u.size {
		h.endUpload(w)
		w.fail(&frame{ID: u.id}, "invalid", "more bytes than the upload announced")
		return
	}
	u.buf = append(u.buf, data...)
	if int64(len(u.buf)) < u.size {
		return
	}
	h.endUpload(w)
	ref, err := h.chat.StoreFile(w.ctx, tenant, u.conversation, who, u.name, u.buf)
	if err != nil {
		w.failErr(&frame{ID: u.id}, err)
		return
	}
	w.push(reply{Type: "upload_done", ID: u.id, Data: ref})
}

func (h *socketAPI) endUpload(w *wsConn) {
	if w.up != nil {
		h.uploading.Add(-w.up.size)
		w.up = nil
	}
}

// sendFile answers a download: the sniffed type, as an attachment, never
// rendered by the browser.
func sendFile(c *fiber.Ctx, name, typ string, data []byte) error {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	c.Set(fiber.HeaderContentType, typ)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+ascii+`"; filename*=UTF-8''`+url.PathEscape(name))
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	return c.Send(data)
}

// agentFile serves a conversation's file to an agent allowed to read it.
func (h *socketAPI) agentFile(c *fiber.Ctx) error {
	a := chatAgent(c, h.auth.Enforcer)
	f, data, err := h.chat.OpenFile(c.UserContext(), a.Tenant, param(c, "fileID"), nil, &a)
	if err != nil {
		return err
	}
	if f.ConversationID != param(c, "conversationID") {
		return errNotFound
	}
	return sendFile(c, f.Name, f.Type, data)
}

const headerChatToken = "X-Nudge-Chat-Token"

// visitorFile serves a file to the visitor of its conversation: the site's
// origin, and the chat token in a header (never in the URL, which logs keep).
func (h *socketAPI) visitorFile(c *fiber.Ctx) error {
	site, err := h.gate.allowedSite(c, c.Query("site"))
	if err != nil {
		return err
	}
	v, err := h.chat.VisitorByToken(c.UserContext(), c.Get(headerChatToken))
	if errors.Is(err, chat.ErrToken) || (err == nil && v.Site != site.ID) {
		return &apiError{Status: fiber.StatusUnauthorized, Code: "token", Message: "invalid chat token"}
	}
	if err != nil {
		return err
	}
	f, data, err := h.chat.OpenFile(c.UserContext(), v.Tenant, param(c, "fileID"), &v, nil)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderAccessControlExposeHeaders, fiber.HeaderContentDisposition)
	return sendFile(c, f.Name, f.Type, data)
}

// filePreflight lets an allowed site send the chat token header.
func (h *socketAPI) filePreflight(c *fiber.Ctx) error {
	if _, err := h.gate.allowedSite(c, c.Query("site")); err != nil {
		return err
	}
	c.Set(fiber.HeaderAccessControlAllowMethods, "GET")
	c.Set(fiber.HeaderAccessControlAllowHeaders, headerChatToken)
	c.Set(fiber.HeaderAccessControlMaxAge, "86400")
	return c.SendStatus(fiber.StatusNoContent)
}
