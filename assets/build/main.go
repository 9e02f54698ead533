// Command build bundles the console (src/main.tsx) with esbuild's Go API into
// dist/: minified, content-hashed files, a source map, and an index.html that
// names them. Any esbuild error fails the build with its file and line.
package main

import (
	"fmt"
	"os"

	"github.com/nudgehq/nudge/assets"
)

func main() {
	if err := assets.Build(".", "dist"); err != nil {
		fmt.Fprintln(os.Stderr, "console build:", err)
		os.Exit(1)
	}
}
