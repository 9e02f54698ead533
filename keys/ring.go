package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nudgehq/nudge/store"
)

// ErrDecrypt means sealed data did not open: wrong tenant, wrong associated
// data, a missing key version, or tampering.
var ErrDecrypt = errors.New("keys: cannot decrypt")

// Ring seals and opens data at rest with per-tenant data keys (AES-256-GCM).
// Data keys are made on first use, stored wrapped by the master key, and
// cached unwrapped in memory. Sealed data is version (4 bytes) || nonce (12)
// || ciphertext; the tenant is always part of the associated data.
type Ring struct {
	st     *store.Store
	master cipher.AEAD

	mu      sync.RWMutex
	keys    map[string]map[uint32]cipher.AEAD
	current map[string]uint32
	// first is each tenant's oldest data key, raw: derived secrets come from
	// it because it never changes (rotation adds versions, rewrapping only
	// changes how keys are stored).
	first map[string][]byte
	// blinds caches Blind's keys by tenant and label.
	blinds sync.Map
}

// NewRing uses master over the data keys in st. It fails if master cannot
// unwrap the keys already stored (the wrong master key file).
func NewRing(ctx context.Context, master []byte, st *store.Store) (*Ring, error) {
	m, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	r := &Ring{st: st, master: m, keys: map[string]map[uint32]cipher.AEAD{}, current: map[string]uint32{}, first: map[string][]byte{}}
	all, err := st.AllDataKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(all) > 0 {
		if _, err := unwrap(m, all[0]); err != nil {
			return nil, errors.New("keys: the master key does not open the stored data keys (wrong --master-key-file?)")
		}
	}
	return r, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != MasterSize {
		return nil, fmt.Errorf("keys: a key has %d bytes; want %d", len(key), MasterSize)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// wrapAD binds a wrapped key to its tenant and version: it cannot be moved.
func wrapAD(tenant string, version uint32) []byte {
	return []byte("nudge data key\x00" + tenant + "\x00" + strconv.FormatUint(uint64(version), 10))
}

func wrap(master cipher.AEAD, tenant string, version uint32, key []byte) []byte {
	nonce := make([]byte, master.NonceSize())
	rand.Read(nonce)
	return master.Seal(nonce, nonce, key, wrapAD(tenant, version))
}

func unwrap(master cipher.AEAD, k store.WrappedKey) ([]byte, error) {
	ns := master.NonceSize()
	if len(k.Wrapped) < ns {
		return nil, ErrDecrypt
	}
	key, err := master.Open(nil, k.Wrapped[:ns], k.Wrapped[ns:], wrapAD(k.TenantID, k.Version))
	if err != nil {
		return nil, ErrDecrypt
	}
	return key, nil
}

// load reads a tenant's keys from the store into the cache.
func (r *Ring) load(ctx context.Context, tenant string) error {
	stored, err := r.st.DataKeys(ctx, tenant)
	if err != nil {
		return err
	}
	keys := map[uint32]cipher.AEAD{}
	var newest, oldest uint32
	var first []byte
	for _, k := range stored {
		raw, err := unwrap(r.master, k)
		if err != nil {
			return fmt.Errorf("keys: data key %s v%d: %w", tenant, k.Version, err)
		}
		if keys[k.Version], err = newAEAD(raw); err != nil {
			return err
		}
		newest = max(newest, k.Version)
		if oldest == 0 || k.Version < oldest {
			oldest, first = k.Version, raw
		}
	}
	r.mu.Lock()
	r.keys[tenant], r.current[tenant] = keys, newest
	if first != nil {
		r.first[tenant] = first
	}
	r.mu.Unlock()
	return nil
}

// cached looks a key up in memory (version 0: the current one).
func (r *Ring) cached(tenant string, version uint32) (uint32, cipher.AEAD, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if version == 0 {
		version = r.current[tenant]
	}
	k := r.keys[tenant][version]
	return version, k, k != nil
}

// key returns a tenant's key of version (0: the current one, made on first use).
func (r *Ring) key(ctx context.Context, tenant string, version uint32) (uint32, cipher.AEAD, error) {
	if v, k, ok := r.cached(tenant, version); ok {
		return v, k, nil
	}
	if err := r.load(ctx, tenant); err != nil {
		return 0, nil, err
	}
	if v, k, ok := r.cached(tenant, version); ok {
		return v, k, nil
	}
	if version != 0 {
		return 0, nil, ErrDecrypt
	}
	// The tenant's first key. Another process may make it at the same time:
	// then its key is the one loaded.
	if _, err := r.Rotate(ctx, tenant); err != nil && !errors.Is(err, store.ErrConflict) {
		return 0, nil, err
	}
	if err := r.load(ctx, tenant); err != nil {
		return 0, nil, err
	}
	if v, k, ok := r.cached(tenant, 0); ok {
		return v, k, nil
	}
	return 0, nil, fmt.Errorf("keys: no data key for %s", tenant)
}

// Ensure makes sure tenant has a current data key, creating it if needed.
// Callers that seal inside a write transaction call it first: creating a key
// needs the database's one writer connection, which their transaction holds.
func (r *Ring) Ensure(ctx context.Context, tenant string) error {
	_, _, err := r.key(ctx, tenant, 0)
	return err
}

// Rotate makes a new data key version for tenant; new data is sealed with it,
// older data keeps opening with its own version.
func (r *Ring) Rotate(ctx context.Context, tenant string) (uint32, error) {
	if err := r.load(ctx, tenant); err != nil {
		return 0, err
	}
	r.mu.RLock()
	v := r.current[tenant] + 1
	r.mu.RUnlock()
	raw := make([]byte, MasterSize)
	rand.Read(raw)
	if err := r.st.AddDataKey(ctx, store.WrappedKey{TenantID: tenant, Version: v, Wrapped: wrap(r.master, tenant, v, raw)}); err != nil {
		return 0, err
	}
	return v, r.load(ctx, tenant)
}

// Derive returns a 32-byte secret of tenant's for one purpose (label), the
// same for the tenant's whole life: the search index keys its terms with it.
func (r *Ring) Derive(ctx context.Context, tenant, label string) ([]byte, error) {
	if err := r.Ensure(ctx, tenant); err != nil {
		return nil, err
	}
	r.mu.RLock()
	first := r.first[tenant]
	r.mu.RUnlock()
	if first == nil {
		return nil, fmt.Errorf("keys: no data key for %s", tenant)
	}
	return hkdf.Key(sha256.New, first, []byte(tenant), "nudge "+label, 32)
}

// Blind is a stable, keyed fingerprint of value for one purpose (label):
// the same value gives the same fingerprint within a tenant, so a column of
// fingerprints can be searched for a value without holding it in clear, and
// another tenant's fingerprints of the same value differ.
func (r *Ring) Blind(ctx context.Context, tenant, label, value string) (string, error) {
	k, ok := r.blinds.Load(tenant + "\x00" + label)
	if !ok {
		key, err := r.Derive(ctx, tenant, "blind "+label)
		if err != nil {
			return "", err
		}
		k, _ = r.blinds.LoadOrStore(tenant+"\x00"+label, key)
	}
	m := hmac.New(sha256.New, k.([]byte))
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18]), nil
}

// dataAD prefixes the caller's associated data with the tenant.
func dataAD(tenant string, ad []byte) []byte {
	return append([]byte(tenant+"\x00"), ad...)
}

// Seal encrypts plaintext for tenant; ad (conversation, sequence…) must be
// given again to Open.
func (r *Ring) Seal(ctx context.Context, tenant string, plaintext, ad []byte) ([]byte, error) {
	v, k, err := r.key(ctx, tenant, 0)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 4+k.NonceSize(), 4+k.NonceSize()+len(plaintext)+k.Overhead())
	binary.BigEndian.PutUint32(out, v)
	rand.Read(out[4:])
	return k.Seal(out, out[4:], plaintext, dataAD(tenant, ad)), nil
}

// Open decrypts what Seal made for tenant with the same ad.
func (r *Ring) Open(ctx context.Context, tenant string, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < 4+12 {
		return nil, ErrDecrypt
	}
	_, k, err := r.key(ctx, tenant, binary.BigEndian.Uint32(sealed))
	if err != nil {
		return nil, err
	}
	ns := k.NonceSize()
	plain, err := k.Open(nil, sealed[4:4+ns], sealed[4+ns:], dataAD(tenant, ad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// Rewrap wraps every stored data key under newMaster instead of oldMaster,
// in one transaction. The data itself is untouched.
func Rewrap(ctx context.Context, st *store.Store, oldMaster, newMaster []byte) (int, error) {
	oldA, err := newAEAD(oldMaster)
	if err != nil {
		return 0, err
	}
	newA, err := newAEAD(newMaster)
	if err != nil {
		return 0, err
	}
	all, err := st.AllDataKeys(ctx)
	if err != nil {
		return 0, err
	}
	for i, k := range all {
		raw, err := unwrap(oldA, k)
		if err != nil {
			return 0, fmt.Errorf("keys: data key %s v%d: %w", k.TenantID, k.Version, err)
		}
		all[i].Wrapped = wrap(newA, k.TenantID, k.Version, raw)
	}
	return len(all), st.RewrapDataKeys(ctx, all)
}
