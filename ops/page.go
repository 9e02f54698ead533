package ops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"github.com/nudgehq/nudge/rules"
	"github.com/nudgehq/nudge/store"
)

// pageConfig is what the loader learns of a site: its privacy settings,
// which modules to load, its time zone, and its published rules and the
// templates they show.
type pageConfig struct {
	Key        string                     `json:"key"`
	Modules    []string                   `json:"modules"`
	DNT        bool                       `json:"dnt"`
	Consent    bool                       `json:"consent"`
	Cookieless bool                       `json:"cookieless"`
	Theme      store.SiteTheme            `json:"theme"`
	Zone       string                     `json:"zone"`
	Push       bool                       `json:"push"`
	Secured    bool                       `json:"secured,omitempty"` // chat only once the page gives a visitor token
	Rules      []pageRule                 `json:"rules"`
	Templates  map[string]*rules.Template `json:"templates"`
}

// pageRule is a published rule as pages receive it: everything but its
// name, which may say more of a marketer's intent than a visitor should read.
type pageRule struct {
	ID       string          `json:"id"`
	Version  int             `json:"v"`
	Priority int             `json:"priority"`
	When     *rules.Node     `json:"when"`
	Action   rules.Action    `json:"action"`
	Limits   rules.Limits    `json:"limits"`
	Schedule *rules.Schedule `json:"schedule,omitempty"`
	Split    *rules.Split    `json:"split,omitempty"`
}

// PageConfig is a site's configuration, rendered once and served with its ETag.
type PageConfig struct {
	Body []byte
	ETag string
	// measuring: the site's pages only measure (no chat, no live rules, no
	// pushed offers): they get the measuring loader, with its privacy settings.
	Measuring                bool
	DNT, Consent, Cookieless bool
}

// buildPageConfig renders the configuration of the site with key; nil when
// there is no such site.
func (s *Service) buildPageConfig(ctx context.Context, key string) (*PageConfig, error) {
	site, err := s.Site(ctx, key)
	if err != nil || site == nil {
		return nil, err
	}
	live, templates, err := s.Store.LiveOffers(ctx, site.ID)
	if err != nil {
		return nil, err
	}
	pc := pageConfig{Key: site.Key, Modules: []string{"analytics"}, DNT: site.Settings.RespectDNT,
		Consent: site.Settings.ConsentRequired, Cookieless: site.Settings.Cookieless, Theme: site.Theme,
		Zone: site.TimeZone, Push: site.Settings.PushOffers, Rules: []pageRule{}, Templates: map[string]*rules.Template{}}
	for _, lr := range live {
		r, err := rules.Parse(lr.Body, rules.Refs{})
		if err != nil {
			// Published rules were valid when published; a rule this build
			// no longer reads is left out rather than breaking every page.
			s.log.Warn("page config: a published rule does not parse", "site", site.Key, "rule", lr.ID, "err", err)
			continue
		}
		pc.Rules = append(pc.Rules, pageRule{ID: lr.ID, Version: lr.Version, Priority: r.Priority, When: r.When,
			Action: r.Action, Limits: r.Limits, Schedule: r.Schedule, Split: r.Split})
	}
	for _, t := range templates {
		tp, err := rules.ParseTemplate(t.Body, rules.Refs{})
		if err != nil {
			s.log.Warn("page config: a template does not parse", "site", site.Key, "template", t.ID, "err", err)
			continue
		}
		tp.Name = ""
		pc.Templates[t.ID] = tp
	}
	if len(pc.Rules) > 0 || pc.Push {
		pc.Modules = append(pc.Modules, "guide")
	}
	if site.Settings.Chat {
		pc.Modules = append(pc.Modules, "chat")
		pc.Secured = site.Settings.SecuredChat
	}
	body, err := json.Marshal(pc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return &PageConfig{Body: body, ETag: `"` + hex.EncodeToString(sum[:12]) + `"`, Measuring: len(pc.Modules) == 1,
		DNT: pc.DNT, Consent: pc.Consent, Cookieless: pc.Cookieless}, nil
}

// OfferRefs are the queues and templates a site's rules may name.
func (s *Service) OfferRefs(ctx context.Context, site store.Site) (rules.Refs, error) {
	qs, err := s.Store.Queues(ctx, site.TenantID)
	if err != nil {
		return rules.Refs{}, err
	}
	ts, err := s.Store.OfferTemplates(ctx, site.TenantID, site.ID)
	if err != nil {
		return rules.Refs{}, err
	}
	return rules.Refs{
		Queue: func(name string) bool {
			return slices.ContainsFunc(qs, func(q store.Queue) bool { return strings.EqualFold(q.Name, name) })
		},
		Template: func(id string) bool {
			return slices.ContainsFunc(ts, func(t store.OfferTemplate) bool { return t.ID == id })
		},
	}, nil
}

// Site is the site with the public key, from a cache of a few seconds
// (Forget clears it at once); nil when there is none.
func (s *Service) Site(ctx context.Context, key string) (*store.Site, error) {
	return s.sites.get(ctx, key)
}

// PageConfig is the configuration the site's pages load, rendered at most
// every ten seconds (Forget: at once); nil when there is no such site.
func (s *Service) PageConfig(ctx context.Context, key string) (*PageConfig, error) {
	return s.pageConfigs.get(ctx, key)
}

// Forget makes the next Site and PageConfig of the site with this key read
// the store, here and on the other nodes of a cluster: call it after a
// change to the site, its rules or templates.
func (s *Service) Forget(key string) {
	s.forgetLocal(key)
	s.announce(changedSite, key)
}

func (s *Service) forgetLocal(key string) {
	s.sites.forget(key)
	s.pageConfigs.forget(key)
}
