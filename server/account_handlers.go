package server

import (
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/store"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// login checks credentials and sets the session cookie. It refuses
// cross-origin requests, so a foreign page cannot log a browser in (login CSRF).
func (s *Server) login(c *fiber.Ctx) error {
	if err := s.sameOrigin(c); err != nil {
		return err
	}
	var req loginRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" || len(req.Email) > 254 || len(req.Password) > 256 {
		return errBadRequest("invalid", "email and password are required", "email")
	}
	l, err := s.auth.Login(c.UserContext(), req.Email, req.Password, s.proxies.clientIP(c), c.Get(fiber.HeaderUserAgent))
	if err != nil {
		return err
	}
	s.setSessionCookie(c, l.Secret)
	s.log.Info("login", "request_id", requestID(c), "user", l.User.ID)
	return s.renderMe(c, &principal{Subject: "user:" + l.User.ID, User: &l.User, Session: &l.Session})
}

func (s *Server) setSessionCookie(c *fiber.Ctx, secret string) {
	c.Cookie(&fiber.Cookie{
		Name: s.cookieName(), Value: secret, Path: "/", HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
		Secure: s.secureCookies(), Expires: time.Now().Add(s.auth.SessionTTL()),
	})
}

func (s *Server) logout(c *fiber.Ctx) error {
	p := who(c)
	if p.Session == nil {
		return errBadRequest("not_a_session", "bearer tokens are revoked through /api/tokens, not logged out", "")
	}
	if err := s.auth.Logout(c.UserContext(), p.secret); err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: s.cookieName(), Value: "", Path: "/", HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
		Secure: s.secureCookies(), Expires: time.Unix(0, 0), MaxAge: -1})
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) me(c *fiber.Ctx) error { return s.renderMe(c, who(c)) }

// session tells the console whether its cookie still holds a session: 200
// either way, so that opening the console logged out logs no failed request
// in the browser. With a session it answers as /api/me does.
func (s *Server) session(c *fiber.Ctx) error {
	if c.Cookies(s.cookieName()) == "" {
		return c.JSON(fiber.Map{"authenticated": false})
	}
	ss, u, err := s.auth.Session(c.UserContext(), c.Cookies(s.cookieName()))
	if errors.Is(err, auth.ErrNoSession) {
		return c.JSON(fiber.Map{"authenticated": false})
	}
	if err != nil {
		return err
	}
	p := &principal{Subject: auth.UserSubject(u.ID), Actor: store.Actor{Kind: "user", ID: u.ID}, User: &u, Session: &ss}
	if err := s.pickTenant(c, p); err != nil {
		return err
	}
	return s.renderMe(c, p)
}

// renderMe describes the principal: user or token, its tenants, the tenant and
// role of this request, and the CSRF token the console sends back on changes.
func (s *Server) renderMe(c *fiber.Ctx, p *principal) error {
	out := fiber.Map{"authenticated": true, "tenant_id": p.Tenant, "role": p.Role, "permissions": s.auth.Enforcer.Permissions(p.Role)}
	if p.Token != nil {
		out["token"] = p.Token
		return c.JSON(out)
	}
	ms, err := s.st.Memberships(c.UserContext(), p.User.ID)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []store.Membership{}
	}
	if p.Tenant == "" && len(ms) > 0 {
		out["tenant_id"], out["role"], out["permissions"] = ms[0].TenantID, ms[0].Role, s.auth.Enforcer.Permissions(ms[0].Role)
	}
	avatar, err := s.avatars.avatarURL(c.UserContext(), p.User.ID)
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
func (s *Server) changePassword(c *fiber.Ctx) error {
	p := who(c)
	if p.User == nil {
		return errForbidden
	}
	var req passwordRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.auth.ChangePassword(c.UserContext(), *p.User, req.CurrentPassword, req.NewPassword, p.secret); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type profileRequest struct {
	Name string `json:"name"`
}

// changeProfile sets the user's display name: what visitors see beside an
// agent's messages (from the next connection of the agent's desk).
func (s *Server) changeProfile(c *fiber.Ctx) error {
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
	u, err := s.st.SetUserName(c.UserContext(), p.Actor, p.User.ID, name)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func (s *Server) secureCookies() bool {
	return s.cfg.TLS() || strings.HasPrefix(s.cfg.PublicURL, "https://")
}
