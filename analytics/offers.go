package analytics

import (
	"context"
	"fmt"
	"math"
)

// OfferRow is one rule's variant (offer or control) over a range of days.
type OfferRow struct {
	Rule    string `json:"rule"`
	Variant string `json:"variant"`
	// Visits are the visits in which the offer was decided: qualified for a
	// rule (in both variants), shown for an offer made by page code or pushed.
	Visits int64 `json:"visits"`
	// Step counts, as events.
	Qualified int64 `json:"qualified"`
	Shown     int64 `json:"shown"`
	Accepted  int64 `json:"accepted"`
	Declined  int64 `json:"declined"`
	Dismissed int64 `json:"dismissed"`
	Chats     int64 `json:"chats"`
	// Conversions are the decided visits in which one of the site's goals
	// followed the decision; ConversionRate is their percentage of Visits.
	Conversions    int64   `json:"conversions"`
	ConversionRate float64 `json:"conversion_rate"`
}

// Offers reads the offer funnel of every rule and variant of a site, for
// the visits that began in the range (filters apply as to other reports).
func (r *Reports) Offers(ctx context.Context, q Query) ([]OfferRow, error) {
	out := []OfferRow{}
	site, ok, err := r.db.site(ctx, q.SiteID, false)
	if err != nil || !ok {
		return out, err
	}
	where, args := q.where(site)
	rows, err := r.db.R.QueryContext(ctx, `SELECT o.rule, o.variant,
			count(*) FILTER (WHERE o.qualified > 0 OR (o.rule IN ('page', 'push', 'invite') AND o.shown > 0)),
			SUM(o.qualified), SUM(o.shown), SUM(o.accepted), SUM(o.declined), SUM(o.dismissed), SUM(o.chats),
			SUM(CASE WHEN o.qualified > 0 OR o.rule IN ('page', 'push', 'invite') THEN o.converted ELSE 0 END)
		FROM visits v JOIN offer_visits o ON o.site = v.site AND o.visit = v.visit
		WHERE `+where+` GROUP BY o.rule, o.variant ORDER BY o.rule, o.variant`, args...)
	if err != nil {
		return nil, fmt.Errorf("analytics: offers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x OfferRow
		if err := rows.Scan(&x.Rule, &x.Variant, &x.Visits, &x.Qualified, &x.Shown, &x.Accepted, &x.Declined, &x.Dismissed, &x.Chats, &x.Conversions); err != nil {
			return nil, fmt.Errorf("analytics: offers: %w", err)
		}
		if x.Visits > 0 {
			x.ConversionRate = 100 * float64(x.Conversions) / float64(x.Visits)
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// Lift is how much better the offer group converted than the control group,
// with 95 % intervals.
type Lift struct {
	// Relative is p(offer) / p(control) − 1, in percent; its interval is the
	// Katz log interval of the risk ratio: exp(ln RR ± 1.96·√(1/x₁ − 1/n₁ + 1/x₀ − 1/n₀)) − 1.
	Relative     float64 `json:"relative"`
	RelativeLow  float64 `json:"relative_low"`
	RelativeHigh float64 `json:"relative_high"`
	// Difference is p(offer) − p(control), in percentage points; its interval
	// is Wald's: ± 1.96·√(p₁(1−p₁)/n₁ + p₀(1−p₀)/n₀).
	Difference     float64 `json:"difference"`
	DifferenceLow  float64 `json:"difference_low"`
	DifferenceHigh float64 `json:"difference_high"`
}

// ComputeLift compares x1 conversions of n1 offer visits with x0 of n0
// control visits. It is false when either group has no visit or no
// conversion: the ratio and its interval are then undefined.
func ComputeLift(x1, n1, x0, n0 int64) (Lift, bool) {
	if n1 <= 0 || n0 <= 0 || x1 <= 0 || x0 <= 0 {
		return Lift{}, false
	}
	const z = 1.959964
	p1, p0 := float64(x1)/float64(n1), float64(x0)/float64(n0)
	lnRR := math.Log(p1 / p0)
	se := math.Sqrt(1/float64(x1) - 1/float64(n1) + 1/float64(x0) - 1/float64(n0))
	d := p1 - p0
	sd := math.Sqrt(p1*(1-p1)/float64(n1) + p0*(1-p0)/float64(n0))
	pct := func(ratio float64) float64 { return 100 * (ratio - 1) }
	return Lift{
		Relative: pct(p1 / p0), RelativeLow: pct(math.Exp(lnRR - z*se)), RelativeHigh: pct(math.Exp(lnRR + z*se)),
		Difference: 100 * d, DifferenceLow: 100 * (d - z*sd), DifferenceHigh: 100 * (d + z*sd),
	}, true
}
