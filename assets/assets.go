// Package assets is the web console that agents, supervisors, marketers and
// admins use: its TypeScript + Preact sources (src/), the program that bundles
// them with esbuild's Go API (build/, run by `go generate` or `make build`), and
// the bundle embedded in the binary (dist/). Node only fetches the npm packages;
// it never runs in production.
package assets

import (
	"embed"
	"io/fs"
)

//go:generate go run ./build

//go:embed all:dist
var dist embed.FS

// Dist is the built console: index.html and the hashed files under assets/.
// ok is false when the console was never built (dist holds only a placeholder).
func Dist() (files fs.FS, ok bool) {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, false
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return sub, false
	}
	return sub, true
}
