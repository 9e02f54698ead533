// Package contacts keeps a tenant's known customers: a contact is the person
// behind an external id that one of the tenant's sites verified (a signed
// nudge('identify'), or a visitor token), with the email, name and
// attributes the site gave, and the visitor ids (browsers, apps) of each site
// it was verified on. Its conversations are those whose verified identity has
// its fingerprint. Who a contact is is sealed with the tenant's data key; it
// is found by the keyed fingerprint of its external id. An unverified
// identity never makes or links a contact.
package contacts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nudgehq/nudge/email"
	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/store"
)

// Contact is a known customer of a tenant.
type Contact struct {
	ID         string            `json:"id"`
	ExternalID string            `json:"external_id"`
	Email      string            `json:"email,omitempty"`
	Name       string            `json:"name,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// VerifiedBy says how the latest sighting was proved: "hash" (the site's
	// server signed the id) or "token" (a visitor token it minted).
	VerifiedBy string    `json:"verified_by"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`

	fingerprint string
}

// Sighting is a verified identity seen on a visitor of a site at a time.
// Empty fields leave what the contact holds; attributes are merged.
type Sighting struct {
	Tenant, Site, Visitor string
	ExternalID            string
	Email, Name           string
	Attributes            map[string]string
	VerifiedBy            string // hash or token
	At                    time.Time
}

// Limits of what a sighting may carry.
const (
	MaxExternalID = 128
	MaxEmail      = 254
	MaxName       = 200
	MaxAttributes = 30
	MaxAttrKey    = 64
	MaxAttrValue  = 256
)

// ErrInvalid is a sighting that cannot make a contact.
var ErrInvalid = errors.New("contacts: invalid sighting")

// Book is the tenants' contacts over the store, sealed with the ring.
type Book struct {
	st   *store.Store
	ring *keys.Ring
}

// New returns the contacts of st, sealed with ring.
func New(st *store.Store, ring *keys.Ring) *Book { return &Book{st: st, ring: ring} }

// sealed is what the contacts table keeps under the tenant's key.
type sealed struct {
	ExternalID string            `json:"x"`
	Email      string            `json:"e,omitempty"`
	Name       string            `json:"n,omitempty"`
	Attributes map[string]string `json:"a,omitempty"`
}

func ad(id string) []byte { return []byte("contact:" + id) }

// Fingerprint is the keyed fingerprint of a tenant's external id: the one
// the contact, the conversations of that identity (chat.IdentityFingerprint)
// and the analytics' identified visits carry.
func (b *Book) Fingerprint(ctx context.Context, tenant, externalID string) (string, error) {
	return b.ring.Blind(ctx, tenant, "identity", externalID)
}

// Link records sightings in one transaction: each makes its contact when new,
// updates what it says and when it was seen, and links its visitor id.
// A sighting that breaks the limits is refused whole (ErrInvalid) before
// anything is stored.
func (b *Book) Link(ctx context.Context, ss ...Sighting) ([]Contact, error) {
	recs, err := b.save(ctx, ss)
	if err != nil {
		return nil, err
	}
	out := make([]Contact, 0, len(recs))
	for _, r := range recs {
		if r.ID == "" {
			continue // the tenant is gone
		}
		c, err := b.open(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// save stores sightings and returns the records as saved, sealed.
func (b *Book) save(ctx context.Context, ss []Sighting) ([]store.ContactRecord, error) {
	saves := make([]store.ContactSave, len(ss))
	for i := range ss {
		s := &ss[i]
		if err := clean(s); err != nil {
			return nil, err
		}
		if err := b.ring.Ensure(ctx, s.Tenant); err != nil {
			return nil, err
		}
		fp, err := b.Fingerprint(ctx, s.Tenant, s.ExternalID)
		if err != nil {
			return nil, err
		}
		saves[i] = store.ContactSave{Tenant: s.Tenant, Fingerprint: fp, VerifiedBy: s.VerifiedBy, SiteID: s.Site, Visitor: s.Visitor, At: s.At,
			Seal: func(id string, old []byte) ([]byte, []string, error) { return b.merge(ctx, s, id, old) }}
	}
	return b.st.SaveContacts(ctx, saves)
}

// merge is a sighting's change to the sealed data of contact id, and the
// contact's search terms when who it is changed (nil: unchanged).
func (b *Book) merge(ctx context.Context, s *Sighting, id string, old []byte) ([]byte, []string, error) {
	var d sealed
	if old != nil {
		plain, err := b.ring.Open(ctx, s.Tenant, old, ad(id))
		if err != nil {
			return nil, nil, fmt.Errorf("open contact %s: %w", id, err)
		}
		if err := json.Unmarshal(plain, &d); err != nil {
			return nil, nil, fmt.Errorf("read contact %s: %w", id, err)
		}
	}
	before := d.ExternalID + "\x00" + d.Email + "\x00" + d.Name
	d.ExternalID = s.ExternalID
	if s.Email != "" {
		d.Email = s.Email
	}
	if s.Name != "" {
		d.Name = s.Name
	}
	if len(s.Attributes) > 0 {
		if d.Attributes == nil {
			d.Attributes = map[string]string{}
		}
		maps.Copy(d.Attributes, s.Attributes)
		for k, v := range d.Attributes {
			if v == "" {
				delete(d.Attributes, k) // an empty value removes the attribute
			}
		}
		for len(d.Attributes) > MaxAttributes {
			for k := range d.Attributes {
				if _, ok := s.Attributes[k]; !ok {
					delete(d.Attributes, k)
					break
				}
			}
		}
	}
	plain, _ := json.Marshal(d)
	sealedData, err := b.ring.Seal(ctx, s.Tenant, plain, ad(id))
	if err != nil {
		return nil, nil, err
	}
	var terms []string
	if old == nil || before != d.ExternalID+"\x00"+d.Email+"\x00"+d.Name {
		if terms, err = b.terms(ctx, s.Tenant, d); err != nil {
			return nil, nil, err
		}
	}
	return sealedData, terms, nil
}

// words are what a contact is found by: its external id, email, the email's
// local part and domain, and each word of its name, folded to lower case.
func words(d sealed) []string {
	var out []string
	add := func(w string) {
		if w = strings.ToLower(strings.TrimSpace(w)); w != "" && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	add(d.ExternalID)
	if d.Email != "" {
		add(d.Email)
		local, domain, _ := strings.Cut(d.Email, "@")
		add(local)
		add(domain)
	}
	for _, w := range queryWords(d.Name) {
		add(w)
	}
	return out
}

// queryWords splits typed text into the words a search looks for.
func queryWords(q string) []string {
	return strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return unicode.IsSpace(r) || r == ',' || r == ';' })
}

// terms are a contact's words as keyed hashes: the store never sees them.
func (b *Book) terms(ctx context.Context, tenant string, d sealed) ([]string, error) {
	ws := words(d)
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		t, err := b.ring.Blind(ctx, tenant, "contact-term", w)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// MaxFound bounds a contact search's answer.
const MaxFound = 50

// Search finds a tenant's contacts by whole words of who they are (a name,
// an email or its domain, an external id): every word typed must match.
func (b *Book) Search(ctx context.Context, tenant, q string) ([]Contact, error) {
	var terms []string
	for _, w := range queryWords(q) {
		if len(terms) == 8 {
			break
		}
		t, err := b.ring.Blind(ctx, tenant, "contact-term", w)
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
	rs, err := b.st.FindContacts(ctx, tenant, terms, MaxFound)
	if err != nil {
		return nil, err
	}
	out := make([]Contact, 0, len(rs))
	for _, r := range rs {
		c, err := b.open(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// IndexUnindexed writes the search terms of up to limit contacts an earlier
// release made without them; it returns how many it wrote.
func (b *Book) IndexUnindexed(ctx context.Context, limit int) (int, error) {
	rs, err := b.st.UnindexedContacts(ctx, limit)
	if err != nil {
		return 0, err
	}
	for _, r := range rs {
		plain, err := b.ring.Open(ctx, r.TenantID, r.Data, ad(r.ID))
		if err != nil {
			return 0, fmt.Errorf("open contact %s: %w", r.ID, err)
		}
		var d sealed
		if err := json.Unmarshal(plain, &d); err != nil {
			return 0, fmt.Errorf("read contact %s: %w", r.ID, err)
		}
		terms, err := b.terms(ctx, r.TenantID, d)
		if err != nil {
			return 0, err
		}
		if err := b.st.SetContactTerms(ctx, r.TenantID, r.ID, terms); err != nil {
			return 0, err
		}
	}
	return len(rs), nil
}

func (b *Book) open(ctx context.Context, r store.ContactRecord) (Contact, error) {
	plain, err := b.ring.Open(ctx, r.TenantID, r.Data, ad(r.ID))
	if err != nil {
		return Contact{}, fmt.Errorf("open contact %s: %w", r.ID, err)
	}
	var d sealed
	if err := json.Unmarshal(plain, &d); err != nil {
		return Contact{}, fmt.Errorf("read contact %s: %w", r.ID, err)
	}
	return Contact{ID: r.ID, ExternalID: d.ExternalID, Email: d.Email, Name: d.Name, Attributes: d.Attributes,
		VerifiedBy: r.VerifiedBy, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, fingerprint: r.Fingerprint}, nil
}

// Get returns a tenant's contact by id.
func (b *Book) Get(ctx context.Context, tenant, id string) (Contact, error) {
	r, err := b.st.Contact(ctx, tenant, id)
	if err != nil {
		return Contact{}, err
	}
	return b.open(ctx, r)
}

// ByExternalID returns the tenant's contact of an external id.
func (b *Book) ByExternalID(ctx context.Context, tenant, externalID string) (Contact, error) {
	fp, err := b.Fingerprint(ctx, tenant, externalID)
	if err != nil {
		return Contact{}, err
	}
	return b.ByFingerprint(ctx, tenant, fp)
}

// ByFingerprint returns the tenant's contact of an identity fingerprint (a
// conversation's identity column).
func (b *Book) ByFingerprint(ctx context.Context, tenant, fingerprint string) (Contact, error) {
	r, err := b.st.ContactByFingerprint(ctx, tenant, fingerprint)
	if err != nil {
		return Contact{}, err
	}
	return b.open(ctx, r)
}

// OfVisitor returns the contact a site's visitor id was last verified as.
func (b *Book) OfVisitor(ctx context.Context, tenant, site, visitor string) (Contact, error) {
	r, err := b.st.ContactOfVisitor(ctx, tenant, site, visitor)
	if err != nil {
		return Contact{}, err
	}
	return b.open(ctx, r)
}

// List returns a page of a tenant's contacts, the last seen first.
func (b *Book) List(ctx context.Context, tenant string, p store.Page) ([]Contact, string, error) {
	rs, next, err := b.st.Contacts(ctx, tenant, p)
	if err != nil {
		return nil, "", err
	}
	out := make([]Contact, len(rs))
	for i, r := range rs {
		if out[i], err = b.open(ctx, r); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// Visitors returns the visitor ids a contact was verified on.
func (b *Book) Visitors(ctx context.Context, tenant, id string) ([]store.ContactVisitor, error) {
	return b.st.ContactVisitors(ctx, tenant, id)
}

// Conversations returns a contact's conversations on any of the tenant's
// sites, the newest first, at most limit.
func (b *Book) Conversations(ctx context.Context, tenant string, c Contact, limit int) ([]store.ContactConversation, error) {
	return b.st.ContactConversations(ctx, tenant, c.fingerprint, limit)
}

// Delete removes a contact and its links. The caller erases what it linked
// first (ops.EraseContact): the contact is what finds it.
func (b *Book) Delete(ctx context.Context, a store.Actor, tenant, id string) error {
	return b.st.DeleteContact(ctx, a, tenant, id)
}

// clean checks a sighting against the limits and drops control characters
// from its text (a name with a line break must not reach an email header).
func clean(s *Sighting) error {
	switch {
	case s.Tenant == "" || s.ExternalID == "" || len(s.ExternalID) > MaxExternalID:
		return fmt.Errorf("%w: an external id of 1 to %d bytes", ErrInvalid, MaxExternalID)
	case s.VerifiedBy != "hash" && s.VerifiedBy != "token":
		return fmt.Errorf("%w: verified by hash or token, not %q", ErrInvalid, s.VerifiedBy)
	case len(s.Email) > MaxEmail || (s.Email != "" && !email.Address(s.Email)):
		return fmt.Errorf("%w: email is not an address", ErrInvalid)
	case len(s.Name) > MaxName:
		return fmt.Errorf("%w: a name of at most %d bytes", ErrInvalid, MaxName)
	case len(s.Attributes) > MaxAttributes:
		return fmt.Errorf("%w: at most %d attributes", ErrInvalid, MaxAttributes)
	case !utf8.ValidString(s.ExternalID + s.Email + s.Name):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalid)
	}
	attrs := make(map[string]string, len(s.Attributes))
	for k, v := range s.Attributes {
		if k == "" || len(k) > MaxAttrKey || len(v) > MaxAttrValue || !utf8.ValidString(k+v) {
			return fmt.Errorf("%w: attribute keys of 1 to %d bytes, values of at most %d", ErrInvalid, MaxAttrKey, MaxAttrValue)
		}
		attrs[printable(k)] = printable(v)
	}
	s.Attributes = attrs
	s.Name = strings.TrimSpace(printable(s.Name))
	if s.At.IsZero() {
		s.At = time.Now()
	}
	return nil
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
