package server

import (
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/assets"
)

const consoleNotBuilt = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>nudge</title></head>
<body><h1>nudge</h1><p>The console has not been built into this binary. Run <code>make build</code>
(or <code>make run</code>) to bundle it; the API under <code>/api</code> works without it.</p></body></html>`

// consoleRoutes serves the console: hashed files under /assets/ for a year,
// and index.html (never cached) for every other page path so that the
// console's own routes survive a reload.
func (s *Server) consoleRoutes() {
	files, built := assets.Dist()
	if s.cfg.ConsoleDir != "" {
		files, built = os.DirFS(s.cfg.ConsoleDir), true
	}
	s.app.Get("/assets/*", s.consoleHeaders, func(c *fiber.Ctx) error {
		name := path.Clean("assets/" + c.Params("*"))
		b, err := fs.ReadFile(files, name)
		if err != nil || !strings.HasPrefix(name, "assets/") {
			return errNotFound
		}
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
		c.Type(path.Ext(name))
		return c.Send(b)
	})
	s.app.Get("/*", s.consoleHeaders, func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Type("html")
		if !built {
			return c.SendString(consoleNotBuilt)
		}
		b, err := fs.ReadFile(files, "index.html")
		if err != nil {
			return err
		}
		return c.Send(b)
	})
}
