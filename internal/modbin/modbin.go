// Package modbin builds a command of a Go module from the module proxy once
// per machine, into the user's cache folder: the servers the tests run
// against (ZincSearch, Mailpit) come from the proxy like every dependency,
// with nothing installed by hand.
package modbin

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// Spec is what to build.
type Spec struct {
	Module  string   // github.com/axllent/mailpit
	Version string   // v1.33.1
	Name    string   // the binary's name in the cache
	Package string   // the command's package in the module: "." or "./cmd/x"
	Env     []string // added to the build's environment (a toolchain, say)
	// Prepare readies the copied source (a file its embed needs), if set.
	Prepare func(src string) error
}

// Build returns the path of the built binary, building it the first time.
// Test binaries that run at once wait for one another's build.
func Build(s Spec) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "nudge-test", s.Name+"-"+s.Version)
	bin := filepath.Join(dir, s.Name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // another test binary built it meanwhile
	}
	out, err := exec.Command("go", "mod", "download", "-json", s.Module+"@"+s.Version).Output()
	if err != nil {
		return "", fmt.Errorf("download %s: %w", s.Name, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("download %s: %s %v", s.Name, mod.Error, err)
	}
	src, err := os.MkdirTemp(dir, "src")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	if err := os.CopyFS(src, os.DirFS(mod.Dir)); err != nil {
		return "", fmt.Errorf("copy %s: %w", s.Name, err)
	}
	if s.Prepare != nil {
		if err := s.Prepare(src); err != nil {
			return "", fmt.Errorf("prepare %s: %w", s.Name, err)
		}
	}
	build := exec.Command("go", "build", "-o", bin+".tmp", s.Package)
	build.Dir = src
	build.Env = append(append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0"), s.Env...)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", s.Name, err, out)
	}
	return bin, os.Rename(bin+".tmp", bin)
}
