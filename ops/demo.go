package ops

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/rules"
	"github.com/nudgehq/nudge/store"
)

// DemoSiteKey is the public key of the demo site.
const DemoSiteKey = "demo"

// Demo is what the demo is opened with.
type Demo struct {
	PublicURL     string // where browsers reach nudge: the demo shop's origin
	AdminEmail    string // the demo owner's email
	AdminPassword string // the demo owner's password; generated and printed when empty
}

// Bootstrap prepares a `--demo` server: the demo tenant, the demo site (allowed
// from the public URL) with a chat and two published offers, and its owner
// account. It is idempotent: a restart finds them and creates nothing twice.
// A generated owner password is written to out, once, when the account is
// created.
func (s *Service) Bootstrap(ctx context.Context, d Demo, out io.Writer) error {
	origins := demoOrigins(d.PublicURL)
	site, err := s.Store.SiteByKey(ctx, DemoSiteKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		t, err := s.Store.CreateTenant(ctx, store.System, "Demo")
		if err != nil {
			return err
		}
		site, err = s.Store.CreateSite(ctx, store.System, store.Site{TenantID: t.ID, Key: DemoSiteKey, Name: "Acme Energy (demo)",
			AllowedOrigins: origins, TimeZone: "UTC", Theme: store.DefaultSiteTheme, Settings: store.DefaultSiteSettings})
		if err != nil {
			return err
		}
		s.log.Info("demo site created", "tenant", t.ID, "site_key", DemoSiteKey)
		if _, err := s.Store.CreateQueue(ctx, store.System, store.Queue{TenantID: t.ID, Name: "General", Config: []byte(`{}`)}); err != nil {
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
			if _, err := s.Store.UpdateSite(ctx, store.System, site.TenantID, site.ID, func(st *store.Site) error {
				st.AllowedOrigins = append(st.AllowedOrigins, missing...)
				return nil
			}); err != nil {
				return err
			}
		}
		// A demo made before chat existed gets its queue and its launcher.
		qs, err := s.Store.Queues(ctx, site.TenantID)
		if err != nil {
			return err
		}
		if len(qs) == 0 {
			if _, err := s.Store.CreateQueue(ctx, store.System, store.Queue{TenantID: site.TenantID, Name: "General", Config: []byte(`{}`)}); err != nil {
				return err
			}
			if _, err := s.Store.UpdateSite(ctx, store.System, site.TenantID, site.ID, func(st *store.Site) error {
				st.Settings.Chat = true
				return nil
			}); err != nil {
				return err
			}
		}
	}

	if err := s.demoChat(ctx, site); err != nil {
		return fmt.Errorf("demo chat: %w", err)
	}
	if err := s.demoOffers(ctx, site, d.PublicURL); err != nil {
		return fmt.Errorf("demo offers: %w", err)
	}

	email, err := auth.ValidEmail(d.AdminEmail)
	if err != nil {
		return fmt.Errorf("admin email %q: %w", d.AdminEmail, err)
	}
	if _, err := s.Store.UserByEmail(ctx, email); err == nil {
		fmt.Fprintf(out, "\nnudge demo: open %s and log in as %s (password as set at first start).\n\n", d.PublicURL, email)
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	password, generated := d.AdminPassword, false
	if password == "" {
		b := make([]byte, 15)
		rand.Read(b)
		password, generated = base64.RawURLEncoding.EncodeToString(b), true
	}
	if _, err := s.Auth.CreateUser(ctx, store.System, site.TenantID, auth.NewUser{Email: email, Name: "Demo owner", Password: password, Role: auth.RoleOwner}); err != nil {
		return fmt.Errorf("create demo owner: %w", err)
	}
	if generated {
		fmt.Fprintf(out, "\nnudge demo: open %s and log in as\n  email:    %s\n  password: %s\n(shown once; set NUDGE_ADMIN_PASSWORD to choose it)\n\n", d.PublicURL, email, password)
	} else {
		fmt.Fprintf(out, "\nnudge demo: open %s and log in as %s with NUDGE_ADMIN_PASSWORD.\n\n", d.PublicURL, email)
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

// demoChat gives a demo whose chat settings were never set what a newcomer
// should see: a welcome with the team's name, a pre-chat form (name, and an
// optional email) with a question whose two topics lead to two queues, one
// of them open on weekdays only (outside, the offline form), and a rating
// when the chat ends.
func (s *Service) demoChat(ctx context.Context, site store.Site) error {
	doc, err := s.Store.ChatSettings(ctx, site.TenantID)
	if err != nil {
		return err
	}
	if len(doc) > 0 && string(doc) != "{}" {
		return nil
	}
	qs, err := s.Store.Queues(ctx, site.TenantID)
	if err != nil || len(qs) == 0 {
		return err
	}
	general := qs[0].ID
	hours, _ := json.Marshal(map[string]any{"hours": chat.Hours{TimeZone: "Europe/Paris", Week: map[string][][2]string{
		"mon": {{"08:00", "18:00"}}, "tue": {{"08:00", "18:00"}}, "wed": {{"08:00", "18:00"}}, "thu": {{"08:00", "18:00"}}, "fri": {{"08:00", "18:00"}}}}})
	tech, err := s.Store.CreateQueue(ctx, store.System, store.Queue{TenantID: site.TenantID, Name: "Meters and faults", Config: hours})
	if err != nil {
		return err
	}
	set := chat.DefaultSettings()
	set.DefaultQueue, set.CSAT = general, true
	set.Welcome = chat.Welcome{Title: "Acme Energy", Greeting: "Hi! Questions about your bill, your meter or a move? Write to us."}
	set.Prechat = &chat.Prechat{Question: "What is it about?", Options: []chat.PrechatOption{{Label: "My bill", Queue: general}, {Label: "My meter or a fault", Queue: tech.ID}}}
	set.Form = &chat.Form{Fields: []chat.FormField{{Kind: "name", Label: "Your name", Required: true}, {Kind: "email", Label: "Your email", Required: false}}}
	if err := set.Validate(); err != nil {
		return err
	}
	doc, _ = json.Marshal(set)
	if err := s.Store.SetChatSettings(ctx, store.System, site.TenantID, doc); err != nil {
		return err
	}
	return s.ReloadChat(ctx, site.TenantID)
}

// demoOffers gives a demo site without rules two published ones, so that a
// newcomer sees an offer within a minute of opening the shop: a chat offer
// after a few seconds on the billing or checkout page (while an agent is
// available), and a discount on exit intent with a control group of 10 %.
// Reaching the checkout is the goal their lift is measured by.
func (s *Service) demoOffers(ctx context.Context, site store.Site, public string) error {
	rs, err := s.Store.OfferRules(ctx, site.TenantID, site.ID)
	if err != nil || len(rs) > 0 {
		return err
	}
	qs, err := s.Store.Queues(ctx, site.TenantID)
	if err != nil || len(qs) == 0 {
		return err
	}
	queue, _ := json.Marshal(qs[0].Name)
	checkout, _ := json.Marshal(public + "/demo/checkout")
	tpl, err := s.Store.SaveOfferTemplate(ctx, store.System, store.OfferTemplate{TenantID: site.TenantID, SiteID: site.ID, Body: json.RawMessage(`{
		"name": "Exit discount", "title": "Before you go: 10 % off your first bill",
		"body": "Switch this week with the code STAY10 and your first month is 10 % cheaper.",
		"buttons": [{"label": "Go to checkout", "action": "link", "url": ` + string(checkout) + `},
			{"label": "Ask us first", "action": "chat"}, {"label": "No thanks", "action": "dismiss"}]}`)})
	if err != nil {
		return err
	}
	for _, body := range []string{
		`{"name": "Billing help", "priority": 10,
		  "when": {"all": [{"any": [{"fact": "page.path", "op": "starts_with", "value": "/demo/billing"},
		                            {"fact": "page.path", "op": "starts_with", "value": "/demo/checkout"}]},
		                   {"fact": "page.seconds", "op": "gte", "value": 8}]},
		  "action": {"type": "chat_offer", "queue": ` + string(queue) + `, "title": "Questions about your bill?",
		             "text": "An advisor can go through it with you now.", "metadata": {"topic": "billing"}, "max_wait_seconds": 300},
		  "limits": {"per_visit": 1, "cooldown_days_after_decline": 7}}`,
		`{"name": "Exit discount", "priority": 5,
		  "when": {"all": [{"fact": "page.exit_intent", "op": "eq", "value": true},
		                   {"not": {"fact": "page.path", "op": "starts_with", "value": "/demo/checkout"}}]},
		  "action": {"type": "content_offer", "template": "` + tpl.ID + `"},
		  "limits": {"per_visit": 1, "per_visitor_days": 1},
		  "split": {"control_percent": 10}}`,
	} {
		refs, err := s.OfferRefs(ctx, site)
		if err != nil {
			return err
		}
		r, err := rules.Parse([]byte(body), refs)
		if err != nil {
			return fmt.Errorf("rule: %w", err)
		}
		doc, _ := json.Marshal(r)
		saved, err := s.Store.SaveOfferRule(ctx, store.System, store.OfferRule{TenantID: site.TenantID, SiteID: site.ID, Draft: doc})
		if err != nil {
			return err
		}
		if _, err := s.Store.PublishOfferRule(ctx, store.System, site.TenantID, site.ID, saved.ID, doc, "rule.publish"); err != nil {
			return err
		}
		s.log.Info("demo offer published", "rule", r.Name)
	}
	_, err = s.Store.UpdateSite(ctx, store.System, site.TenantID, site.ID, func(st *store.Site) error {
		st.Settings.PushOffers = true
		if len(st.Settings.Goals) == 0 {
			st.Settings.Goals = []store.SiteGoal{{Page: "/demo/checkout"}}
		}
		return nil
	})
	s.Forget(site.Key)
	return err
}
