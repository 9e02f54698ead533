package server

import (
	"embed"
	"html/template"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/widget"
)

//go:embed demo/*.html
var demoFiles embed.FS

var demoPages = template.Must(template.ParseFS(demoFiles, "demo/*.html"))

// demoPage is what a demo page template sees.
type demoPage struct {
	Title     string
	Page      string
	PublicURL string
	SiteKey   string
	Snippet   template.HTML
}

// demoRoutes serve the example shop of `--demo`: a site with the snippet,
// to see the product work without a website of one's own.
func (s *Server) demoRoutes() {
	pages := map[string]string{"": "Home", "pricing": "Pricing", "billing": "Billing", "checkout": "Checkout"}
	handler := func(c *fiber.Ctx) error {
		name := c.Params("page")
		title, ok := pages[name]
		if !ok {
			return fiber.ErrNotFound
		}
		if name == "" {
			name = "home"
		}
		c.Type("html")
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return demoPages.ExecuteTemplate(c, name+".html", demoPage{Title: title, Page: name,
			PublicURL: s.cfg.PublicURL, SiteKey: ops.DemoSiteKey, Snippet: template.HTML(widget.Snippet(s.cfg.PublicURL, ops.DemoSiteKey))})
	}
	s.app.Get("/demo", handler)
	s.app.Get("/demo/:page", handler)
}
