package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Site is a website that carries the snippet. Key is public; IdentitySecret
// signs visitor identities and is shown only to those allowed to read it.
type Site struct {
	ID             string       `json:"id"`
	TenantID       string       `json:"tenant_id"`
	Key            string       `json:"key"`
	Name           string       `json:"name"`
	AllowedOrigins []string     `json:"allowed_origins"`
	TimeZone       string       `json:"time_zone"`
	Theme          SiteTheme    `json:"theme"`
	Settings       SiteSettings `json:"settings"`
	IdentitySecret string       `json:"-"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
}

// SiteTheme is how the widget looks on the site.
type SiteTheme struct {
	Color    string `json:"color"`    // #rrggbb
	Position string `json:"position"` // "right" or "left"
	// OffsetX and OffsetY move the launcher away from its corner (pixels),
	// off the page's own controls there.
	OffsetX int `json:"offset_x,omitempty"`
	OffsetY int `json:"offset_y,omitempty"`
	// Sound: a short chime when a reply arrives while the chat is closed.
	Sound bool `json:"sound,omitempty"`
}

// SiteSettings are the site's privacy and behaviour switches.
type SiteSettings struct {
	// RespectDNT: a browser that sends Do Not Track is not measured.
	RespectDNT bool `json:"respect_dnt"`
	// ConsentRequired: nothing is stored or sent until the page calls nudge('consent', true).
	ConsentRequired bool `json:"consent_required"`
	// Cookieless: no visitor id is kept in the browser's storage.
	Cookieless bool `json:"cookieless"`
	// RetentionDays: raw analytics events older than this are deleted (0 keeps them).
	RetentionDays int `json:"retention_days"`
	// Goals are the conversions the goals report counts.
	Goals []SiteGoal `json:"goals"`
	// Chat shows the chat launcher on the site's pages.
	Chat bool `json:"chat"`
	// SecuredChat: chat only for visitors whose identity a visitor token
	// proves (a short-lived JWT the site's server signs for each page); the
	// browser keeps no chat token, and a verified visitor continues their
	// open chat on any device.
	SecuredChat bool `json:"secured_chat"`
	// PushOffers: the site's backend may push offers to open pages
	// (POST /api/sites/{site}/visitors/{id}/offers); pages then poll for them.
	PushOffers bool `json:"push_offers"`
	// PagePatterns group paths in reports: "/products/:slug" reports every
	// product page as that one path, "/docs/*" everything under /docs/.
	PagePatterns []string `json:"page_patterns"`
	// KeepPathIDs stores paths as they are; by default numeric and UUID-like
	// segments become ":id" (/orders/83412 is reported as /orders/:id).
	KeepPathIDs bool `json:"keep_path_ids"`
	// EventsPerDay is the site's storage budget: analytics events stored a
	// day (the site's day); past it, events are counted as dropped. 0 takes
	// DefaultEventsPerDay.
	EventsPerDay int `json:"events_per_day"`
	// MaxEventBytes: an event whose stored text (path, title, name,
	// properties, referrer) is longer is dropped. 0 takes DefaultMaxEventBytes.
	MaxEventBytes int `json:"max_event_bytes"`
}

// Defaults of a site's analytics storage budget: 200,000 events a day is a
// site of about twenty thousand visits, and at most about 200 MB a day of a
// flood of the largest events; 4 KiB holds the longest title and a dozen long
// properties.
const (
	DefaultEventsPerDay  = 200_000
	DefaultMaxEventBytes = 4096
)

// DailyEvents is the site's daily event budget.
func (s SiteSettings) DailyEvents() int {
	if s.EventsPerDay > 0 {
		return s.EventsPerDay
	}
	return DefaultEventsPerDay
}

// EventBytes is the largest event the site stores.
func (s SiteSettings) EventBytes() int {
	if s.MaxEventBytes > 0 {
		return s.MaxEventBytes
	}
	return DefaultMaxEventBytes
}

// SiteGoal is a conversion: a custom event's name, or a page's path.
type SiteGoal struct {
	Event string `json:"event,omitempty"`
	Page  string `json:"page,omitempty"`
}

// DefaultSiteTheme and DefaultSiteSettings are what a new site starts with.
var (
	DefaultSiteTheme    = SiteTheme{Color: "#2563eb", Position: "right"}
	DefaultSiteSettings = SiteSettings{RespectDNT: true, Chat: true}
)

// FieldError is a validation error that names the bad field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

var (
	siteKeyRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$`)
	colorRE   = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	paramRE   = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)
)

// Validate checks a site before it is stored and puts origins in canonical form.
func (st *Site) Validate() error {
	st.Name = strings.TrimSpace(st.Name)
	if st.Name == "" || len(st.Name) > 200 {
		return &FieldError{"name", "must be 1 to 200 characters"}
	}
	if !siteKeyRE.MatchString(st.Key) {
		return &FieldError{"key", "must be 3 to 64 lower-case letters, digits or dashes"}
	}
	if len(st.AllowedOrigins) > 100 {
		return &FieldError{"allowed_origins", "at most 100 origins"}
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(st.AllowedOrigins))
	for _, o := range st.AllowedOrigins {
		c, err := CanonicalOrigin(o)
		if err != nil {
			return &FieldError{"allowed_origins", err.Error()}
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	st.AllowedOrigins = out
	if st.TimeZone == "" {
		st.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(st.TimeZone); err != nil || len(st.TimeZone) > 64 {
		return &FieldError{"time_zone", "unknown IANA time zone"}
	}
	if !colorRE.MatchString(st.Theme.Color) {
		return &FieldError{"theme.color", "must be #rrggbb"}
	}
	if st.Theme.Position != "right" && st.Theme.Position != "left" {
		return &FieldError{"theme.position", `must be "right" or "left"`}
	}
	if st.Theme.OffsetX < 0 || st.Theme.OffsetX > 400 || st.Theme.OffsetY < 0 || st.Theme.OffsetY > 400 {
		return &FieldError{"theme.offset_x", "offsets are 0 to 400 pixels"}
	}
	if st.Settings.RetentionDays < 0 || st.Settings.RetentionDays > 3650 {
		return &FieldError{"settings.retention_days", "0 (keep) to 3650"}
	}
	if n := st.Settings.EventsPerDay; n != 0 && (n < 1000 || n > 100_000_000) {
		return &FieldError{"settings.events_per_day", "0 (the default, 200,000) or 1,000 to 100,000,000"}
	}
	if n := st.Settings.MaxEventBytes; n != 0 && (n < 512 || n > 16384) {
		return &FieldError{"settings.max_event_bytes", "0 (the default, 4,096) or 512 to 16,384"}
	}
	if st.Settings.Goals == nil {
		st.Settings.Goals = []SiteGoal{} // a list in JSON, never null
	}
	if len(st.Settings.Goals) > 50 {
		return &FieldError{"settings.goals", "at most 50 goals"}
	}
	for _, g := range st.Settings.Goals {
		switch {
		case (g.Event == "") == (g.Page == ""):
			return &FieldError{"settings.goals", "each goal is an event or a page, not both"}
		case len(g.Event) > 128:
			return &FieldError{"settings.goals", "an event name has at most 128 bytes"}
		case g.Page != "" && (!strings.HasPrefix(g.Page, "/") || len(g.Page) > 512):
			return &FieldError{"settings.goals", "a page is a path starting with /"}
		}
	}
	if st.Settings.PagePatterns == nil {
		st.Settings.PagePatterns = []string{}
	}
	if len(st.Settings.PagePatterns) > MaxPagePatterns {
		return &FieldError{"settings.page_patterns", fmt.Sprintf("at most %d patterns", MaxPagePatterns)}
	}
	for _, p := range st.Settings.PagePatterns {
		if err := CheckPagePattern(p); err != nil {
			return &FieldError{"settings.page_patterns", err.Error()}
		}
	}
	return nil
}

// MaxPagePatterns is how many page patterns a site may have.
const MaxPagePatterns = 50

// CheckPagePattern checks a page pattern: a path whose segments are words,
// ":name" (any one segment) or, last, "*" (the rest of the path).
func CheckPagePattern(p string) error {
	if !strings.HasPrefix(p, "/") || len(p) > 256 {
		return fmt.Errorf("%q: a pattern is a path starting with / of at most 256 bytes", p)
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		switch {
		case s == "*" && i != len(segs)-1:
			return fmt.Errorf("%q: * may only end a pattern", p)
		case strings.HasPrefix(s, ":") && !paramRE.MatchString(s[1:]):
			return fmt.Errorf("%q: a :name is 1 to 32 letters, digits or _", p)
		case s != "*" && strings.ContainsAny(s, "?#* "):
			return fmt.Errorf("%q: a segment is a word, :name or a final *", p)
		}
	}
	return nil
}

// CanonicalOrigin parses an origin ("https://shop.example.com", "http://localhost:8080",
// or a wildcard "https://*.example.com") into scheme://host[:port], lower case.
func CanonicalOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) origin", o)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: an origin has no path, query or user", o)
	}
	host := strings.ToLower(u.Host)
	if strings.Contains(strings.TrimPrefix(host, "*."), "*") {
		return "", fmt.Errorf("%q: a wildcard may only start the host", o)
	}
	return u.Scheme + "://" + host, nil
}

// AllowsOrigin reports whether a browser Origin header matches one of the
// site's allowed origins ("https://*.example.com" matches any subdomain).
func (st *Site) AllowsOrigin(origin string) bool {
	c, err := CanonicalOrigin(origin)
	if err != nil {
		return false
	}
	for _, a := range st.AllowedOrigins {
		if a == c {
			return true
		}
		if scheme, rest, ok := strings.Cut(a, "://*."); ok {
			cs, ch, _ := strings.Cut(c, "://")
			if cs == scheme && strings.HasSuffix(ch, "."+rest) {
				return true
			}
		}
	}
	return false
}

// NewSiteKey returns a random public site key.
func NewSiteKey() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 16)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateSite validates and stores a new site. An empty Key gets a random one.
func (s *Store) CreateSite(ctx context.Context, a Actor, st Site) (Site, error) {
	if st.Key == "" {
		st.Key = NewSiteKey()
	}
	if err := st.Validate(); err != nil {
		return Site{}, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	st.ID, st.CreatedAt, st.UpdatedAt, st.IdentitySecret = NewID(), now, now, newSecret()
	origins, _ := json.Marshal(st.AllowedOrigins)
	theme, _ := json.Marshal(st.Theme)
	settings, _ := json.Marshal(st.Settings)
	sealed, err := s.sealSecret(ctx, st.TenantID, "site-secret", st.ID, st.IdentitySecret)
	if err != nil {
		return Site{}, fmt.Errorf("store: create site %q: %w", st.Key, err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sites (id, tenant_id, key, name, allowed_origins, time_zone, theme, settings, identity_secret, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, st.ID, st.TenantID, st.Key, st.Name, string(origins), st.TimeZone,
			string(theme), string(settings), sealed, millis(now), millis(now))
		if isUnique(err) {
			return &FieldError{"key", "is taken"}
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, st.TenantID, a, "site.create", "site", st.ID, map[string]any{"key": st.Key, "name": st.Name})
	})
	if err != nil {
		return Site{}, fmt.Errorf("store: create site %q: %w", st.Key, err)
	}
	return st, nil
}

const siteColumns = `id, tenant_id, key, name, allowed_origins, time_zone, theme, settings, identity_secret, created_at, updated_at`

func scanSite(sc interface{ Scan(...any) error }) (Site, error) {
	var st Site
	var origins, theme, settings string
	var created, updated int64
	if err := sc.Scan(&st.ID, &st.TenantID, &st.Key, &st.Name, &origins, &st.TimeZone, &theme, &settings, &st.IdentitySecret, &created, &updated); err != nil {
		return Site{}, err
	}
	st.Theme, st.Settings = DefaultSiteTheme, DefaultSiteSettings
	if err := errors.Join(json.Unmarshal([]byte(origins), &st.AllowedOrigins),
		json.Unmarshal([]byte(theme), &st.Theme), json.Unmarshal([]byte(settings), &st.Settings)); err != nil {
		return Site{}, fmt.Errorf("decode site %s: %w", st.ID, err)
	}
	if st.Settings.Goals == nil {
		st.Settings.Goals = []SiteGoal{}
	}
	st.CreatedAt, st.UpdatedAt = fromMillis(created), fromMillis(updated)
	return st, nil
}

// openSite opens the identity secret of a site read from the table.
func (s *Store) openSite(ctx context.Context, st *Site) error {
	secret, err := s.openSecret(ctx, st.TenantID, "site-secret", st.ID, st.IdentitySecret)
	st.IdentitySecret = secret
	return err
}

// SitesWithRetention lists every site, of every tenant, that has a retention period.
func (s *Store) SitesWithRetention(ctx context.Context) ([]Site, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+siteColumns+` FROM sites WHERE `+s.d.jsonNumber("settings", "retention_days")+` > 0 ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: sites with retention: %w", err)
	}
	defer rows.Close()
	var out []Site
	for rows.Next() {
		st, err := scanSite(rows)
		if err != nil {
			return nil, fmt.Errorf("store: sites with retention: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i := range out {
		if err := s.openSite(ctx, &out[i]); err != nil {
			return nil, fmt.Errorf("store: sites with retention: %w", err)
		}
	}
	return out, nil
}

// Site returns a tenant's site by id.
func (s *Store) Site(ctx context.Context, tenantID, id string) (Site, error) {
	st, err := scanSite(s.r.QueryRowContext(ctx, `SELECT `+siteColumns+` FROM sites WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Site{}, fmt.Errorf("store: site %s: %w", id, ErrNotFound)
	}
	if err == nil {
		err = s.openSite(ctx, &st)
	}
	if err != nil {
		return Site{}, fmt.Errorf("store: site %s: %w", id, err)
	}
	return st, nil
}

// SiteByKey returns the site with a public key, whatever its tenant: the page
// side knows only the key.
func (s *Store) SiteByKey(ctx context.Context, key string) (Site, error) {
	st, err := scanSite(s.r.QueryRowContext(ctx, `SELECT `+siteColumns+` FROM sites WHERE key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Site{}, fmt.Errorf("store: site key %q: %w", key, ErrNotFound)
	}
	if err == nil {
		err = s.openSite(ctx, &st)
	}
	if err != nil {
		return Site{}, fmt.Errorf("store: site key %q: %w", key, err)
	}
	return st, nil
}

// Sites lists one page of a tenant's sites.
func (s *Store) Sites(ctx context.Context, tenantID string, p Page) ([]Site, string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+siteColumns+` FROM sites WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`,
		tenantID, p.After, p.limit())
	if err != nil {
		return nil, "", fmt.Errorf("store: sites of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []Site
	for rows.Next() {
		st, err := scanSite(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: sites of %s: %w", tenantID, err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: sites of %s: %w", tenantID, err)
	}
	rows.Close()
	for i := range out {
		if err := s.openSite(ctx, &out[i]); err != nil {
			return nil, "", fmt.Errorf("store: sites of %s: %w", tenantID, err)
		}
	}
	out, next := trim(p, out, func(st Site) string { return st.ID })
	return out, next, nil
}

// UpdateSite loads a tenant's site, lets change edit it, validates and stores
// the result, all in one transaction. The key, tenant and secret cannot change.
func (s *Store) UpdateSite(ctx context.Context, a Actor, tenantID, id string, change func(*Site) error) (Site, error) {
	var st Site
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		st, err = scanSite(tx.QueryRowContext(ctx, `SELECT `+siteColumns+` FROM sites WHERE tenant_id = ? AND id = ?`, tenantID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		before := st
		if err := change(&st); err != nil {
			return err
		}
		st.ID, st.TenantID, st.Key, st.IdentitySecret, st.CreatedAt = before.ID, before.TenantID, before.Key, before.IdentitySecret, before.CreatedAt
		if err := st.Validate(); err != nil {
			return err
		}
		st.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
		origins, _ := json.Marshal(st.AllowedOrigins)
		theme, _ := json.Marshal(st.Theme)
		settings, _ := json.Marshal(st.Settings)
		if _, err := tx.ExecContext(ctx, `UPDATE sites SET name = ?, allowed_origins = ?, time_zone = ?, theme = ?, settings = ?, updated_at = ?
			WHERE id = ?`, st.Name, string(origins), st.TimeZone, string(theme), string(settings), millis(st.UpdatedAt), st.ID); err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, a, "site.update", "site", id, map[string]any{"name": st.Name, "allowed_origins": st.AllowedOrigins})
	})
	if err == nil {
		err = s.openSite(ctx, &st)
	}
	if err != nil {
		return Site{}, fmt.Errorf("store: update site %s: %w", id, err)
	}
	return st, nil
}

// RotateSiteSecret gives a site a new identity secret and returns the site.
func (s *Store) RotateSiteSecret(ctx context.Context, a Actor, tenantID, id string) (Site, error) {
	secret, err := s.sealSecret(ctx, tenantID, "site-secret", id, newSecret())
	if err != nil {
		return Site{}, fmt.Errorf("store: rotate secret of site %s: %w", id, err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sites SET identity_secret = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
			secret, millis(time.Now()), tenantID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "site.rotate_secret", "site", id, nil)
	})
	if err != nil {
		return Site{}, fmt.Errorf("store: rotate secret of site %s: %w", id, err)
	}
	return s.Site(ctx, tenantID, id)
}

// DeleteSite deletes a tenant's site.
func (s *Store) DeleteSite(ctx context.Context, a Actor, tenantID, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sites WHERE tenant_id = ? AND id = ?`, tenantID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, tenantID, a, "site.delete", "site", id, nil)
	})
	if err != nil {
		return fmt.Errorf("store: delete site %s: %w", id, err)
	}
	return nil
}

// SiteZones maps every site's id to its time zone.
func (s *Store) SiteZones(ctx context.Context) (map[string]string, error) {
	return s.siteMap(ctx, "time_zone")
}

// SiteTenants maps every site's id to its tenant's.
func (s *Store) SiteTenants(ctx context.Context) (map[string]string, error) {
	return s.siteMap(ctx, "tenant_id")
}

// siteMap maps every site's id to one of its columns (a constant name).
func (s *Store) siteMap(ctx context.Context, column string) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, `+column+` FROM sites`)
	if err != nil {
		return nil, fmt.Errorf("store: sites' %s: %w", column, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, v string
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("store: sites' %s: %w", column, err)
		}
		out[id] = v
	}
	return out, rows.Err()
}
