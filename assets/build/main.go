// Command build bundles the console (src/main.tsx) with esbuild's Go API into
// dist/, which the binary embeds: minified, content-hashed files and an
// index.html that names them (-maps adds source maps, for a folder served
// with --console-dir). Any esbuild error fails the build with its file and
// line.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/nudgehq/nudge/assets"
)

func main() {
	maps := flag.Bool("maps", false, "write source maps too (development)")
	out := flag.String("out", "dist", "the folder to write")
	flag.Parse()
	if err := assets.Build(".", *out, *maps); err != nil {
		fmt.Fprintln(os.Stderr, "console build:", err)
		os.Exit(1)
	}
}
