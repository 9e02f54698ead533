package server

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPIDoc describes the REST API. A test checks it against the router, so a
// route missing from it (or a documented route that does not exist) fails.
//
//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) openAPI(c *fiber.Ctx) error {
	c.Type("json")
	return c.Send(openAPIDoc)
}
