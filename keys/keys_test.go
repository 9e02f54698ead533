package keys

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestMasterKeyIsCreatedOnceAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "master.key")
	k1, err := LoadOrCreateMaster(path)
	if err != nil || len(k1) != MasterSize {
		t.Fatalf("create: %d bytes, %v", len(k1), err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v; want 0600", fi.Mode().Perm())
	}
	k2, err := LoadOrCreateMaster(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second start read another key: %v", err)
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := LoadOrCreateMaster(path); err == nil {
		t.Fatal("a truncated key file was accepted")
	}
}
