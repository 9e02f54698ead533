package server

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/widget"
)

// pageAPI serves what a site's pages load and send: the loader and modules, the site's configuration, events, the chat's welcome, availability, pushed offers (and the push itself), the offer preview.
type pageAPI struct {
	st            *store.Store
	ops           *ops.Service
	bundles       pageBundles
	gate          siteGate
	proxies       trustedProxies
	ingest        *analytics.Ingester
	collectIP     *keyedLimiter
	collectSite   *keyedLimiter
	decoding      chan struct{}
	publicURL     string
	countryHeader string
}

// pageRoutes are what a site's pages call: the loader, the modules, the site
// configuration and the collector. They carry no console headers: any allowed
// site must be able to load them.

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
func (h pageAPI) loader(c *fiber.Ctx) error {
	key, ok := strings.CutSuffix(c.Params("file"), ".js")
	if !ok {
		return errNotFound
	}
	key = strings.Clone(key)
	site, err := h.ops.Site(c.UserContext(), key)
	if err != nil {
		return err
	}
	if site == nil {
		c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
		return c.Status(fiber.StatusNotFound).SendString("/* nudge: unknown site key */\n")
	}
	cache := "public, max-age=300"
	if h.bundles.dev != nil {
		cache = "no-cache"
	}
	cfg, err := h.ops.PageConfig(c.UserContext(), key)
	if err != nil {
		return err
	}
	if cfg == nil {
		return errNotFound
	}
	b := h.bundles.get()
	f := b.Loader
	switch {
	case c.Request().URI().QueryArgs().Has("guide"):
		f, err = b.Guided(key, cfg.ETag, cfg.Body)
	case cfg.Measuring:
		f, err = b.Measuring(key, h.publicURL, cfg.DNT, cfg.Consent, cfg.Cookieless)
	}
	if err != nil {
		return err
	}
	return sendBundle(c, f, cache)
}

func (h pageAPI) module(c *fiber.Ctx) error {
	f, ok := h.bundles.get().Files[c.Params("file")]
	if !ok {
		return errNotFound
	}
	return sendBundle(c, f, "public, max-age=31536000, immutable")
}

// siteGate finds the sites the page-side routes name and checks that the
// page asking is one of theirs.
type siteGate struct {
	ops       *ops.Service
	publicURL string
}

// allowedSite finds a site by key and checks the browser's Origin against its
// allowed origins, setting the CORS headers when it passes.
func (g siteGate) allowedSite(c *fiber.Ctx, key string) (*store.Site, error) {
	site, err := g.ops.Site(c.UserContext(), key)
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
		origin = g.publicURL
	}
	c.Vary(fiber.HeaderOrigin)
	if !site.AllowsOrigin(origin) {
		return nil, &apiError{Status: fiber.StatusForbidden, Code: "origin_not_allowed", Message: "this origin is not allowed for the site"}
	}
	c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
	return site, nil
}

// preflight answers CORS preflights of allowed origins.
func (h pageAPI) preflight(c *fiber.Ctx) error {
	origin := c.Get(fiber.HeaderOrigin)
	if key := c.Params("key"); key != "" {
		if _, err := h.gate.allowedSite(c, key); err != nil {
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

// countryRE is an ISO 3166-1 alpha-2 code; proxies' placeholders (XX, T1 for Tor) are not countries.
var countryRE = regexp.MustCompile(`^[A-WYZ][A-Z]$`)

// siteConfig serves GET /config/{siteKey}: revalidated by the page on every
// load, navigation and return to the tab (no-cache with an ETag), so that a
// publish reaches open pages within seconds and an unchanged one costs a 304.
func (h pageAPI) siteConfig(c *fiber.Ctx) error {
	key := c.Params("key")
	if _, err := h.gate.allowedSite(c, key); err != nil {
		return err
	}
	cfg, err := h.ops.PageConfig(c.UserContext(), strings.Clone(key))
	if err != nil {
		return err
	}
	if cfg == nil {
		return errNotFound
	}
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderETag, cfg.ETag)
	if h := h.countryHeader; h != "" {
		// The visitor's country rides in a header beside the cached body (and
		// its ETag): a shared cache keys it by the proxy's header.
		c.Vary(h)
		c.Set(fiber.HeaderAccessControlExposeHeaders, "X-Nudge-Country")
		if cc := c.Get(h); c.IsProxyTrusted() && countryRE.MatchString(cc) {
			c.Set("X-Nudge-Country", cc)
		}
	}
	if c.Get(fiber.HeaderIfNoneMatch) == cfg.ETag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(cfg.Body)
}

// collect takes a batch of events from a page.
func (h pageAPI) collect(c *fiber.Ctx) error {
	now := time.Now()
	ip := h.proxies.clientIP(c)
	if !h.collectIP.allow(ip, now) {
		return tooMany(c, "too many requests from this address")
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
	case h.decoding <- struct{}{}:
		defer func() { <-h.decoding }()
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
	site, err := h.gate.allowedSite(c, strings.Clone(b.Site))
	if err != nil {
		return err
	}
	if !h.collectSite.allow(site.ID, now) {
		return tooMany(c, "too many requests for this site")
	}
	// Only an allowed page of a known site learns that the collector is busy.
	if h.ingest.Full() {
		c.Set(fiber.HeaderRetryAfter, "5")
		return &apiError{Status: fiber.StatusServiceUnavailable, Code: "busy", Message: "the collector is busy; retry later"}
	}
	res, err := h.ingest.Accept(c.UserContext(), site, b, analytics.Meta{IP: ip, UserAgent: c.Get(fiber.HeaderUserAgent),
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

func tooMany(c *fiber.Ctx, msg string) error {
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(1))
	return &apiError{Status: fiber.StatusTooManyRequests, Code: "rate_limited", Message: msg}
}
