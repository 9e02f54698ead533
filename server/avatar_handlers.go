package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/store"
)

// avatarAPI serves users' pictures.
type avatarAPI struct {
	st        *store.Store
	publicURL string
}

// maxAvatar is the largest picture a user may choose.
const maxAvatar = 256 << 10

var avatarTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/webp": true}

// avatarURL is the absolute, versioned address of a user's picture (pages
// on other origins show it), or "" when they have none.
func (h avatarAPI) avatarURL(ctx context.Context, userID string) (string, error) {
	at, err := h.st.AvatarVersion(ctx, userID)
	if err != nil || at.IsZero() {
		return "", err
	}
	return fmt.Sprintf("%s/avatars/%s?v=%d", h.publicURL, userID, at.UnixMilli()), nil
}

// setAvatar takes the picture in the body (PNG, JPEG or WebP, by its bytes,
// at most 256 KiB): visitors see it beside the user's messages.
func (h avatarAPI) setAvatar(c *fiber.Ctx) error {
	p := who(c)
	if p.User == nil {
		return errBadRequest("not_a_session", "a token has no picture", "")
	}
	ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
	if !avatarTypes[ct] {
		return &apiError{Status: fiber.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "send the picture as image/png, image/jpeg or image/webp"}
	}
	body := c.Body()
	if len(body) > maxAvatar {
		return &apiError{Status: fiber.StatusRequestEntityTooLarge, Code: "too_large", Message: "a picture has at most 256 KiB"}
	}
	// The bytes decide, not the header.
	typ := http.DetectContentType(body)
	if !avatarTypes[typ] {
		return &store.FieldError{Field: "body", Message: "a PNG, JPEG or WebP picture"}
	}
	if err := h.st.SetAvatar(c.UserContext(), p.Actor, p.User.ID, typ, append([]byte(nil), body...)); err != nil {
		return err
	}
	url, err := h.avatarURL(c.UserContext(), p.User.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"avatar": url})
}

func (h avatarAPI) deleteAvatar(c *fiber.Ctx) error {
	p := who(c)
	if p.User == nil {
		return errBadRequest("not_a_session", "a token has no picture", "")
	}
	if err := h.st.DeleteAvatar(c.UserContext(), p.Actor, p.User.ID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// avatar serves a user's picture to anyone: visitors' pages show it. The
// URL is versioned, so it may be cached; it is never rendered as a page.
func (h avatarAPI) avatar(c *fiber.Ctx) error {
	av, err := h.st.UserAvatar(c.UserContext(), param(c, "userID"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=86400")
	c.Set(fiber.HeaderETag, strconv.FormatInt(av.UpdatedAt.UnixMilli(), 10))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	c.Set("Cross-Origin-Resource-Policy", "cross-origin")
	c.Set(fiber.HeaderContentType, av.Type)
	return c.Send(av.Body)
}
