package main

import (
	"os"
	"testing"

	"github.com/nudgehq/nudge/assets"
)

// binaryCeiling is the most `make build` may weigh (stripped), with the
// console in it (docs/benchmarks.md, binary size).
const binaryCeiling = 40_000_000

func TestBinaryStaysUnderItsCeiling(t *testing.T) {
	if _, ok := assets.Dist(); !ok {
		t.Fatal("the console is not built into this test binary: run `make console` (make test does) and test again")
	}
	bin, err := buildNudge()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("nudge is %.1f MB stripped", float64(fi.Size())/1e6)
	if fi.Size() > binaryCeiling {
		t.Fatalf("nudge is %.1f MB stripped; the ceiling is %d MB: see what grew with `go tool nm -size -sort size bin/nudge | head`",
			float64(fi.Size())/1e6, binaryCeiling/1_000_000)
	}
}
