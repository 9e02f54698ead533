// Package keys manages the master key: the one secret, kept outside the
// database, that wraps the per-tenant data keys sealing transcripts at rest.
package keys

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MasterSize is the master key's length: an AES-256 key.
const MasterSize = 32

// LoadOrCreateMaster reads the master key at path, creating it (mode 0600)
// with fresh random bytes on first start.
func LoadOrCreateMaster(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b = make([]byte, MasterSize)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("master key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("master key: %w", err)
		}
		// O_EXCL: two processes starting at once must not write two keys.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("master key: create %s: %w", path, err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, fmt.Errorf("master key: write %s: %w", path, err)
		}
		if err := errors.Join(f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("master key: write %s: %w", path, err)
		}
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("master key: read %s: %w", path, err)
	}
	if len(b) != MasterSize {
		return nil, fmt.Errorf("master key: %s holds %d bytes; want %d", path, len(b), MasterSize)
	}
	return b, nil
}
