// Command nudge is the whole product in one binary: `nudge serve` runs it;
// the other subcommands administer it.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
