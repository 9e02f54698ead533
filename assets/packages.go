package assets

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// InstallPackages installs the npm packages of the assets folder dir (pinned
// by package-lock.json) unless they are installed and newer than the lock, as
// `make console` does. Tests that need them call it: test packages run at the
// same time, so an exclusive lock on a file keeps two installs apart.
func InstallPackages(dir string) error {
	lock, err := os.OpenFile(filepath.Join(dir, "node_modules.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("npm packages: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("npm packages: lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if fresh(filepath.Join(dir, "node_modules", ".package-lock.json"), filepath.Join(dir, "package.json"), filepath.Join(dir, "package-lock.json")) {
		return nil
	}
	out, err := exec.Command("npm", "ci", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error").CombinedOutput()
	if err != nil {
		return fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return nil
}

// fresh tells whether target exists and is newer than every source.
func fresh(target string, sources ...string) bool {
	t, err := os.Stat(target)
	if err != nil {
		return false
	}
	for _, s := range sources {
		if st, err := os.Stat(s); err != nil || st.ModTime().After(t.ModTime()) {
			return false
		}
	}
	return true
}
