package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ContactRecord is a contact as stored: found by the fingerprint of its
// external id; who it is lies in Data, sealed by the contacts package.
type ContactRecord struct {
	ID, TenantID, Fingerprint string
	Data                      []byte
	VerifiedBy                string // how the latest sighting was proved: hash or token
	FirstSeen, LastSeen       time.Time
}

// ContactVisitor is a visitor id of a site that a contact was verified on.
type ContactVisitor struct {
	SiteID              string    `json:"site_id"`
	Visitor             string    `json:"visitor"`
	FirstSeen, LastSeen time.Time `json:"-"`
}

// ContactSave is one sighting of a contact: the contact of Tenant with
// Fingerprint is created when new, seen At, and linked to Visitor of Site.
// Seal is given the contact's id and its sealed data (nil when new) and
// returns the data to store: it runs inside the transaction, so that two
// sightings at once merge rather than overwrite.
type ContactSave struct {
	Tenant, Fingerprint string
	VerifiedBy          string
	SiteID, Visitor     string // none when Visitor is empty
	At                  time.Time
	// Seal gives the contact's sealed data after the sighting, from what is
	// stored (nil: a new contact), and its search terms when they changed
	// (nil: leave them).
	Seal func(id string, sealed []byte) (data []byte, terms []string, err error)
}

const contactColumns = `id, tenant_id, fingerprint, data, verified_by, first_seen, last_seen`

func scanContact(sc interface{ Scan(...any) error }) (ContactRecord, error) {
	var c ContactRecord
	var first, last int64
	if err := sc.Scan(&c.ID, &c.TenantID, &c.Fingerprint, &c.Data, &c.VerifiedBy, &first, &last); err != nil {
		return ContactRecord{}, err
	}
	c.FirstSeen, c.LastSeen = fromMillis(first), fromMillis(last)
	return c, nil
}

// SaveContacts stores sightings in one transaction and returns the contacts
// as saved, in order. A sighting of a tenant or site that is gone is left
// out (its record has no ID).
func (s *Store) SaveContacts(ctx context.Context, saves []ContactSave) ([]ContactRecord, error) {
	out := make([]ContactRecord, len(saves))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for i, sv := range saves {
			c, err := saveContact(ctx, tx, sv)
			if err != nil {
				return err
			}
			out[i] = c
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: save contacts: %w", err)
	}
	return out, nil
}

func saveContact(ctx context.Context, tx *sql.Tx, sv ContactSave) (_ ContactRecord, err error) {
	at := millis(sv.At)
	c, err := scanContact(tx.QueryRowContext(ctx, `SELECT `+contactColumns+` FROM contacts WHERE tenant_id = ? AND fingerprint = ?`,
		sv.Tenant, sv.Fingerprint))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		var ok bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?)`, sv.Tenant).Scan(&ok); err != nil || !ok {
			return ContactRecord{}, err
		}
		c = ContactRecord{ID: NewID(), TenantID: sv.Tenant, Fingerprint: sv.Fingerprint, FirstSeen: sv.At, LastSeen: sv.At}
		var terms []string
		if c.Data, terms, err = sv.Seal(c.ID, nil); err != nil {
			return ContactRecord{}, err
		}
		defer func() {
			if err == nil {
				err = setContactTerms(ctx, tx, c.TenantID, c.ID, terms)
			}
		}()
		c.VerifiedBy = sv.VerifiedBy
		if _, err := tx.ExecContext(ctx, `INSERT INTO contacts (id, tenant_id, fingerprint, data, verified_by, first_seen, last_seen, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.TenantID, c.Fingerprint, c.Data, c.VerifiedBy, at, at, millis(time.Now())); err != nil {
			return ContactRecord{}, err
		}
	case err != nil:
		return ContactRecord{}, err
	default:
		var terms []string
		if c.Data, terms, err = sv.Seal(c.ID, c.Data); err != nil {
			return ContactRecord{}, err
		}
		if terms != nil {
			if err := setContactTerms(ctx, tx, c.TenantID, c.ID, terms); err != nil {
				return ContactRecord{}, err
			}
		}
		if sv.At.Before(c.FirstSeen) {
			c.FirstSeen = sv.At
		}
		if !sv.At.Before(c.LastSeen) {
			c.LastSeen, c.VerifiedBy = sv.At, sv.VerifiedBy
		}
		if _, err := tx.ExecContext(ctx, `UPDATE contacts SET data = ?, verified_by = ?, first_seen = ?, last_seen = ?, updated_at = ? WHERE id = ?`,
			c.Data, c.VerifiedBy, millis(c.FirstSeen), millis(c.LastSeen), millis(time.Now()), c.ID); err != nil {
			return ContactRecord{}, err
		}
	}
	if sv.Visitor != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO contact_visitors (contact_id, site_id, visitor, first_seen, last_seen)
			SELECT ?, id, ?, ?, ? FROM sites WHERE id = ? AND tenant_id = ?
			ON CONFLICT (contact_id, site_id, visitor) DO UPDATE SET
				first_seen = CASE WHEN excluded.first_seen < contact_visitors.first_seen THEN excluded.first_seen ELSE contact_visitors.first_seen END,
				last_seen = CASE WHEN excluded.last_seen > contact_visitors.last_seen THEN excluded.last_seen ELSE contact_visitors.last_seen END`,
			c.ID, sv.Visitor, at, at, sv.SiteID, sv.Tenant); err != nil {
			return ContactRecord{}, err
		}
	}
	return c, nil
}

// Contact returns a tenant's contact by id.
func (s *Store) Contact(ctx context.Context, tenantID, id string) (ContactRecord, error) {
	return s.contact(ctx, `SELECT `+contactColumns+` FROM contacts WHERE tenant_id = ? AND id = ?`, tenantID, id)
}

// ContactByFingerprint returns the tenant's contact of an external id's fingerprint.
func (s *Store) ContactByFingerprint(ctx context.Context, tenantID, fingerprint string) (ContactRecord, error) {
	return s.contact(ctx, `SELECT `+contactColumns+` FROM contacts WHERE tenant_id = ? AND fingerprint = ?`, tenantID, fingerprint)
}

// ContactOfVisitor returns the contact a site's visitor id was verified as
// (the one seen last, should a shared device have been several people's).
func (s *Store) ContactOfVisitor(ctx context.Context, tenantID, siteID, visitor string) (ContactRecord, error) {
	return s.contact(ctx, `SELECT c.id, c.tenant_id, c.fingerprint, c.data, c.verified_by, c.first_seen, c.last_seen FROM contact_visitors v JOIN contacts c ON c.id = v.contact_id
		WHERE v.site_id = ? AND v.visitor = ? AND c.tenant_id = ? ORDER BY v.last_seen DESC LIMIT 1`, siteID, visitor, tenantID)
}

func (s *Store) contact(ctx context.Context, query string, args ...any) (ContactRecord, error) {
	c, err := scanContact(s.r.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return ContactRecord{}, fmt.Errorf("store: contact: %w", ErrNotFound)
	}
	if err != nil {
		return ContactRecord{}, fmt.Errorf("store: contact: %w", err)
	}
	return c, nil
}

// Contacts lists a tenant's contacts, the last seen first.
func (s *Store) Contacts(ctx context.Context, tenantID string, p Page) ([]ContactRecord, string, error) {
	query := `SELECT ` + contactColumns + ` FROM contacts WHERE tenant_id = ? ORDER BY last_seen DESC, id DESC LIMIT ?`
	args := []any{tenantID, p.limit()}
	if p.After != "" {
		var last int64
		if err := s.r.QueryRowContext(ctx, `SELECT last_seen FROM contacts WHERE tenant_id = ? AND id = ?`, tenantID, p.After).Scan(&last); err != nil {
			return nil, "", fmt.Errorf("store: contacts of %s after %s: %w", tenantID, p.After, ErrNotFound)
		}
		query = `SELECT ` + contactColumns + ` FROM contacts WHERE tenant_id = ? AND (last_seen < ? OR (last_seen = ? AND id < ?))
			ORDER BY last_seen DESC, id DESC LIMIT ?`
		args = []any{tenantID, last, last, p.After, p.limit()}
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: contacts of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []ContactRecord
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: contacts of %s: %w", tenantID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: contacts of %s: %w", tenantID, err)
	}
	out, next := trim(p, out, func(c ContactRecord) string { return c.ID })
	return out, next, nil
}

// ContactVisitors returns the visitor ids a contact was verified on, the
// last seen first.
func (s *Store) ContactVisitors(ctx context.Context, tenantID, contactID string) ([]ContactVisitor, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT v.site_id, v.visitor, v.first_seen, v.last_seen FROM contact_visitors v
		JOIN contacts c ON c.id = v.contact_id WHERE c.tenant_id = ? AND c.id = ? ORDER BY v.last_seen DESC`, tenantID, contactID)
	if err != nil {
		return nil, fmt.Errorf("store: visitors of contact %s: %w", contactID, err)
	}
	defer rows.Close()
	var out []ContactVisitor
	for rows.Next() {
		var v ContactVisitor
		var first, last int64
		if err := rows.Scan(&v.SiteID, &v.Visitor, &first, &last); err != nil {
			return nil, fmt.Errorf("store: visitors of contact %s: %w", contactID, err)
		}
		v.FirstSeen, v.LastSeen = fromMillis(first), fromMillis(last)
		out = append(out, v)
	}
	return out, rows.Err()
}

// ContactConversation is one of a contact's conversations, as listed.
type ContactConversation struct {
	ID          string     `json:"id"`
	SiteID      string     `json:"site_id"`
	QueueID     string     `json:"queue_id"`
	Status      string     `json:"status"`
	CloseReason string     `json:"close_reason"`
	Disposition string     `json:"disposition"`
	CreatedAt   time.Time  `json:"created_at"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
}

// ContactConversations returns the tenant's conversations, on any of its
// sites, whose verified visitor has this identity fingerprint, the newest
// first, at most limit.
func (s *Store) ContactConversations(ctx context.Context, tenantID, fingerprint string, limit int) ([]ContactConversation, error) {
	return s.briefConversations(ctx, `WHERE tenant_id = ? AND identity = ? ORDER BY id DESC LIMIT ?`, tenantID, fingerprint, limit)
}

// VisitorHistory returns a site's visitor's conversations, the newest
// first, at most limit.
func (s *Store) VisitorHistory(ctx context.Context, tenantID, siteID, visitor string, limit int) ([]ContactConversation, error) {
	return s.briefConversations(ctx, `WHERE tenant_id = ? AND site_id = ? AND visitor = ? ORDER BY id DESC LIMIT ?`, tenantID, siteID, visitor, limit)
}

func (s *Store) briefConversations(ctx context.Context, where string, args ...any) ([]ContactConversation, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, site_id, coalesce(queue_id, ''), status, close_reason, disposition, created_at, closed_at
		FROM conversations `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: conversations of a contact: %w", err)
	}
	defer rows.Close()
	out := []ContactConversation{}
	for rows.Next() {
		var c ContactConversation
		var created int64
		var closed sql.NullInt64
		if err := rows.Scan(&c.ID, &c.SiteID, &c.QueueID, &c.Status, &c.CloseReason, &c.Disposition, &created, &closed); err != nil {
			return nil, fmt.Errorf("store: conversations of a contact: %w", err)
		}
		c.CreatedAt, c.ClosedAt = fromMillis(created), fromNullMillis(closed)
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteContact removes a tenant's contact and its links to visitor ids.
// What it linked (visits, conversations) is the caller's to erase first:
// the contact is what finds them.
func (s *Store) DeleteContact(ctx context.Context, a Actor, tenantID, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM contacts WHERE tenant_id = ? AND id = ?`, tenantID, id)
		if err != nil {
			return fmt.Errorf("store: delete contact %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: delete contact %s: %w", id, ErrNotFound)
		}
		return audit(ctx, tx, tenantID, a, "contact.delete", "contact", id, nil)
	})
}

// UnlinkContactVisitors forgets that a site's visitor ids were any contact's
// (their visitor's data was erased).
func (s *Store) UnlinkContactVisitors(ctx context.Context, tenantID, siteID string, visitors []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, v := range visitors {
			if _, err := tx.ExecContext(ctx, `DELETE FROM contact_visitors WHERE site_id = ? AND visitor = ?
				AND contact_id IN (SELECT id FROM contacts WHERE tenant_id = ?)`, siteID, v, tenantID); err != nil {
				return fmt.Errorf("store: unlink visitor %s: %w", v, err)
			}
		}
		return nil
	})
}

// setContactTerms replaces a contact's search terms.
func setContactTerms(ctx context.Context, tx *sql.Tx, tenantID, id string, terms []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM contact_terms WHERE contact_id = ?`, id); err != nil {
		return err
	}
	for _, t := range terms {
		if _, err := tx.ExecContext(ctx, `INSERT INTO contact_terms (tenant_id, term, contact_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, tenantID, t, id); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE contacts SET terms_at = ? WHERE id = ?`, millis(time.Now()), id)
	return err
}

// SetContactTerms replaces a contact's search terms (housekeeping's, for a
// contact made before contacts had them).
func (s *Store) SetContactTerms(ctx context.Context, tenantID, id string, terms []string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error { return setContactTerms(ctx, tx, tenantID, id, terms) })
	if err != nil {
		return fmt.Errorf("store: terms of contact %s: %w", id, err)
	}
	return nil
}

// UnindexedContacts returns up to limit contacts that have no search terms yet.
func (s *Store) UnindexedContacts(ctx context.Context, limit int) ([]ContactRecord, error) {
	out, err := s.contacts(ctx, `SELECT `+contactColumns+` FROM contacts WHERE terms_at IS NULL LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: unindexed contacts: %w", err)
	}
	return out, nil
}

// contacts runs a query of contact rows.
func (s *Store) contacts(ctx context.Context, q string, args ...any) ([]ContactRecord, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ContactRecord
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// FindContacts returns a tenant's contacts that have every term, the last
// seen first, at most limit.
func (s *Store) FindContacts(ctx context.Context, tenantID string, terms []string, limit int) ([]ContactRecord, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	args := []any{tenantID}
	for _, t := range terms {
		args = append(args, t)
	}
	args = append(args, len(terms), limit)
	out, err := s.contacts(ctx, `SELECT `+contactColumns+` FROM contacts WHERE id IN (
			SELECT contact_id FROM contact_terms WHERE tenant_id = ? AND term IN (?`+strings.Repeat(", ?", len(terms)-1)+`)
			GROUP BY contact_id HAVING count(DISTINCT term) = ?)
		ORDER BY last_seen DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: find contacts: %w", err)
	}
	return out, nil
}
