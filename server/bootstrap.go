package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
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
	site, err := s.st.SiteByKey(ctx, DemoSiteKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		t, err := s.st.CreateTenant(ctx, store.System, "Demo")
		if err != nil {
			return err
		}
		site, err = s.st.CreateSite(ctx, store.System, store.Site{TenantID: t.ID, Key: DemoSiteKey, Name: "Acme Energy (demo)",
			AllowedOrigins: []string{s.cfg.PublicURL}, TimeZone: "UTC", Theme: store.DefaultSiteTheme, Settings: store.DefaultSiteSettings})
		if err != nil {
			return err
		}
		s.log.Info("demo site created", "tenant", t.ID, "site_key", DemoSiteKey)
	case err != nil:
		return err
	case !slices.Contains(site.AllowedOrigins, s.cfg.PublicURL):
		// The public URL changed (another port): let the demo shop keep working.
		if _, err := s.st.UpdateSite(ctx, store.System, site.TenantID, site.ID, func(st *store.Site) error {
			st.AllowedOrigins = append(st.AllowedOrigins, s.cfg.PublicURL)
			return nil
		}); err != nil {
			return err
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
