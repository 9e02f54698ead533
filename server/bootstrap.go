package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"

	"github.com/nudgehq/nudge/server/auth"
	"github.com/nudgehq/nudge/store"
)

// DemoSiteKey is the public key of the demo site.
const DemoSiteKey = "demo"

// Bootstrap prepares a `--demo` server: the demo tenant, the demo site (allowed
// from the public URL) and its owner account. It is idempotent: a restart finds
// them and creates nothing twice. A generated owner password is written to out,
// once, when the account is created.
func (s *Server) Bootstrap(ctx context.Context, out io.Writer) error {
	if !s.cfg.Demo {
		return nil
	}
	origins := demoOrigins(s.cfg.PublicURL)
	site, err := s.st.SiteByKey(ctx, DemoSiteKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		t, err := s.st.CreateTenant(ctx, store.System, "Demo")
		if err != nil {
			return err
		}
		site, err = s.st.CreateSite(ctx, store.System, store.Site{TenantID: t.ID, Key: DemoSiteKey, Name: "Acme Energy (demo)",
			AllowedOrigins: origins, TimeZone: "UTC", Theme: store.DefaultSiteTheme, Settings: store.DefaultSiteSettings})
		if err != nil {
			return err
		}
		s.log.Info("demo site created", "tenant", t.ID, "site_key", DemoSiteKey)
		if _, err := s.st.CreateQueue(ctx, store.System, store.Queue{TenantID: t.ID, Name: "General", Config: []byte(`{}`)}); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		// The public URL may have changed (another port): keep the demo shop working.
		var missing []string
		for _, o := range origins {
			if !slices.Contains(site.AllowedOrigins, o) {
				missing = append(missing, o)
			}
		}
		if len(missing) > 0 {
			if _, err := s.st.UpdateSite(ctx, store.System, site.TenantID, site.ID, func(st *store.Site) error {
				st.AllowedOrigins = append(st.AllowedOrigins, missing...)
				return nil
			}); err != nil {
				return err
			}
		}
		// A demo made before chat existed gets its queue and its launcher.
		qs, err := s.st.Queues(ctx, site.TenantID)
		if err != nil {
			return err
		}
		if len(qs) == 0 {
			if _, err := s.st.CreateQueue(ctx, store.System, store.Queue{TenantID: site.TenantID, Name: "General", Config: []byte(`{}`)}); err != nil {
				return err
			}
			if _, err := s.st.UpdateSite(ctx, store.System, site.TenantID, site.ID, func(st *store.Site) error {
				st.Settings.Chat = true
				return nil
			}); err != nil {
				return err
			}
		}
	}

	email, err := auth.ValidEmail(s.cfg.AdminEmail)
	if err != nil {
		return fmt.Errorf("admin email %q: %w", s.cfg.AdminEmail, err)
	}
	if _, err := s.st.UserByEmail(ctx, email); err == nil {
		fmt.Fprintf(out, "\nnudge demo: open %s and log in as %s (password as set at first start).\n\n", s.cfg.PublicURL, email)
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	password, generated := s.cfg.AdminPassword, false
	if password == "" {
		b := make([]byte, 15)
		rand.Read(b)
		password, generated = base64.RawURLEncoding.EncodeToString(b), true
	}
	if _, err := s.auth.CreateUser(ctx, store.System, site.TenantID, auth.NewUser{Email: email, Name: "Demo owner", Password: password, Role: auth.RoleOwner}); err != nil {
		return fmt.Errorf("create demo owner: %w", err)
	}
	if generated {
		fmt.Fprintf(out, "\nnudge demo: open %s and log in as\n  email:    %s\n  password: %s\n(shown once; set NUDGE_ADMIN_PASSWORD to choose it)\n\n", s.cfg.PublicURL, email, password)
	} else {
		fmt.Fprintf(out, "\nnudge demo: open %s and log in as %s with NUDGE_ADMIN_PASSWORD.\n\n", s.cfg.PublicURL, email)
	}
	return nil
}

// demoOrigins are the origins the demo shop is opened from: the public URL,
// and for a loopback URL its other spelling (localhost and 127.0.0.1).
func demoOrigins(public string) []string {
	out := []string{public}
	u, err := url.Parse(public)
	if err != nil {
		return out
	}
	other := map[string]string{"localhost": "127.0.0.1", "127.0.0.1": "localhost"}[u.Hostname()]
	if other == "" {
		return out
	}
	host := other
	if p := u.Port(); p != "" {
		host += ":" + p
	}
	return append(out, u.Scheme+"://"+host)
}
