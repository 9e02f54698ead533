package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Sealer seals secrets at rest with a tenant's data key: keys.Ring. The
// store cannot import it (the ring keeps its wrapped keys in this store), so
// the server hands the store its ring once it is open (SetSealer).
type Sealer interface {
	Ensure(ctx context.Context, tenant string) error
	Seal(ctx context.Context, tenant string, plaintext, ad []byte) ([]byte, error)
	Open(ctx context.Context, tenant string, sealed, ad []byte) ([]byte, error)
}

// SetSealer makes the store seal the secrets it keeps (sites' identity
// secrets, webhooks' signing secrets) from now on. Call it before serving.
func (s *Store) SetSealer(x Sealer) { s.sealer = x }

// sealedSecret marks a secret stored sealed (base64 after it); a secret
// stored before sealing, or without a sealer, is in clear.
const sealedSecret = "sealed:"

// sealSecret seals a secret of tenant's; what and id name it (associated
// data: a sealed secret cannot be moved to another row). It is called
// before a write transaction: creating the tenant's first key needs the writer.
func (s *Store) sealSecret(ctx context.Context, tenant, what, id, secret string) (string, error) {
	if s.sealer == nil {
		return secret, nil
	}
	if err := s.sealer.Ensure(ctx, tenant); err != nil {
		return "", err
	}
	b, err := s.sealer.Seal(ctx, tenant, []byte(secret), []byte(what+"\x00"+id))
	if err != nil {
		return "", fmt.Errorf("seal %s %s: %w", what, id, err)
	}
	return sealedSecret + base64.StdEncoding.EncodeToString(b), nil
}

// openSecret gives a stored secret in clear.
func (s *Store) openSecret(ctx context.Context, tenant, what, id, stored string) (string, error) {
	rest, ok := strings.CutPrefix(stored, sealedSecret)
	if !ok {
		return stored, nil
	}
	if s.sealer == nil {
		return "", errors.New("store: a sealed secret and no keys to open it")
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err == nil {
		b, err = s.sealer.Open(ctx, tenant, b, []byte(what+"\x00"+id))
	}
	if err != nil {
		return "", fmt.Errorf("open %s %s: %w", what, id, err)
	}
	return string(b), nil
}

// metadataWhat names conversation metadata in its associated data.
const metadataWhat = "conversation.metadata"

// sealMetadata gives the metadata column of c: the page's URL and title, the
// visitor's variables and identity are the visitor's data, sealed like their
// messages. The tenant's key exists already when this runs in a transaction
// (Ensure makes it outside one).
func (s *Store) sealMetadata(ctx context.Context, c Conversation) (string, error) {
	meta := string(c.Metadata)
	if s.sealer == nil || meta == "{}" {
		return meta, nil
	}
	return s.sealSecret(ctx, c.TenantID, metadataWhat, c.ID, meta)
}

// openMetadata opens c's metadata as scanned; clear JSON (stored by an
// earlier release or without a sealer) is kept as it is.
func (s *Store) openMetadata(ctx context.Context, c *Conversation) error {
	meta, err := s.openSecret(ctx, c.TenantID, metadataWhat, c.ID, string(c.Metadata))
	if err != nil {
		return err
	}
	c.Metadata = json.RawMessage(meta)
	return nil
}
