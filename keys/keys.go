// Package keys is encryption at rest: the master key (the one secret, kept
// outside the database) and the ring of per-tenant data keys it wraps, which
// seal message bodies and files with AES-256-GCM.
package keys

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nudgehq/nudge/store"
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

// OpenRing loads (or on first start creates) the master key at path and the
// ring over st. If a rotation was interrupted after the database was
// rewrapped (path.new exists and opens the stored keys), it finishes it.
func OpenRing(ctx context.Context, path string, st *store.Store) (*Ring, error) {
	master, err := LoadOrCreateMaster(path)
	if err != nil {
		return nil, err
	}
	r, err := NewRing(ctx, master, st)
	if err == nil {
		os.Remove(path + ".new") // a rotation that never reached the database
		return r, nil
	}
	next, nerr := os.ReadFile(path + ".new")
	if nerr != nil || len(next) != MasterSize {
		return nil, err
	}
	r, nerr = NewRing(ctx, next, st)
	if nerr != nil {
		return nil, err
	}
	if err := os.Rename(path+".new", path); err != nil {
		return nil, fmt.Errorf("master key: finish rotation: %w", err)
	}
	return r, nil
}

// RotateMaster replaces the master key at path with a new random one and
// rewraps every data key under it. The new key is on disk (path.new) before
// the database changes, so a crash at any point leaves a key that opens it.
// The server must not run meanwhile: it would wrap new keys with the old one.
func RotateMaster(ctx context.Context, path string, st *store.Store) (int, error) {
	old, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("master key: %w", err)
	}
	if _, err := NewRing(ctx, old, st); err != nil {
		return 0, err
	}
	next := make([]byte, MasterSize)
	if _, err := rand.Read(next); err != nil {
		return 0, err
	}
	if err := writeKey(path+".new", next); err != nil {
		return 0, err
	}
	n, err := Rewrap(ctx, st, old, next)
	if err != nil {
		os.Remove(path + ".new")
		return 0, err
	}
	if err := os.Rename(path+".new", path); err != nil {
		return n, fmt.Errorf("master key: install the new key (it is in %s.new): %w", path, err)
	}
	return n, nil
}

func writeKey(path string, key []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return fmt.Errorf("master key: %w", err)
	}
	return errors.Join(f.Sync(), f.Close())
}
