package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/rules"
	"github.com/nudgehq/nudge/store"
)

// offerAPI serves a site's offer rules, their versions and templates, previews of them, and the facts they read.
type offerAPI struct {
	st      *store.Store
	chat    *chat.Engine
	ops     *ops.Service
	reports *analytics.Reports
}

// offerRoutes are the marketers' API: a site's rules (drafts, publish,
// versions, rollback, preview) and templates.

// ruleView is a rule as the API shows it: its draft, its live version, and
// a status: draft (never published), live, changed (live, with a draft that
// differs) or paused (unpublished).
type ruleView struct {
	store.OfferRule
	Status string          `json:"status"`
	Live   json.RawMessage `json:"live,omitempty"`
}

func ruleViewOf(ctx context.Context, st *store.Store, site store.Site, r store.OfferRule) (ruleView, error) {
	v := ruleView{OfferRule: r}
	switch {
	case r.Published == 0 && r.Version == 0:
		v.Status = "draft"
	case r.Published == 0:
		v.Status = "paused"
	case r.Changed:
		v.Status = "changed"
	default:
		v.Status = "live"
	}
	if r.Published > 0 {
		live, err := st.OfferRuleVersion(ctx, site.TenantID, site.ID, r.ID, r.Published)
		if err != nil {
			return v, err
		}
		v.Live = live.Body
	}
	return v, nil
}

// jsonBody is the raw body of a JSON request, checked for its type.
func jsonBody(c *fiber.Ctx) ([]byte, error) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
	if ct != fiber.MIMEApplicationJSON {
		return nil, &apiError{Status: fiber.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "send Content-Type: application/json"}
	}
	if !utf8.Valid(c.Body()) {
		return nil, errBadRequest("invalid_utf8", "the body is not valid UTF-8", "")
	}
	return c.Body(), nil
}

// ruleError renders a rule's or a template's validation errors: 400 for
// a body that is not JSON, else 422 naming the first bad node, with all of them.
func ruleError(err error) error {
	var es rules.Errors
	if !errors.As(err, &es) {
		return err
	}
	first := es[0]
	status, code := fiber.StatusUnprocessableEntity, "invalid_rule"
	switch {
	case first.JSON || (first.Path == "" && first.Message == "want an object"):
		status, code = fiber.StatusBadRequest, "invalid_json"
	case first.Message == "unknown field":
		status, code = fiber.StatusBadRequest, "unknown_field"
	case strings.HasPrefix(first.Message, "a rule has at most") || strings.HasPrefix(first.Message, "a template has at most"):
		status, code = fiber.StatusRequestEntityTooLarge, "too_large"
	}
	return &apiError{Status: status, Code: code, Message: es.Error(), Field: first.Path, Details: es}
}

// parseRule validates a rule body against the site's queues and templates
// and gives its canonical JSON (defaults written out).
func (h offerAPI) parseRule(ctx context.Context, site store.Site, body []byte) (*rules.Rule, json.RawMessage, error) {
	refs, err := h.ops.OfferRefs(ctx, site)
	if err != nil {
		return nil, nil, err
	}
	r, err := rules.Parse(body, refs)
	if err != nil {
		return nil, nil, ruleError(err)
	}
	doc, err := json.Marshal(r)
	return r, doc, err
}

func (h offerAPI) listRules(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	rs, err := h.st.OfferRules(ctx, site.TenantID, site.ID)
	if err != nil {
		return err
	}
	out := make([]ruleView, 0, len(rs))
	for _, r := range rs {
		v, err := ruleViewOf(ctx, h.st, site, r)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return list(c, out, "")
}

func (h offerAPI) createRule(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	body, err := jsonBody(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	_, doc, err := h.parseRule(ctx, site, body)
	if err != nil {
		return err
	}
	r, err := h.st.SaveOfferRule(ctx, who(c).Actor, store.OfferRule{TenantID: site.TenantID, SiteID: site.ID, Draft: doc})
	if err != nil {
		return err
	}
	v, err := ruleViewOf(ctx, h.st, site, r)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (h offerAPI) getRule(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	r, err := h.st.OfferRule(ctx, site.TenantID, site.ID, param(c, "ruleID"))
	if err != nil {
		return err
	}
	v, err := ruleViewOf(ctx, h.st, site, r)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (h offerAPI) updateRule(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	id := param(c, "ruleID")
	if _, err := h.st.OfferRule(ctx, site.TenantID, site.ID, id); err != nil {
		return err
	}
	body, err := jsonBody(c)
	if err != nil {
		return err
	}
	_, doc, err := h.parseRule(ctx, site, body)
	if err != nil {
		return err
	}
	r, err := h.st.SaveOfferRule(ctx, who(c).Actor, store.OfferRule{ID: id, TenantID: site.TenantID, SiteID: site.ID, Draft: doc})
	if err != nil {
		return err
	}
	v, err := ruleViewOf(ctx, h.st, site, r)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (h offerAPI) deleteRule(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	if err := h.st.DeleteOfferRule(c.UserContext(), who(c).Actor, site.TenantID, site.ID, param(c, "ruleID")); err != nil {
		return err
	}
	h.ops.Forget(site.Key)
	return c.SendStatus(fiber.StatusNoContent)
}

// publishRule makes the draft live, after checking it again: a queue or a
// template it names may have gone since it was saved.
func (h offerAPI) publishRule(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	r, err := h.st.OfferRule(ctx, site.TenantID, site.ID, param(c, "ruleID"))
	if err != nil {
		return err
	}
	_, doc, err := h.parseRule(ctx, site, r.Draft)
	if err != nil {
		return err
	}
	return h.publish(c, site, r.ID, doc, "rule.publish")
}

func (h offerAPI) publish(c *fiber.Ctx, site store.Site, id string, doc json.RawMessage, action string) error {
	ctx := c.UserContext()
	r, err := h.st.PublishOfferRule(ctx, who(c).Actor, site.TenantID, site.ID, id, doc, action)
	if err != nil {
		return err
	}
	h.ops.Forget(site.Key)
	v, err := ruleViewOf(ctx, h.st, site, r)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (h offerAPI) unpublishRule(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	r, err := h.st.UnpublishOfferRule(ctx, who(c).Actor, site.TenantID, site.ID, param(c, "ruleID"))
	if err != nil {
		return err
	}
	h.ops.Forget(site.Key)
	v, err := ruleViewOf(ctx, h.st, site, r)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (h offerAPI) ruleVersions(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	vs, err := h.st.OfferRuleVersions(c.UserContext(), site.TenantID, site.ID, param(c, "ruleID"))
	if err != nil {
		return err
	}
	return list(c, vs, "")
}

// rollbackRule publishes an earlier version again, as the newest.
func (h offerAPI) rollbackRule(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	var req struct {
		Version int `json:"version"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Version < 1 {
		return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: "version: a published version, from 1", Field: "version"}
	}
	ctx := c.UserContext()
	id := param(c, "ruleID")
	old, err := h.st.OfferRuleVersion(ctx, site.TenantID, site.ID, id, req.Version)
	if err != nil {
		return err
	}
	_, doc, err := h.parseRule(ctx, site, old.Body)
	if err != nil {
		return err
	}
	return h.publish(c, site, id, doc, "rule.rollback")
}

// previewRequest asks which rules qualify for a visitor's facts.
type previewRequest struct {
	// Facts by name; queue facts left out are filled from the chat engine now.
	Facts map[string]any `json:"facts"`
	// Rule is an unsaved rule to try instead of the site's.
	Rule json.RawMessage `json:"rule"`
	// Published: try the live versions instead of the drafts.
	Published bool `json:"published"`
	// Now is the moment to evaluate at (RFC 3339); the present by default.
	Now string `json:"now"`
	// Visitor decides the control-group variant.
	Visitor string `json:"visitor"`
	// History is what the page remembers per rule id, for the caps.
	History map[string]rules.History `json:"history"`
}

type previewItem struct {
	ID         string       `json:"id,omitempty"`
	Name       string       `json:"name"`
	Priority   int          `json:"priority"`
	Qualifies  bool         `json:"qualifies"`
	Condition  bool         `json:"condition"`
	InSchedule bool         `json:"in_schedule"`
	Allowed    bool         `json:"allowed"`
	Variant    string       `json:"variant,omitempty"`
	Steps      []rules.Step `json:"steps"`
}

// previewRules answers which of a site's rules (or one unsaved rule) qualify
// for a set of facts, and why, condition by condition. The first that
// qualifies by priority is the offer the page would make.
func (h offerAPI) previewRules(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	var req previewRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.UserContext()
	now := time.Now()
	if req.Now != "" {
		if now, err = time.Parse(time.RFC3339, req.Now); err != nil {
			return errBadRequest("invalid", "now: an RFC 3339 time", "now")
		}
	}
	if len(req.Visitor) > 128 {
		return errBadRequest("invalid", "visitor: at most 128 bytes", "visitor")
	}
	if len(req.Facts) > 200 {
		return errBadRequest("invalid", "facts: at most 200", "facts")
	}
	facts, err := rules.NewFacts(req.Facts)
	if err != nil {
		return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: "facts: " + err.Error(), Field: "facts"}
	}
	local := now.In(ops.Zone(site.TimeZone))
	facts.SetTime(local)
	if err := h.queueFacts(ctx, site, facts, req.Facts); err != nil {
		return err
	}
	type candidate struct {
		id   string
		rule *rules.Rule
	}
	var cands []candidate
	if req.Rule != nil {
		r, _, err := h.parseRule(ctx, site, req.Rule)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Field != "" {
				ae.Field = "rule." + ae.Field
			}
			return err
		}
		cands = append(cands, candidate{"", r})
	} else {
		rs, err := h.st.OfferRules(ctx, site.TenantID, site.ID)
		if err != nil {
			return err
		}
		for _, r := range rs {
			body := r.Draft
			if req.Published {
				if r.Published == 0 {
					continue
				}
				v, err := h.st.OfferRuleVersion(ctx, site.TenantID, site.ID, r.ID, r.Published)
				if err != nil {
					return err
				}
				body = v.Body
			}
			rule, err := rules.Parse(body, rules.Refs{})
			if err != nil {
				return fmt.Errorf("preview: stored rule %s: %w", r.ID, err)
			}
			cands = append(cands, candidate{r.ID, rule})
		}
	}
	items := make([]previewItem, 0, len(cands))
	winner := ""
	for _, cd := range cands {
		cr, err := rules.Compile(cd.rule)
		if err != nil {
			return err
		}
		it := previewItem{ID: cd.id, Name: cd.rule.Name, Priority: cd.rule.Priority}
		it.Condition, it.Steps = cr.Explain(facts)
		it.InSchedule = cr.InSchedule(local)
		it.Allowed = cr.Allowed(req.History[cd.id], now)
		it.Qualifies = it.Condition && it.InSchedule && it.Allowed
		if req.Visitor != "" {
			it.Variant = cr.Variant(req.Visitor, cd.id)
		}
		items = append(items, it)
	}
	slices.SortStableFunc(items, func(a, b previewItem) int { return b.Priority - a.Priority })
	for _, it := range items {
		if it.Qualifies {
			winner = it.ID
			if winner == "" {
				winner = "rule"
			}
			break
		}
	}
	return c.JSON(fiber.Map{"items": items, "winner": winner, "time": fiber.Map{"zone": site.TimeZone, "local": local.Format(time.RFC3339)}})
}

// queueFacts fills the queue facts the caller did not give from the chat
// engine's state now, as the page's availability would.
func (h offerAPI) queueFacts(ctx context.Context, site store.Site, f *rules.Facts, given map[string]any) error {
	qs, err := h.ops.QueueStates(ctx, site.TenantID)
	if err != nil {
		return err
	}
	for _, q := range qs {
		name := "queue." + rules.Fold(q.Name)
		if _, ok := given[name+".agents_available"]; !ok {
			f.Set(name+".agents_available", q.AgentsAvailable)
		}
		if _, ok := given[name+".estimated_wait"]; !ok && q.EstimatedWait >= 0 {
			f.Set(name+".estimated_wait", q.EstimatedWait)
		}
	}
	return nil
}

func (h offerAPI) listTemplates(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	ts, err := h.st.OfferTemplates(c.UserContext(), site.TenantID, site.ID)
	if err != nil {
		return err
	}
	return list(c, ts, "")
}

func (h offerAPI) saveTemplate(c *fiber.Ctx, id string) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if id != "" {
		if _, err := h.st.OfferTemplate(ctx, site.TenantID, site.ID, id); err != nil {
			return err
		}
	}
	body, err := jsonBody(c)
	if err != nil {
		return err
	}
	refs, err := h.ops.OfferRefs(ctx, site)
	if err != nil {
		return err
	}
	tp, err := rules.ParseTemplate(body, refs)
	if err != nil {
		return ruleError(err)
	}
	doc, _ := json.Marshal(tp)
	t, err := h.st.SaveOfferTemplate(ctx, who(c).Actor, store.OfferTemplate{ID: id, TenantID: site.TenantID, SiteID: site.ID, Body: doc})
	if err != nil {
		return err
	}
	h.ops.Forget(site.Key)
	if id == "" {
		c.Status(fiber.StatusCreated)
	}
	return c.JSON(t)
}

func (h offerAPI) createTemplate(c *fiber.Ctx) error { return h.saveTemplate(c, "") }

func (h offerAPI) updateTemplate(c *fiber.Ctx) error {
	return h.saveTemplate(c, param(c, "templateID"))
}

func (h offerAPI) getTemplate(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	t, err := h.st.OfferTemplate(c.UserContext(), site.TenantID, site.ID, param(c, "templateID"))
	if err != nil {
		return err
	}
	return c.JSON(t)
}

func (h offerAPI) deleteTemplate(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	err = h.st.DeleteOfferTemplate(c.UserContext(), who(c).Actor, site.TenantID, site.ID, param(c, "templateID"))
	if errors.Is(err, store.ErrInUse) {
		return &apiError{Status: fiber.StatusConflict, Code: "in_use", Message: "a rule shows this template: change or unpublish it first"}
	}
	if err != nil {
		return err
	}
	h.ops.Forget(site.Key)
	return c.SendStatus(fiber.StatusNoContent)
}

// recentVisits lists a site's latest visits with the facts a rule would have
// seen at their last page, to preview rules against real visitors.
func (h offerAPI) recentVisits(c *fiber.Ctx) error {
	site, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	limit, err := strconv.Atoi(c.Query("limit", "20"))
	if err != nil || limit < 1 || limit > 100 {
		return errBadRequest("invalid_query", "limit is 1 to 100", "limit")
	}
	items, err := h.reports.RecentVisits(c.UserContext(), site.ID, limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": items})
}

// ruleCatalogue lists the facts and operators rules may use: the rule
// editor builds its choices from it rather than from a copy.
func (h offerAPI) ruleCatalogue(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"facts": rules.Catalogue(), "operators": rules.Operators()})
}
