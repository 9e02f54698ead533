package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/store/storetest"
)

func ringFixture(t *testing.T) (*store.Store, string, string, []byte) {
	t.Helper()
	ctx := context.Background()
	path := storetest.Path(t, t.TempDir())
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, _ := st.CreateTenant(ctx, store.System, "A")
	b, _ := st.CreateTenant(ctx, store.System, "B")
	master := make([]byte, MasterSize)
	rand.Read(master)
	return st, a.ID, b.ID, master
}

func TestSealOpen(t *testing.T) {
	st, a, b, master := ringFixture(t)
	ctx := context.Background()
	r, err := NewRing(ctx, master, st)
	if err != nil {
		t.Fatal(err)
	}
	ad := []byte("conv-1\x00seq-7")
	sealed, err := r.Seal(ctx, a, []byte("hello 🌍"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("hello")) {
		t.Fatal("plaintext visible in the sealed bytes")
	}
	again, _ := r.Seal(ctx, a, []byte("hello 🌍"), ad)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of the same text are equal: the nonce repeats")
	}
	if got, err := r.Open(ctx, a, sealed, ad); err != nil || string(got) != "hello 🌍" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, try := range map[string]func() ([]byte, error){
		"other tenant": func() ([]byte, error) { return r.Open(ctx, b, sealed, ad) },
		"other seq":    func() ([]byte, error) { return r.Open(ctx, a, sealed, []byte("conv-1\x00seq-8")) },
		"tampered":     func() ([]byte, error) { return r.Open(ctx, a, tampered, ad) },
		"truncated":    func() ([]byte, error) { return r.Open(ctx, a, sealed[:10], ad) },
		"no such key":  func() ([]byte, error) { x := bytes.Clone(sealed); x[3] = 9; return r.Open(ctx, a, x, ad) },
	} {
		if _, err := try(); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: %v; want ErrDecrypt", name, err)
		}
	}
	// A restarted server (a new ring) opens what the old one sealed.
	r2, _ := NewRing(ctx, master, st)
	if got, err := r2.Open(ctx, a, sealed, ad); err != nil || string(got) != "hello 🌍" {
		t.Fatalf("after restart: %q, %v", got, err)
	}
	// The raw data key is nowhere in the database file.
	db, _ := os.ReadFile(st.Path())
	wal, _ := os.ReadFile(st.Path() + "-wal")
	keys, _ := st.DataKeys(ctx, a)
	plainKey, err := unwrap(r.master, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(append(db, wal...), plainKey) {
		t.Fatal("an unwrapped data key is stored")
	}
}

func TestRotateAndRewrap(t *testing.T) {
	st, a, _, master := ringFixture(t)
	ctx := context.Background()
	r, _ := NewRing(ctx, master, st)
	old, _ := r.Seal(ctx, a, []byte("before"), nil)
	v, err := r.Rotate(ctx, a)
	if err != nil || v != 2 {
		t.Fatalf("Rotate = %d, %v", v, err)
	}
	fresh, _ := r.Seal(ctx, a, []byte("after"), nil)
	if fresh[3] != 2 || old[3] != 1 {
		t.Fatalf("versions %d, %d; want 1 then 2", old[3], fresh[3])
	}
	if got, err := r.Open(ctx, a, old, nil); err != nil || string(got) != "before" {
		t.Fatalf("old data after rotation: %q, %v", got, err)
	}

	next := make([]byte, MasterSize)
	rand.Read(next)
	n, err := Rewrap(ctx, st, master, next)
	if err != nil || n != 2 {
		t.Fatalf("Rewrap = %d, %v", n, err)
	}
	if _, err := NewRing(ctx, master, st); err == nil {
		t.Fatal("the old master key still opens the data keys")
	}
	r2, err := NewRing(ctx, next, st)
	if err != nil {
		t.Fatal(err)
	}
	for sealed, want := range map[string]string{string(old): "before", string(fresh): "after"} {
		if got, err := r2.Open(ctx, a, []byte(sealed), nil); err != nil || string(got) != want {
			t.Fatalf("after rewrap: %q, %v", got, err)
		}
	}
	if _, err := Rewrap(ctx, st, master, next); err == nil {
		t.Fatal("rewrap with the wrong old key succeeded")
	}
}

func TestDeriveIsStablePerTenantAndPurpose(t *testing.T) {
	st, a, b, master := ringFixture(t)
	ctx := context.Background()
	r, _ := NewRing(ctx, master, st)
	first, err := r.Derive(ctx, a, "search")
	if err != nil || len(first) != 32 {
		t.Fatalf("Derive = %x, %v", first, err)
	}
	other, _ := r.Derive(ctx, b, "search")
	purpose, _ := r.Derive(ctx, a, "something else")
	if bytes.Equal(first, other) || bytes.Equal(first, purpose) {
		t.Fatal("two tenants or two purposes share a secret")
	}
	// Neither data key rotation nor a new master key changes it.
	if _, err := r.Rotate(ctx, a); err != nil {
		t.Fatal(err)
	}
	next := make([]byte, MasterSize)
	rand.Read(next)
	if _, err := Rewrap(ctx, st, master, next); err != nil {
		t.Fatal(err)
	}
	r2, _ := NewRing(ctx, next, st)
	if again, err := r2.Derive(ctx, a, "search"); err != nil || !bytes.Equal(again, first) {
		t.Fatalf("after rotation and rewrap: %x, %v; want %x", again, err, first)
	}
}

func TestBlindIsStablePerTenantAndDiffersAcrossTenants(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, storetest.Path(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	master := make([]byte, MasterSize)
	rand.Read(master)
	r, err := NewRing(ctx, master, st)
	if err != nil {
		t.Fatal(err)
	}
	ta, _ := st.CreateTenant(ctx, store.System, "A")
	tb, _ := st.CreateTenant(ctx, store.System, "B")
	a1, err := r.Blind(ctx, ta.ID, "identity", "user-7")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := r.Blind(ctx, ta.ID, "identity", "user-7")
	b, _ := r.Blind(ctx, tb.ID, "identity", "user-7")
	other, _ := r.Blind(ctx, ta.ID, "identity", "user-8")
	label, _ := r.Blind(ctx, ta.ID, "email", "user-7")
	if a1 == "" || a1 != a2 {
		t.Fatalf("not stable: %q %q", a1, a2)
	}
	if a1 == b || a1 == other || a1 == label || strings.Contains(a1, "user-7") {
		t.Fatalf("fingerprints collide or show the value: %q %q %q %q", a1, b, other, label)
	}
	// A restarted ring (the same master key, the same stored data keys) agrees.
	r2, err := NewRing(ctx, master, st)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := r2.Blind(ctx, ta.ID, "identity", "user-7"); again != a1 {
		t.Fatalf("after a restart %q, before %q", again, a1)
	}
}
