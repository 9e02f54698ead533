package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxOfferRules and MaxOfferTemplates bound what one site's pages receive.
const (
	MaxOfferRules     = 100
	MaxOfferTemplates = 100
)

// OfferRule is a marketer's rule: the draft being edited and which version is live.
type OfferRule struct {
	ID       string          `json:"id"`
	TenantID string          `json:"-"`
	SiteID   string          `json:"site_id"`
	Draft    json.RawMessage `json:"draft"`
	// Published is the live version; 0 when the rule is not live.
	Published int `json:"published_version"`
	// Version is the newest version; 0 before the first publish.
	Version int `json:"version"`
	// Changed: the draft differs from the live version (or nothing is live).
	Changed   bool      `json:"changed"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// OfferRuleVersion is one published version of a rule.
type OfferRuleVersion struct {
	Version   int             `json:"version"`
	Body      json.RawMessage `json:"body"`
	CreatedAt time.Time       `json:"created_at"`
	CreatedBy string          `json:"created_by"`
}

// OfferTemplate is a template offers show.
type OfferTemplate struct {
	ID        string          `json:"id"`
	TenantID  string          `json:"-"`
	SiteID    string          `json:"site_id"`
	Body      json.RawMessage `json:"body"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// LiveRule is a published rule as pages receive it.
type LiveRule struct {
	ID      string
	Version int
	Body    json.RawMessage
}

const offerRuleColumns = `r.id, r.tenant_id, r.site_id, r.draft, r.published, r.version,
	r.published = 0 OR r.draft IS DISTINCT FROM (SELECT body FROM offer_rule_versions v WHERE v.rule_id = r.id AND v.version = r.published),
	r.created_at, r.updated_at`

func scanOfferRule(row interface{ Scan(...any) error }) (OfferRule, error) {
	var r OfferRule
	var draft string
	var created, updated int64
	err := row.Scan(&r.ID, &r.TenantID, &r.SiteID, &draft, &r.Published, &r.Version, &r.Changed, &created, &updated)
	r.Draft, r.CreatedAt, r.UpdatedAt = json.RawMessage(draft), fromMillis(created), fromMillis(updated)
	return r, err
}

// SaveOfferRule creates (empty ID) a rule or replaces its draft. The draft
// must have been validated.
func (s *Store) SaveOfferRule(ctx context.Context, a Actor, r OfferRule) (OfferRule, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if r.ID == "" {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM offer_rules WHERE site_id = ?`, r.SiteID).Scan(&n); err != nil {
				return err
			}
			if n >= MaxOfferRules {
				return &FieldError{"rule", fmt.Sprintf("a site has at most %d rules", MaxOfferRules)}
			}
			r.ID = NewID()
			if _, err := tx.ExecContext(ctx, `INSERT INTO offer_rules (id, tenant_id, site_id, draft, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`, r.ID, r.TenantID, r.SiteID, string(r.Draft), millis(now), millis(now)); err != nil {
				return err
			}
			return audit(ctx, tx, r.TenantID, a, "rule.create", "rule", r.ID, map[string]string{"site": r.SiteID})
		}
		res, err := tx.ExecContext(ctx, `UPDATE offer_rules SET draft = ?, updated_at = ? WHERE id = ? AND tenant_id = ? AND site_id = ?`,
			string(r.Draft), millis(now), r.ID, r.TenantID, r.SiteID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, r.TenantID, a, "rule.update", "rule", r.ID, nil)
	})
	if err != nil {
		return OfferRule{}, fmt.Errorf("store: save rule: %w", err)
	}
	return s.OfferRule(ctx, r.TenantID, r.SiteID, r.ID)
}

// OfferRule returns one of a site's rules.
func (s *Store) OfferRule(ctx context.Context, tenantID, siteID, id string) (OfferRule, error) {
	r, err := scanOfferRule(s.r.QueryRowContext(ctx, `SELECT `+offerRuleColumns+` FROM offer_rules r
		WHERE r.id = ? AND r.tenant_id = ? AND r.site_id = ?`, id, tenantID, siteID))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return OfferRule{}, fmt.Errorf("store: rule %s: %w", id, err)
	}
	return r, nil
}

// OfferRules lists a site's rules, oldest first.
func (s *Store) OfferRules(ctx context.Context, tenantID, siteID string) ([]OfferRule, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+offerRuleColumns+` FROM offer_rules r
		WHERE r.tenant_id = ? AND r.site_id = ? ORDER BY r.id`, tenantID, siteID)
	if err != nil {
		return nil, fmt.Errorf("store: rules of %s: %w", siteID, err)
	}
	defer rows.Close()
	out := []OfferRule{}
	for rows.Next() {
		r, err := scanOfferRule(rows)
		if err != nil {
			return nil, fmt.Errorf("store: rules of %s: %w", siteID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteOfferRule removes a rule and its versions.
func (s *Store) DeleteOfferRule(ctx context.Context, a Actor, tenantID, siteID, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM offer_rules WHERE id = ? AND tenant_id = ? AND site_id = ?`, id, tenantID, siteID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "rule.delete", "rule", id, nil)
	})
	if err != nil {
		return fmt.Errorf("store: delete rule %s: %w", id, err)
	}
	return nil
}

// PublishOfferRule makes body the rule's newest version, live, and its
// draft. body is the draft when publishing, an old version's when rolling back.
func (s *Store) PublishOfferRule(ctx context.Context, a Actor, tenantID, siteID, id string, body json.RawMessage, action string) (OfferRule, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var version int
		err := tx.QueryRowContext(ctx, `UPDATE offer_rules SET version = version + 1, published = version + 1, draft = ?, updated_at = ?
			WHERE id = ? AND tenant_id = ? AND site_id = ? RETURNING version`, string(body), millis(now), id, tenantID, siteID).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO offer_rule_versions (rule_id, version, body, created_at, created_by) VALUES (?, ?, ?, ?, ?)`,
			id, version, string(body), millis(now), a.Kind+":"+a.ID); err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, a, action, "rule", id, map[string]int{"version": version})
	})
	if err != nil {
		return OfferRule{}, fmt.Errorf("store: publish rule %s: %w", id, err)
	}
	return s.OfferRule(ctx, tenantID, siteID, id)
}

// UnpublishOfferRule takes a rule off the pages; its versions stay.
func (s *Store) UnpublishOfferRule(ctx context.Context, a Actor, tenantID, siteID, id string) (OfferRule, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE offer_rules SET published = 0, updated_at = ? WHERE id = ? AND tenant_id = ? AND site_id = ?`,
			millis(time.Now()), id, tenantID, siteID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "rule.unpublish", "rule", id, nil)
	})
	if err != nil {
		return OfferRule{}, fmt.Errorf("store: unpublish rule %s: %w", id, err)
	}
	return s.OfferRule(ctx, tenantID, siteID, id)
}

// OfferRuleVersions lists a rule's versions, newest first.
func (s *Store) OfferRuleVersions(ctx context.Context, tenantID, siteID, id string) ([]OfferRuleVersion, error) {
	if _, err := s.OfferRule(ctx, tenantID, siteID, id); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT version, body, created_at, created_by FROM offer_rule_versions
		WHERE rule_id = ? ORDER BY version DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("store: versions of rule %s: %w", id, err)
	}
	defer rows.Close()
	out := []OfferRuleVersion{}
	for rows.Next() {
		var v OfferRuleVersion
		var body string
		var created int64
		if err := rows.Scan(&v.Version, &body, &created, &v.CreatedBy); err != nil {
			return nil, fmt.Errorf("store: versions of rule %s: %w", id, err)
		}
		v.Body, v.CreatedAt = json.RawMessage(body), fromMillis(created)
		out = append(out, v)
	}
	return out, rows.Err()
}

// OfferRuleVersion returns one version of a rule.
func (s *Store) OfferRuleVersion(ctx context.Context, tenantID, siteID, id string, version int) (OfferRuleVersion, error) {
	var v OfferRuleVersion
	var body string
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT v.version, v.body, v.created_at, v.created_by FROM offer_rule_versions v
		JOIN offer_rules r ON r.id = v.rule_id WHERE v.rule_id = ? AND v.version = ? AND r.tenant_id = ? AND r.site_id = ?`,
		id, version, tenantID, siteID).Scan(&v.Version, &body, &created, &v.CreatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return v, fmt.Errorf("store: rule %s version %d: %w", id, version, err)
	}
	v.Body, v.CreatedAt = json.RawMessage(body), fromMillis(created)
	return v, nil
}

// LiveOffers returns a site's published rules and all its templates: what
// its pages receive.
func (s *Store) LiveOffers(ctx context.Context, siteID string) ([]LiveRule, []OfferTemplate, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT r.id, r.published, v.body FROM offer_rules r
		JOIN offer_rule_versions v ON v.rule_id = r.id AND v.version = r.published
		WHERE r.site_id = ? AND r.published > 0 ORDER BY r.id`, siteID)
	if err != nil {
		return nil, nil, fmt.Errorf("store: live rules of %s: %w", siteID, err)
	}
	defer rows.Close()
	var live []LiveRule
	for rows.Next() {
		var r LiveRule
		var body string
		if err := rows.Scan(&r.ID, &r.Version, &body); err != nil {
			return nil, nil, fmt.Errorf("store: live rules of %s: %w", siteID, err)
		}
		r.Body = json.RawMessage(body)
		live = append(live, r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store: live rules of %s: %w", siteID, err)
	}
	ts, err := s.offerTemplates(ctx, `WHERE site_id = ?`, siteID)
	return live, ts, err
}

// SaveOfferTemplate creates (empty ID) or replaces a template. The body must
// have been validated.
func (s *Store) SaveOfferTemplate(ctx context.Context, a Actor, t OfferTemplate) (OfferTemplate, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if t.ID == "" {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM offer_templates WHERE site_id = ?`, t.SiteID).Scan(&n); err != nil {
				return err
			}
			if n >= MaxOfferTemplates {
				return &FieldError{"template", fmt.Sprintf("a site has at most %d templates", MaxOfferTemplates)}
			}
			t.ID = NewID()
			if _, err := tx.ExecContext(ctx, `INSERT INTO offer_templates (id, tenant_id, site_id, body, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`, t.ID, t.TenantID, t.SiteID, string(t.Body), millis(now), millis(now)); err != nil {
				return err
			}
			return audit(ctx, tx, t.TenantID, a, "template.create", "template", t.ID, map[string]string{"site": t.SiteID})
		}
		res, err := tx.ExecContext(ctx, `UPDATE offer_templates SET body = ?, updated_at = ? WHERE id = ? AND tenant_id = ? AND site_id = ?`,
			string(t.Body), millis(now), t.ID, t.TenantID, t.SiteID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, t.TenantID, a, "template.update", "template", t.ID, nil)
	})
	if err != nil {
		return OfferTemplate{}, fmt.Errorf("store: save template: %w", err)
	}
	return s.OfferTemplate(ctx, t.TenantID, t.SiteID, t.ID)
}

// ErrInUse means a template is still shown by a rule.
var ErrInUse = errors.New("in use")

// DeleteOfferTemplate removes a template that no rule's draft or live version uses.
func (s *Store) DeleteOfferTemplate(ctx context.Context, a Actor, tenantID, siteID, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var users int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM offer_rules r
			LEFT JOIN offer_rule_versions v ON v.rule_id = r.id AND v.version = r.published
			WHERE r.site_id = ? AND (`+s.d.jsonText("r.draft", "action", "template")+` = ? OR `+s.d.jsonText("v.body", "action", "template")+` = ?)`,
			siteID, id, id).Scan(&users); err != nil {
			return err
		}
		if users > 0 {
			return fmt.Errorf("%w by %d rule(s)", ErrInUse, users)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM offer_templates WHERE id = ? AND tenant_id = ? AND site_id = ?`, id, tenantID, siteID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "template.delete", "template", id, nil)
	})
	if err != nil {
		return fmt.Errorf("store: delete template %s: %w", id, err)
	}
	return nil
}

// OfferTemplate returns one of a site's templates.
func (s *Store) OfferTemplate(ctx context.Context, tenantID, siteID, id string) (OfferTemplate, error) {
	ts, err := s.offerTemplates(ctx, `WHERE id = ? AND tenant_id = ? AND site_id = ?`, id, tenantID, siteID)
	if err == nil && len(ts) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return OfferTemplate{}, fmt.Errorf("store: template %s: %w", id, err)
	}
	return ts[0], nil
}

// OfferTemplates lists a site's templates, oldest first.
func (s *Store) OfferTemplates(ctx context.Context, tenantID, siteID string) ([]OfferTemplate, error) {
	return s.offerTemplates(ctx, `WHERE tenant_id = ? AND site_id = ?`, tenantID, siteID)
}

func (s *Store) offerTemplates(ctx context.Context, where string, args ...any) ([]OfferTemplate, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, tenant_id, site_id, body, created_at, updated_at FROM offer_templates `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: templates: %w", err)
	}
	defer rows.Close()
	out := []OfferTemplate{}
	for rows.Next() {
		var t OfferTemplate
		var body string
		var created, updated int64
		if err := rows.Scan(&t.ID, &t.TenantID, &t.SiteID, &body, &created, &updated); err != nil {
			return nil, fmt.Errorf("store: templates: %w", err)
		}
		t.Body, t.CreatedAt, t.UpdatedAt = json.RawMessage(body), fromMillis(created), fromMillis(updated)
		out = append(out, t)
	}
	return out, rows.Err()
}
