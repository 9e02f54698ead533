package server

import (
	"crypto/subtle"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/store"
)

// principal is who makes a request and in which tenant.
type principal struct {
	Subject string // casbin subject: user:ID or token:ID
	Actor   store.Actor
	User    *store.User
	Token   *store.Token
	Session *store.Session
	secret  string // the session cookie, to keep this session on a password change
	Tenant  string // "" when the user belongs to no tenant
	Role    string
}

func who(c *fiber.Ctx) *principal {
	p, _ := c.Locals(localPrincipal).(*principal)
	return p
}

const (
	localPrincipal = "principal"
	localRequestID = "request_id"
	headerTenant   = "X-Nudge-Tenant"
	headerCSRF     = "X-CSRF-Token"
)

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID takes a sane incoming X-Request-ID or makes one, and echoes it.
func requestIDMiddleware(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if !requestIDRE.MatchString(id) {
		id = store.NewID()
	} else {
		id = strings.Clone(id)
	}
	c.Locals(localRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
	return c.Next()
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// observe renders errors, then logs and counts every request by route pattern
// (never by raw path, so the metric's cardinality stays bounded).
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	if status == fiber.StatusNotFound && route == "/" {
		route = "unmatched"
	}
	d := time.Since(start)
	// A copy: c.Method() points into a buffer fiber reuses, and the metric keeps its labels.
	method := strings.Clone(c.Method())
	s.metrics.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	s.metrics.duration.WithLabelValues(method, route).Observe(d.Seconds())
	if s.log.Enabled(c.UserContext(), s.cfg.Level()) {
		s.log.Debug("request", "request_id", requestID(c), "method", c.Method(), "path", c.Path(),
			"route", route, "status", status, "duration", d, "ip", s.proxies.clientIP(c))
	}
	return nil
}

// consoleHeaders are the security headers of the console and its API. The
// page-side routes do without them: they must stay loadable from other origins.
func (s *Server) consoleHeaders(c *fiber.Ctx) error {
	h := &c.Response().Header
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if s.cfg.TLS() {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	return c.Next()
}

// consoleOrigin is where the console is served: the origin its requests
// come from, and whether its cookies need HTTPS.
type consoleOrigin struct {
	publicURL string
	secure    bool
}

// sameOrigin refuses a request whose browser says it comes from another site:
// the Origin must be the console's, and Sec-Fetch-Site must not be cross-site.
// Non-browser clients send neither header and pass.
func (o consoleOrigin) sameOrigin(c *fiber.Ctx) error {
	if c.Get("Sec-Fetch-Site") == "cross-site" {
		return errCrossOrigin
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" || origin == o.publicURL || origin == c.BaseURL() {
		return nil
	}
	return errCrossOrigin
}

var errCrossOrigin = &apiError{Status: fiber.StatusForbidden, Code: "cross_origin", Message: "cross-origin request refused"}

func unsafeMethod(m string) bool {
	return m != fiber.MethodGet && m != fiber.MethodHead && m != fiber.MethodOptions
}

// authenticate finds the principal (bearer token or session cookie), checks
// CSRF for cookie-authenticated changes, and picks the tenant.
func (s *Server) authenticate(c *fiber.Ctx) error {
	ctx := c.UserContext()
	p := &principal{}
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return errUnauthenticated
		}
		t, err := s.auth.Token(ctx, secret)
		if errors.Is(err, auth.ErrNoToken) {
			return errUnauthenticated
		}
		if err != nil {
			return err
		}
		p.Subject, p.Actor, p.Token = auth.TokenSubject(t.ID), store.Actor{Kind: "token", ID: t.ID}, &t
		if h := c.Get(headerTenant); h != "" && h != t.TenantID {
			return errNoTenant
		}
		p.Tenant, p.Role = t.TenantID, t.Role
	} else {
		secret := c.Cookies(s.origin.cookieName())
		ss, u, err := s.auth.Session(ctx, secret)
		if errors.Is(err, auth.ErrNoSession) {
			return errUnauthenticated
		}
		if err != nil {
			return err
		}
		if unsafeMethod(c.Method()) {
			if err := s.origin.sameOrigin(c); err != nil {
				return err
			}
			if subtle.ConstantTimeCompare([]byte(c.Get(headerCSRF)), []byte(ss.CSRFToken)) != 1 {
				return &apiError{Status: fiber.StatusForbidden, Code: "csrf", Message: "missing or wrong " + headerCSRF + " header"}
			}
		}
		p.Subject, p.Actor, p.User, p.Session, p.secret = auth.UserSubject(u.ID), store.Actor{Kind: "user", ID: u.ID}, &u, &ss, strings.Clone(secret)
		if err := pickTenant(c, p, s.auth.Enforcer, s.st); err != nil {
			return err
		}
	}
	c.Locals(localPrincipal, p)
	return c.Next()
}

var errNoTenant = &apiError{Status: fiber.StatusNotFound, Code: "not_found", Message: "no such tenant"}

// pickTenant uses the X-Nudge-Tenant header, else the user's first tenant. A
// tenant the user is not a member of answers 404, like any foreign id.
func pickTenant(c *fiber.Ctx, p *principal, enforcer *auth.Enforcer, st *store.Store) error {
	if h := c.Get(headerTenant); h != "" {
		role := enforcer.Role(p.Subject, h)
		if role == "" {
			return errNoTenant
		}
		p.Tenant, p.Role = strings.Clone(h), role
		return nil
	}
	ms, err := st.Memberships(c.UserContext(), p.User.ID)
	if err != nil {
		return err
	}
	if len(ms) > 0 {
		p.Tenant, p.Role = ms[0].TenantID, ms[0].Role
	}
	return nil
}

// authz lets the request through when the principal's role in its tenant may
// do act on obj. It is on every tenant route's line.
func (s *Server) authz(obj, act string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := who(c)
		if p == nil {
			return errUnauthenticated
		}
		if p.Tenant == "" {
			return errNoTenant
		}
		if !s.auth.Enforcer.AllowedNow(c.UserContext(), p.Subject, p.Tenant, obj, act) {
			return errForbidden
		}
		return c.Next()
	}
}

func (o consoleOrigin) cookieName() string {
	if o.secure {
		return "__Host-nudge_session"
	}
	return "nudge_session"
}

// sameOriginOnly refuses a cross-site WebSocket: a page elsewhere must not
// ride on an agent's session cookie. Browsers send Origin on every upgrade,
// so a cookie-authenticated one without it is refused too; a bot with a
// bearer token has no origin to send.
func (s *Server) sameOriginOnly(c *fiber.Ctx) error {
	if err := s.origin.sameOrigin(c); err != nil {
		return err
	}
	if p := who(c); p != nil && p.Session != nil && c.Get(fiber.HeaderOrigin) == "" {
		return &apiError{Status: fiber.StatusForbidden, Code: "origin_not_allowed", Message: "a console connection must come from the console's page (no Origin header was sent)"}
	}
	return c.Next()
}

// tenantFromQuery lets a browser, which cannot set headers on a WebSocket,
// name its tenant as ?tenant=.
func tenantFromQuery(c *fiber.Ctx) error {
	if t := c.Query("tenant"); t != "" && c.Get(headerTenant) == "" {
		c.Request().Header.Set(headerTenant, t)
	}
	return c.Next()
}
