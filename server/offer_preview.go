package server

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/gofiber/fiber/v2"
)

// offerPreview is the page the console frames to show an offer as pages
// show it: the guide module's own code, given a configuration with one rule
// that always qualifies and the action and template being edited (from the
// URL's fragment, which no server sees). Its fetches are answered in the
// page: a chat offer's queue has an agent free, nothing is measured.
func (h pageAPI) offerPreview(c *fiber.Ctx) error {
	guide := h.bundles.get().Module("guide")
	if guide == "" {
		return errNotFound
	}
	b := make([]byte, 16)
	rand.Read(b)
	nonce := base64.RawStdEncoding.EncodeToString(b)
	hdr := &c.Response().Header
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'nonce-"+nonce+"'; style-src 'unsafe-inline'; img-src https: http: data:; frame-ancestors 'self'; base-uri 'none'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html")
	return c.SendString(fmt.Sprintf(offerPreviewPage, nonce, guide))
}

const offerPreviewPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Offer preview</title>
<style>body{margin:0;font:14px system-ui,sans-serif;background:#f3f4f6;color:#6b7280}p{padding:12px}</style></head>
<body><p>The page behind the offer.</p>
<script nonce="%s">
(() => {
  let spec = {};
  try { spec = JSON.parse(decodeURIComponent(location.hash.slice(1))) || {}; } catch {}
  const action = Object.assign({}, spec.action || {});
  const templates = {};
  if (spec.template) { templates.preview = spec.template; action.template = "preview"; }
  const queue = String(action.queue || "");
  const avail = {}; avail[queue] = avail[queue.toLowerCase()] = { agents_available: 1, estimated_wait: 0 };
  window.fetch = (u) => Promise.resolve(String(u).includes("/availability/")
    ? new Response(JSON.stringify({ queues: avail }), { headers: { "content-type": "application/json" } })
    : new Response(null, { status: 204 }));
  const cfg = { key: "preview", modules: ["guide"], dnt: false, consent: false, cookieless: true, theme: spec.theme, zone: "UTC",
    rules: [{ id: "preview", v: 1, name: "", priority: 0, when: { all: [] }, action, limits: { per_visit: 100 } }], templates };
  const nudge = () => {};
  nudge.l = 1;
  nudge.d = (name, factory) => { factory({ key: "preview", base: location.origin, cfg, may: () => false, emit: () => {} }); };
  window.nudge = nudge;
})();
</script>
<script src="/w/%s"></script>
</body></html>`
