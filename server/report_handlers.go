package server

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/widget"
)

// reportAPI serves a site's snippet, its analytics reports and visitor erasure.
type reportAPI struct {
	st        *store.Store
	ops       *ops.Service
	reports   *analytics.Reports
	publicURL string
}

// tenantSite finds the request tenant's site named by :siteID, which may be
// the site's id or its public key.
func tenantSite(c *fiber.Ctx, st *store.Store) (store.Site, error) {
	p, ref := who(c), param(c, "siteID")
	ctx := c.UserContext()
	site, err := st.Site(ctx, p.Tenant, ref)
	if errors.Is(err, store.ErrNotFound) {
		site, err = st.SiteByKey(ctx, ref)
		if err == nil && site.TenantID != p.Tenant {
			return store.Site{}, errNotFound
		}
	}
	return site, err
}

// snippet gives what a site owner pastes, and the CSP a site with a policy needs.
func (h reportAPI) snippet(c *fiber.Ctx) error {
	st, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{
		"snippet":    widget.Snippet(h.publicURL, st.Key),
		"csp":        widget.CSP(h.publicURL),
		"loader_url": h.publicURL + "/l/" + st.Key + ".js",
	})
}

var devices = map[string]bool{"desktop": true, "mobile": true, "tablet": true, "other": true}

// reportQuery reads the range (site time zone; default the last 30 days) and filters.
func reportQuery(c *fiber.Ctx, st store.Site) (analytics.Query, error) {
	today := time.Now().In(ops.Zone(st.TimeZone)).Format(time.DateOnly)
	q := analytics.Query{SiteID: st.ID, To: c.Query("to", today)}
	if p := c.Query("period"); p != "" {
		days, ok := map[string]int{"today": 1, "7d": 7, "30d": 30, "12mo": 365}[p]
		if !ok || c.Query("from") != "" || c.Query("to") != "" {
			return q, errBadRequest("invalid_query", "period is today, 7d, 30d or 12mo, without from and to", "period")
		}
		t, _ := time.Parse(time.DateOnly, today)
		q.To, q.From = today, t.AddDate(0, 0, 1-days).Format(time.DateOnly)
		return q, siteFilters(c, st, &q)
	}
	to, err := time.Parse(time.DateOnly, q.To)
	if err != nil {
		return q, errBadRequest("invalid_query", "to must be a date, YYYY-MM-DD", "to")
	}
	q.From = c.Query("from", to.AddDate(0, 0, -29).Format(time.DateOnly))
	from, err := time.Parse(time.DateOnly, q.From)
	if err != nil {
		return q, errBadRequest("invalid_query", "from must be a date, YYYY-MM-DD", "from")
	}
	if from.After(to) || to.Sub(from) > 3660*24*time.Hour {
		return q, errBadRequest("invalid_query", "from must be on or before to, at most ten years apart", "from")
	}
	return q, siteFilters(c, st, &q)
}

// siteFilters reads the filters and puts their paths in the site's form.
func siteFilters(c *fiber.Ctx, st store.Site, q *analytics.Query) error {
	if err := reportFilters(c, q); err != nil {
		return err
	}
	// Paths are stored normalised (/orders/:id): a filter naming a page as
	// its visitors see it (/orders/83412) means the same rows.
	if q.Page != "" {
		q.Page = analytics.NormalisePath(st.Settings, q.Page)
	}
	for _, name := range []string{"entry_page", "exit_page"} {
		if v, ok := q.Match[name]; ok && v != "" {
			q.Match[name] = analytics.NormalisePath(st.Settings, v)
		}
	}
	return nil
}

// reportFilters reads the page, source and device filters.
func reportFilters(c *fiber.Ctx, q *analytics.Query) error {
	q.Page, q.Source, q.Device = strings.Clone(c.Query("page")), strings.Clone(c.Query("source")), strings.Clone(c.Query("device"))
	if q.Page != "" && (!strings.HasPrefix(q.Page, "/") || len(q.Page) > 512) {
		return errBadRequest("invalid_query", "page is a path starting with /", "page")
	}
	if len(q.Source) > 253 {
		return errBadRequest("invalid_query", "source is too long", "source")
	}
	if q.Device != "" && !devices[q.Device] {
		return errBadRequest("invalid_query", "device is desktop, mobile, tablet or other", "device")
	}
	for name := range analytics.FilterColumns {
		if !c.Request().URI().QueryArgs().Has(name) {
			continue
		}
		v := c.Query(name)
		if len(v) > 512 {
			return errBadRequest("invalid_query", name+" is too long", name)
		}
		if q.Match == nil {
			q.Match = map[string]string{}
		}
		q.Match[name] = strings.Clone(v)
	}
	return nil
}

// report answers /api/sites/:siteID/reports/:report.
func (h reportAPI) report(c *fiber.Ctx) error {
	st, err := tenantSite(c, h.st)
	if err != nil {
		return err
	}
	name := c.Params("report")
	if _, ok := analytics.Dimensions[name]; !ok && !reportNames[name] {
		return &apiError{Status: fiber.StatusNotFound, Code: "not_found", Message: "no report named " + strconv.Quote(name)}
	}
	ctx := c.UserContext()
	if name == "realtime" {
		rt, err := h.reports.Realtime(ctx, st.ID, time.Now())
		if err != nil {
			return err
		}
		return c.JSON(rt)
	}
	q, err := reportQuery(c, st)
	if err != nil {
		return err
	}
	limit := 100
	if l := c.Query("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 1000 {
			return errBadRequest("invalid_query", "limit must be 1 to 1000", "limit")
		}
	}
	out := fiber.Map{"site": st.Key, "from": q.From, "to": q.To}
	var items any
	switch name {
	case "summary":
		sum, err := h.reports.Summary(ctx, q)
		if err != nil {
			return err
		}
		out["visitors"], out["visits"], out["pageviews"] = sum.Visitors, sum.Visits, sum.Pageviews
		out["views_per_visit"], out["bounce_rate"], out["visit_duration"] = sum.ViewsPerVisit, sum.BounceRate, sum.VisitDuration
		// What bots sent is dropped: the count lets an empty dashboard say why.
		if out["bots"], err = h.reports.Bots(ctx, q); err != nil {
			return err
		}
		// And what the site's storage budget kept out, so that the dashboard says so.
		if out["dropped"], err = h.reports.Dropped(ctx, q); err != nil {
			return err
		}
		out["events_per_day"], out["max_event_bytes"] = st.Settings.DailyEvents(), st.Settings.EventBytes()
		return c.JSON(out)
	case "timeseries":
		interval := c.Query("interval", "day")
		if interval != "day" && interval != "hour" {
			return errBadRequest("invalid_query", "interval is day or hour", "interval")
		}
		if from, _ := time.Parse(time.DateOnly, q.From); interval == "hour" && from.AddDate(0, 0, 31).Format(time.DateOnly) < q.To {
			return errBadRequest("invalid_query", "an hourly series spans at most 31 days", "interval")
		}
		out["interval"] = interval
		items, err = h.reports.Timeseries(ctx, q, interval)
	case "pages":
		items, err = h.reports.Pages(ctx, q, limit)
	case "events":
		if ev := c.Query("name"); ev != "" {
			out["name"] = ev
			items, err = h.reports.EventProperties(ctx, q, strings.Clone(ev), limit)
		} else {
			items, err = h.reports.Events(ctx, q, limit)
		}
	case "offers":
		items, err = h.offerReport(ctx, st, q)
	case "goals":
		goals := make([]analytics.Goal, len(st.Settings.Goals))
		for i, g := range st.Settings.Goals {
			goals[i] = analytics.Goal{Event: g.Event, Page: g.Page}
			if g.Page != "" {
				goals[i].Page = analytics.NormalisePath(st.Settings, g.Page)
			}
		}
		var res []analytics.GoalResult
		res, err = h.reports.Goals(ctx, q, goals)
		for i := range res {
			res[i].Page = st.Settings.Goals[i].Page // as the site names it
		}
		items = res
	default:
		items, err = h.reports.Breakdown(ctx, q, name, limit)
	}
	if err != nil {
		return err
	}
	out["items"] = items
	return c.JSON(out)
}

var reportNames = map[string]bool{"summary": true, "timeseries": true, "pages": true, "events": true, "goals": true, "realtime": true, "offers": true}

// eraseVisitor deletes one visitor's analytics and chats (by visitor id or
// verified user id).
func (h reportAPI) eraseVisitor(c *fiber.Ctx) error {
	st, err := tenantSite(c, h.st) // by id or key
	if err != nil {
		return err
	}
	p := who(c)
	out, err := h.ops.EraseVisitor(c.UserContext(), p.Actor, p.Tenant, st.ID, param(c, "visitorID"))
	if errors.Is(err, ops.ErrBadVisitor) {
		return errBadRequest("invalid", err.Error(), "visitorID")
	}
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// offerReportItem is one rule's funnel, by variant, and its lift against control.
type offerReportItem struct {
	Rule     string                        `json:"rule"`
	Name     string                        `json:"name"`
	Status   string                        `json:"status"` // as the rules API says; "deleted" for a rule no longer there
	Variants map[string]analytics.OfferRow `json:"variants"`
	// Lift of the goal conversion rate of offer over control; null without a
	// control group or before both groups have converted.
	Lift *analytics.Lift `json:"lift"`
}

// offerReport gives per rule (and the offers made by page code or pushed)
// the funnel of each variant and the lift of conversion against control.
func (h reportAPI) offerReport(ctx context.Context, site store.Site, q analytics.Query) ([]offerReportItem, error) {
	rows, err := h.reports.Offers(ctx, q)
	if err != nil {
		return nil, err
	}
	rs, err := h.st.OfferRules(ctx, site.TenantID, site.ID)
	if err != nil {
		return nil, err
	}
	names := map[string]offerReportItem{"page": {Name: "Offers made by page code", Status: "page"}, "push": {Name: "Offers pushed by the API", Status: "push"},
		"invite": {Name: "Agents' invitations", Status: "invite"}}
	for _, r := range rs {
		v, err := ruleViewOf(ctx, h.st, site, r)
		if err != nil {
			return nil, err
		}
		var d struct {
			Name string `json:"name"`
		}
		json.Unmarshal(r.Draft, &d)
		names[r.ID] = offerReportItem{Name: d.Name, Status: v.Status}
	}
	byRule := map[string]*offerReportItem{}
	var out []offerReportItem
	var order []string
	for _, row := range rows {
		it := byRule[row.Rule]
		if it == nil {
			n, ok := names[row.Rule]
			if !ok {
				n = offerReportItem{Name: "(deleted rule)", Status: "deleted"}
			}
			it = &offerReportItem{Rule: row.Rule, Name: n.Name, Status: n.Status, Variants: map[string]analytics.OfferRow{}}
			byRule[row.Rule] = it
			order = append(order, row.Rule)
		}
		it.Variants[row.Variant] = row
	}
	for _, id := range order {
		it := byRule[id]
		o, c := it.Variants["offer"], it.Variants["control"]
		if l, ok := analytics.ComputeLift(o.Conversions, o.Visits, c.Conversions, c.Visits); ok {
			it.Lift = &l
		}
		out = append(out, *it)
	}
	if out == nil {
		out = []offerReportItem{}
	}
	return out, nil
}
