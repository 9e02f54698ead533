package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/rules"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/widget"
)

// pageRoutes are what a site's pages call: the loader, the modules, the site
// configuration and the collector. They carry no console headers: any allowed
// site must be able to load them.
func (s *Server) pageRoutes() {
	s.app.Get("/l/:file", s.loader)
	s.app.Get("/w/:file", s.module)
	s.app.Get("/config/:key", s.siteConfig)
	s.app.Options("/config/:key", s.preflight)
	s.app.Post("/collect", s.collect)
	s.app.Options("/collect", s.preflight)
	s.app.Get("/chat/welcome/:key", s.chatWelcome)
	s.app.Options("/chat/welcome/:key", s.preflight)
	s.app.Get("/availability/:key", s.availability)
	s.app.Options("/availability/:key", s.preflight)
	s.app.Get("/offers/:key", s.pollOffers)
	s.app.Get("/offer-preview", s.offerPreview)
	s.app.Options("/offers/:key", s.preflight)
}

// sendBundle answers with a precompressed bundle, honouring If-None-Match.
func sendBundle(c *fiber.Ctx, f *widget.File, cacheControl string) error {
	c.Set(fiber.HeaderCacheControl, cacheControl)
	c.Set(fiber.HeaderETag, f.ETag)
	c.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	c.Set(fiber.HeaderContentType, f.ContentType)
	c.Set(fiber.HeaderAccessControlAllowOrigin, "*") // public code, the same for every site
	c.Set("Cross-Origin-Resource-Policy", "cross-origin")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if f.SourceMap != "" {
		c.Set("SourceMap", f.SourceMap)
	}
	if c.Get(fiber.HeaderIfNoneMatch) == f.ETag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	accept := c.Get(fiber.HeaderAcceptEncoding)
	switch {
	case strings.Contains(accept, "br"):
		c.Set(fiber.HeaderContentEncoding, "br")
		return c.Send(f.Brotli)
	case strings.Contains(accept, "gzip"):
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(f.Gzip)
	}
	return c.Send(f.Body)
}

// loader serves /l/{siteKey}.js: short caching, so that a new release (or a
// site's new settings) reaches pages within minutes while its modules stay
// cached for a year. A site whose pages only measure gets the measuring
// loader, the analytics in it; ?guide gives that loader the guide and the
// site's configuration, for an offer the page makes.
func (s *Server) loader(c *fiber.Ctx) error {
	key, ok := strings.CutSuffix(c.Params("file"), ".js")
	if !ok {
		return errNotFound
	}
	key = strings.Clone(key)
	site, err := s.sites.get(c.UserContext(), key)
	if err != nil {
		return err
	}
	if site == nil {
		c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
		return c.Status(fiber.StatusNotFound).SendString("/* nudge: unknown site key */\n")
	}
	cache := "public, max-age=300"
	if s.dev != nil {
		cache = "no-cache"
	}
	cfg, err := s.pageConfigs.get(c.UserContext(), key)
	if err != nil {
		return err
	}
	if cfg == nil {
		return errNotFound
	}
	b := s.pageBundle()
	f := b.Loader
	switch {
	case c.Request().URI().QueryArgs().Has("guide"):
		f, err = b.Guided(key, cfg.etag, cfg.body)
	case cfg.measuring:
		f, err = b.Measuring(key, s.cfg.PublicURL, cfg.dnt, cfg.consent, cfg.cookieless)
	}
	if err != nil {
		return err
	}
	return sendBundle(c, f, cache)
}

func (s *Server) module(c *fiber.Ctx) error {
	f, ok := s.pageBundle().Files[c.Params("file")]
	if !ok {
		return errNotFound
	}
	return sendBundle(c, f, "public, max-age=31536000, immutable")
}

// allowedSite finds a site by key and checks the browser's Origin against its
// allowed origins, setting the CORS headers when it passes.
func (s *Server) allowedSite(c *fiber.Ctx, key string) (*store.Site, error) {
	site, err := s.sites.get(c.UserContext(), key)
	if err != nil {
		return nil, err
	}
	if site == nil {
		return nil, &apiError{Status: fiber.StatusNotFound, Code: "unknown_site", Message: "no site has this key"}
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" && c.Get("Sec-Fetch-Site") == "same-origin" {
		// Browsers send no Origin on a same-origin GET: the page is on this
		// server's own origin (the demo shop), which must still be allowed.
		origin = s.cfg.PublicURL
	}
	c.Vary(fiber.HeaderOrigin)
	if !site.AllowsOrigin(origin) {
		return nil, &apiError{Status: fiber.StatusForbidden, Code: "origin_not_allowed", Message: "this origin is not allowed for the site"}
	}
	c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
	return site, nil
}

// preflight answers CORS preflights of allowed origins.
func (s *Server) preflight(c *fiber.Ctx) error {
	origin := c.Get(fiber.HeaderOrigin)
	if key := c.Params("key"); key != "" {
		if _, err := s.allowedSite(c, key); err != nil {
			return err
		}
	} else if origin == "" {
		return errCrossOrigin
	} else {
		// /collect names its site in the body: allow the preflight, check the POST.
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Vary(fiber.HeaderOrigin)
	}
	c.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST")
	c.Set(fiber.HeaderAccessControlAllowHeaders, fiber.HeaderContentType)
	c.Set(fiber.HeaderAccessControlMaxAge, "86400")
	return c.SendStatus(fiber.StatusNoContent)
}

// pageConfig is what the loader learns of a site: its privacy settings,
// which modules to load, its time zone, and its published rules and the
// templates they show.
type pageConfig struct {
	Key        string                     `json:"key"`
	Modules    []string                   `json:"modules"`
	DNT        bool                       `json:"dnt"`
	Consent    bool                       `json:"consent"`
	Cookieless bool                       `json:"cookieless"`
	Theme      store.SiteTheme            `json:"theme"`
	Zone       string                     `json:"zone"`
	Push       bool                       `json:"push"`
	Rules      []pageRule                 `json:"rules"`
	Templates  map[string]*rules.Template `json:"templates"`
}

// pageRule is a published rule as pages receive it: everything but its
// name, which may say more of a marketer's intent than a visitor should read.
type pageRule struct {
	ID       string          `json:"id"`
	Version  int             `json:"v"`
	Priority int             `json:"priority"`
	When     *rules.Node     `json:"when"`
	Action   rules.Action    `json:"action"`
	Limits   rules.Limits    `json:"limits"`
	Schedule *rules.Schedule `json:"schedule,omitempty"`
	Split    *rules.Split    `json:"split,omitempty"`
}

// builtConfig is a site's configuration, rendered once and served with its ETag.
type builtConfig struct {
	body []byte
	etag string
	// measuring: the site's pages only measure (no chat, no live rules, no
	// pushed offers): they get the measuring loader, with its privacy settings.
	measuring                bool
	dnt, consent, cookieless bool
}

// buildConfig renders the configuration of the site with key; nil when
// there is no such site.
func (s *Server) buildConfig(ctx context.Context, key string) (*builtConfig, error) {
	site, err := s.sites.get(ctx, key)
	if err != nil || site == nil {
		return nil, err
	}
	live, templates, err := s.st.LiveOffers(ctx, site.ID)
	if err != nil {
		return nil, err
	}
	pc := pageConfig{Key: site.Key, Modules: []string{"analytics"}, DNT: site.Settings.RespectDNT,
		Consent: site.Settings.ConsentRequired, Cookieless: site.Settings.Cookieless, Theme: site.Theme,
		Zone: site.TimeZone, Push: site.Settings.PushOffers, Rules: []pageRule{}, Templates: map[string]*rules.Template{}}
	for _, lr := range live {
		r, err := rules.Parse(lr.Body, rules.Refs{})
		if err != nil {
			// Published rules were valid when published; a rule this build
			// no longer reads is left out rather than breaking every page.
			s.log.Warn("page config: a published rule does not parse", "site", site.Key, "rule", lr.ID, "err", err)
			continue
		}
		pc.Rules = append(pc.Rules, pageRule{ID: lr.ID, Version: lr.Version, Priority: r.Priority, When: r.When,
			Action: r.Action, Limits: r.Limits, Schedule: r.Schedule, Split: r.Split})
	}
	for _, t := range templates {
		tp, err := rules.ParseTemplate(t.Body, rules.Refs{})
		if err != nil {
			s.log.Warn("page config: a template does not parse", "site", site.Key, "template", t.ID, "err", err)
			continue
		}
		tp.Name = ""
		pc.Templates[t.ID] = tp
	}
	if len(pc.Rules) > 0 || pc.Push {
		pc.Modules = append(pc.Modules, "guide")
	}
	if site.Settings.Chat {
		pc.Modules = append(pc.Modules, "chat")
	}
	body, err := json.Marshal(pc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return &builtConfig{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, measuring: len(pc.Modules) == 1,
		dnt: pc.DNT, consent: pc.Consent, cookieless: pc.Cookieless}, nil
}

// countryRE is an ISO 3166-1 alpha-2 code; proxies' placeholders (XX, T1 for Tor) are not countries.
var countryRE = regexp.MustCompile(`^[A-WYZ][A-Z]$`)

// siteConfig serves GET /config/{siteKey}: revalidated by the page on every
// load, navigation and return to the tab (no-cache with an ETag), so that a
// publish reaches open pages within seconds and an unchanged one costs a 304.
func (s *Server) siteConfig(c *fiber.Ctx) error {
	key := c.Params("key")
	if _, err := s.allowedSite(c, key); err != nil {
		return err
	}
	cfg, err := s.pageConfigs.get(c.UserContext(), strings.Clone(key))
	if err != nil {
		return err
	}
	if cfg == nil {
		return errNotFound
	}
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderETag, cfg.etag)
	if h := s.cfg.CountryHeader; h != "" {
		// The visitor's country rides in a header beside the cached body (and
		// its ETag): a shared cache keys it by the proxy's header.
		c.Vary(h)
		c.Set(fiber.HeaderAccessControlExposeHeaders, "X-Nudge-Country")
		if cc := c.Get(h); c.IsProxyTrusted() && countryRE.MatchString(cc) {
			c.Set("X-Nudge-Country", cc)
		}
	}
	if c.Get(fiber.HeaderIfNoneMatch) == cfg.etag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(cfg.body)
}

// collect takes a batch of events from a page.
func (s *Server) collect(c *fiber.Ctx) error {
	now := time.Now()
	ip := s.clientIP(c)
	if !s.collectIP.allow(ip, now) {
		return s.tooMany(c, "too many requests from this address")
	}
	body := c.Body()
	if len(body) > analytics.MaxBody {
		return &apiError{Status: fiber.StatusRequestEntityTooLarge, Code: "too_large", Message: "a batch has at most 64 KiB"}
	}
	// A decoded batch takes several times its bytes (maps of properties,
	// enriched rows): a few at a time, which is all the cores can do anyway,
	// so that memory follows the queue's bound whatever number of clients
	// send at once. The others wait here, holding only their bodies.
	select {
	case s.decoding <- struct{}{}:
		defer func() { <-s.decoding }()
	case <-c.UserContext().Done():
		return c.UserContext().Err()
	}
	b, err := analytics.DecodeBatch(body)
	var ie *analytics.InputError
	if errors.As(err, &ie) {
		status, code := fiber.StatusBadRequest, "invalid"
		if ie.Field == "body" {
			code = "invalid_json"
			if strings.Contains(ie.Message, "UTF-8") {
				code = "invalid_utf8"
			}
		}
		if ie.TooMany {
			status, code = fiber.StatusRequestEntityTooLarge, "too_many_events"
		}
		return &apiError{Status: status, Code: code, Message: ie.Error(), Field: ie.Field}
	}
	site, err := s.allowedSite(c, strings.Clone(b.Site))
	if err != nil {
		return err
	}
	if !s.collectSite.allow(site.ID, now) {
		return s.tooMany(c, "too many requests for this site")
	}
	// Only an allowed page of a known site learns that the collector is busy.
	if s.ingest.Full() {
		c.Set(fiber.HeaderRetryAfter, "5")
		return &apiError{Status: fiber.StatusServiceUnavailable, Code: "busy", Message: "the collector is busy; retry later"}
	}
	res, err := s.ingest.Accept(c.UserContext(), site, b, analytics.Meta{IP: ip, UserAgent: c.Get(fiber.HeaderUserAgent),
		Language: c.Get(fiber.HeaderAcceptLanguage), Now: now})
	if errors.Is(err, analytics.ErrFull) || errors.Is(err, analytics.ErrClosed) {
		c.Set(fiber.HeaderRetryAfter, "5")
		return &apiError{Status: fiber.StatusServiceUnavailable, Code: "busy", Message: "the collector is busy; retry later"}
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(fiber.StatusAccepted).SendString(`{"accepted":` + strconv.Itoa(res.Accepted) + `}`)
}

func (s *Server) tooMany(c *fiber.Ctx, msg string) error {
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(1))
	return &apiError{Status: fiber.StatusTooManyRequests, Code: "rate_limited", Message: msg}
}
