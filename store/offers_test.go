package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// A rule's life: draft, publish, edit (changed), publish again, roll back,
// unpublish; pages see only the live version; another tenant sees nothing.
func TestOfferRuleVersions(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, _ := s.CreateTenant(ctx, System, "A")
	b, _ := s.CreateTenant(ctx, System, "B")
	site, err := s.CreateSite(ctx, System, Site{TenantID: a.ID, Name: "Shop", Theme: DefaultSiteTheme, Settings: DefaultSiteSettings})
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := json.RawMessage(`{"name":"one"}`), json.RawMessage(`{"name":"two"}`)
	r, err := s.SaveOfferRule(ctx, System, OfferRule{TenantID: a.ID, SiteID: site.ID, Draft: v1})
	if err != nil || r.Published != 0 || !r.Changed || r.Version != 0 {
		t.Fatalf("created %+v, %v", r, err)
	}
	if live, _, _ := s.LiveOffers(ctx, site.ID); len(live) != 0 {
		t.Fatal("a draft is live")
	}
	r, err = s.PublishOfferRule(ctx, System, a.ID, site.ID, r.ID, v1, "rule.publish")
	if err != nil || r.Published != 1 || r.Changed {
		t.Fatalf("published %+v, %v", r, err)
	}
	if r, _ = s.SaveOfferRule(ctx, System, OfferRule{ID: r.ID, TenantID: a.ID, SiteID: site.ID, Draft: v2}); !r.Changed || r.Published != 1 {
		t.Fatalf("edited draft: %+v", r)
	}
	live, _, _ := s.LiveOffers(ctx, site.ID)
	if len(live) != 1 || string(live[0].Body) != string(v1) {
		t.Fatalf("live while the draft changes: %+v", live)
	}
	r, _ = s.PublishOfferRule(ctx, System, a.ID, site.ID, r.ID, v2, "rule.publish")
	old, err := s.OfferRuleVersion(ctx, a.ID, site.ID, r.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = s.PublishOfferRule(ctx, System, a.ID, site.ID, r.ID, old.Body, "rule.rollback")
	if r.Published != 3 || string(r.Draft) != string(v1) || r.Changed {
		t.Fatalf("rolled back: %+v", r)
	}
	vs, _ := s.OfferRuleVersions(ctx, a.ID, site.ID, r.ID)
	if len(vs) != 3 || vs[0].Version != 3 || string(vs[1].Body) != string(v2) || vs[0].CreatedBy != "system:nudge" {
		t.Fatalf("versions: %+v", vs)
	}
	if r, _ = s.UnpublishOfferRule(ctx, System, a.ID, site.ID, r.ID); r.Published != 0 || r.Version != 3 {
		t.Fatalf("unpublished: %+v", r)
	}
	if live, _, _ := s.LiveOffers(ctx, site.ID); len(live) != 0 {
		t.Fatal("an unpublished rule is live")
	}
	// Tenant B guesses every id.
	if _, err := s.OfferRule(ctx, b.ID, site.ID, r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("read from B: %v", err)
	}
	if _, err := s.SaveOfferRule(ctx, System, OfferRule{ID: r.ID, TenantID: b.ID, SiteID: site.ID, Draft: v2}); !errors.Is(err, ErrNotFound) {
		t.Errorf("saved from B: %v", err)
	}
	if _, err := s.PublishOfferRule(ctx, System, b.ID, site.ID, r.ID, v2, "rule.publish"); !errors.Is(err, ErrNotFound) {
		t.Errorf("published from B: %v", err)
	}
	if _, err := s.OfferRuleVersion(ctx, b.ID, site.ID, r.ID, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("version read from B: %v", err)
	}
	if err := s.DeleteOfferRule(ctx, System, b.ID, site.ID, r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted from B: %v", err)
	}
	if err := s.DeleteOfferRule(ctx, System, a.ID, site.ID, r.ID); err != nil {
		t.Fatal(err)
	}
	if vs, err := s.OfferRuleVersions(ctx, a.ID, site.ID, r.ID); !errors.Is(err, ErrNotFound) || len(vs) != 0 {
		t.Errorf("versions after delete: %v %v", vs, err)
	}
}

func TestOfferTemplateInUse(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, _ := s.CreateTenant(ctx, System, "A")
	site, _ := s.CreateSite(ctx, System, Site{TenantID: a.ID, Name: "Shop", Theme: DefaultSiteTheme, Settings: DefaultSiteSettings})
	tp, err := s.SaveOfferTemplate(ctx, System, OfferTemplate{TenantID: a.ID, SiteID: site.ID, Body: json.RawMessage(`{"name":"t"}`)})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.SaveOfferRule(ctx, System, OfferRule{TenantID: a.ID, SiteID: site.ID,
		Draft: json.RawMessage(`{"action":{"type":"content_offer","template":"` + tp.ID + `"}}`)})
	s.PublishOfferRule(ctx, System, a.ID, site.ID, r.ID, r.Draft, "rule.publish")
	if err := s.DeleteOfferTemplate(ctx, System, a.ID, site.ID, tp.ID); !errors.Is(err, ErrInUse) {
		t.Fatalf("deleted a template in use: %v", err)
	}
	// The draft moves on, the live version still shows the template.
	s.SaveOfferRule(ctx, System, OfferRule{ID: r.ID, TenantID: a.ID, SiteID: site.ID, Draft: json.RawMessage(`{}`)})
	if err := s.DeleteOfferTemplate(ctx, System, a.ID, site.ID, tp.ID); !errors.Is(err, ErrInUse) {
		t.Fatalf("deleted a template a live rule shows: %v", err)
	}
	s.UnpublishOfferRule(ctx, System, a.ID, site.ID, r.ID)
	if err := s.DeleteOfferTemplate(ctx, System, a.ID, site.ID, tp.ID); err != nil {
		t.Fatal(err)
	}
	if _, ts, _ := s.LiveOffers(ctx, site.ID); len(ts) != 0 {
		t.Fatal("template still listed")
	}
}
