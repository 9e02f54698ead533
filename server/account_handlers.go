package server

import (
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/store"
)

// accountAPI serves logging in and out, the signed-in user's account, and invitations to join a tenant.
type accountAPI struct {
	st        *store.Store
	auth      *auth.Service
	log       *slog.Logger
	proxies   trustedProxies
	origin    consoleOrigin
	avatars   avatarAPI
	publicURL string
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// login checks credentials and sets the session cookie. It refuses
// cross-origin requests, so a foreign page cannot log a browser in (login CSRF).
func (h accountAPI) login(c *fiber.Ctx) error {
	if err := h.origin.sameOrigin(c); err != nil {
		return err
	}
	var req loginRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" || len(req.Email) > 254 || len(req.Password) > 256 {
		return errBadRequest("invalid", "email and password are required", "email")
	}
	l, err := h.auth.Login(c.UserContext(), req.Email, req.Password, h.proxies.clientIP(c), c.Get(fiber.HeaderUserAgent))
	if err != nil {
		return err
	}
	h.setSessionCookie(c, l.Secret)
	h.log.Info("login", "request_id", requestID(c), "user", l.User.ID)
	return h.renderMe(c, &principal{Subject: "user:" + l.User.ID, User: &l.User, Session: &l.Session})
}

func (h accountAPI) setSessionCookie(c *fiber.Ctx, secret string) {
	c.Cookie(&fiber.Cookie{
		Name: h.origin.cookieName(), Value: secret, Path: "/", HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
		Secure: h.origin.secure, Expires: time.Now().Add(h.auth.SessionTTL()),
	})
}

func (h accountAPI) logout(c *fiber.Ctx) error {
	p := who(c)
	if p.Session == nil {
		return errBadRequest("not_a_session", "bearer tokens are revoked through /api/tokens, not logged out", "")
	}
	if err := h.auth.Logout(c.UserContext(), p.secret); err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: h.origin.cookieName(), Value: "", Path: "/", HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
		Secure: h.origin.secure, Expires: time.Unix(0, 0), MaxAge: -1})
	return c.SendStatus(fiber.StatusNoContent)
}

func (h accountAPI) me(c *fiber.Ctx) error { return h.renderMe(c, who(c)) }

// session tells the console whether its cookie still holds a session: 200
// either way, so that opening the console logged out logs no failed request
// in the browser. With a session it answers as /api/me does.
func (h accountAPI) session(c *fiber.Ctx) error {
	if c.Cookies(h.origin.cookieName()) == "" {
		return c.JSON(fiber.Map{"authenticated": false})
	}
	ss, u, err := h.auth.Session(c.UserContext(), c.Cookies(h.origin.cookieName()))
	if errors.Is(err, auth.ErrNoSession) {
		return c.JSON(fiber.Map{"authenticated": false})
	}
	if err != nil {
		return err
	}
	p := &principal{Subject: auth.UserSubject(u.ID), Actor: store.Actor{Kind: "user", ID: u.ID}, User: &u, Session: &ss}
	if err := pickTenant(c, p, h.auth.Enforcer, h.st); err != nil {
		return err
	}
	return h.renderMe(c, p)
}

// renderMe describes the principal: user or token, its tenants, the tenant and
// role of this request, and the CSRF token the console sends back on changes.
func (h accountAPI) renderMe(c *fiber.Ctx, p *principal) error {
	out := fiber.Map{"authenticated": true, "tenant_id": p.Tenant, "role": p.Role, "permissions": h.auth.Enforcer.Permissions(p.Role)}
	if p.Token != nil {
		out["token"] = p.Token
		return c.JSON(out)
	}
	ms, err := h.st.Memberships(c.UserContext(), p.User.ID)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []store.Membership{}
	}
	if p.Tenant == "" && len(ms) > 0 {
		out["tenant_id"], out["role"], out["permissions"] = ms[0].TenantID, ms[0].Role, h.auth.Enforcer.Permissions(ms[0].Role)
	}
	avatar, err := h.avatars.avatarURL(c.UserContext(), p.User.ID)
	if err != nil {
		return err
	}
	out["user"], out["memberships"], out["csrf_token"], out["avatar"] = p.User, ms, p.Session.CSRFToken, avatar
	return c.JSON(out)
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword sets a new password and ends the user's other sessions.
func (h accountAPI) changePassword(c *fiber.Ctx) error {
	p := who(c)
	if p.User == nil {
		return errForbidden
	}
	var req passwordRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := h.auth.ChangePassword(c.UserContext(), *p.User, req.CurrentPassword, req.NewPassword, p.secret); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type profileRequest struct {
	Name string `json:"name"`
}

// changeProfile sets the user's display name: what visitors see beside an
// agent's messages (from the next connection of the agent's desk).
func (h accountAPI) changeProfile(c *fiber.Ctx) error {
	p := who(c)
	if p.User == nil {
		return errBadRequest("not_a_session", "a token has no profile: its name is set when it is made", "")
	}
	var req profileRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" || utf8.RuneCountInString(name) > 80 || strings.ContainsFunc(name, unicode.IsControl) {
		return &store.FieldError{Field: "name", Message: "1 to 80 characters, no control characters"}
	}
	u, err := h.st.SetUserName(c.UserContext(), p.Actor, p.User.ID, name)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func secureCookies(cfg Config) bool {
	return cfg.TLS() || strings.HasPrefix(cfg.PublicURL, "https://")
}
