package analytics

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/nudgehq/nudge/store"
)

// Offer steps roll up per visit, rule and variant; a goal counts as a
// conversion only after the offer was decided in the same visit; erasure
// takes the visitor's offers too.
func TestOfferFunnel(t *testing.T) {
	f := newFixture(t, Options{})
	f.site.Settings.Goals = []store.SiteGoal{{Event: "signup"}, {Page: "/thanks"}}
	now := time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)
	ms := now.UnixMilli()
	offer := func(rule, variant, stage string, at int64) Event {
		return Event{Type: "offer", URL: "https://shop.test/billing", TS: at, Offer: &Offer{Rule: rule, V: 2, Variant: variant, Stage: stage}}
	}
	// v1: qualified, shown, accepted, a chat, then signed up.
	f.accept(t, &Batch{Site: "shop", Visitor: "v1", Visit: "s1", Events: []Event{
		{Type: "pageview", URL: "https://shop.test/billing", TS: ms},
		offer("R1", "offer", "qualified", ms+1000), offer("R1", "offer", "shown", ms+1000),
		offer("R1", "offer", "accepted", ms+5000), offer("R1", "offer", "chat", ms+6000),
		{Type: "event", URL: "https://shop.test/billing", Name: "signup", TS: ms + 60000},
	}}, chromeUA, now.Add(2*time.Minute))
	// v2: control, converted by a page goal after the decision.
	f.accept(t, &Batch{Site: "shop", Visitor: "v2", Visit: "s2", Events: []Event{
		{Type: "pageview", URL: "https://shop.test/billing", TS: ms},
		offer("R1", "control", "qualified", ms+1000),
		{Type: "pageview", URL: "https://shop.test/thanks", TS: ms + 9000},
	}}, chromeUA, now.Add(2*time.Minute))
	// v3: converted before the offer was decided (does not count), then declined.
	f.accept(t, &Batch{Site: "shop", Visitor: "v3", Visit: "s3", Events: []Event{
		{Type: "pageview", URL: "https://shop.test/thanks", TS: ms},
		offer("R1", "offer", "qualified", ms+2000), offer("R1", "offer", "shown", ms+2000), offer("R1", "offer", "declined", ms+3000),
	}}, chromeUA, now.Add(2*time.Minute))
	// v4: an offer from page code, shown and dismissed.
	f.accept(t, &Batch{Site: "shop", Visitor: "v4", Visit: "s4", Events: []Event{
		{Type: "pageview", URL: "https://shop.test/", TS: ms}, offer("page", "offer", "shown", ms+1000), offer("page", "offer", "dismissed", ms+2000),
	}}, chromeUA, now.Add(2*time.Minute))
	f.flush(t)
	q := Query{SiteID: "site1", From: "2026-11-30", To: "2026-11-30"}
	rows, err := f.rep.Offers(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]OfferRow{
		"R1/control": {Rule: "R1", Variant: "control", Visits: 1, Qualified: 1, Conversions: 1, ConversionRate: 100},
		"R1/offer":   {Rule: "R1", Variant: "offer", Visits: 2, Qualified: 2, Shown: 2, Accepted: 1, Declined: 1, Chats: 1, Conversions: 1, ConversionRate: 50},
		"page/offer": {Rule: "page", Variant: "offer", Visits: 1, Shown: 1, Dismissed: 1},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows: %+v", rows)
	}
	for _, r := range rows {
		if w := want[r.Rule+"/"+r.Variant]; r != w {
			t.Errorf("%s/%s = %+v, want %+v", r.Rule, r.Variant, r, w)
		}
	}
	if _, err := Erase(context.Background(), f.db, "site1", "v1"); err != nil {
		t.Fatal(err)
	}
	rows, _ = f.rep.Offers(context.Background(), q)
	for _, r := range rows {
		if r.Rule == "R1" && r.Variant == "offer" && (r.Visits != 1 || r.Chats != 0) {
			t.Errorf("after erasing v1: %+v", r)
		}
	}
}

func TestDecodeOfferEvents(t *testing.T) {
	for body, field := range map[string]string{
		`{"site":"shop","visit":"s1","events":[{"type":"offer","url":"https://shop.test/"}]}`:                                                               "events[0].offer.rule",
		`{"site":"shop","visit":"s1","events":[{"type":"offer","url":"https://shop.test/","offer":{"rule":"R","variant":"x","stage":"shown"}}]}`:            "events[0].offer.variant",
		`{"site":"shop","visit":"s1","events":[{"type":"offer","url":"https://shop.test/","offer":{"rule":"R","variant":"offer","stage":"bought"}}]}`:       "events[0].offer.stage",
		`{"site":"shop","visit":"s1","events":[{"type":"offer","url":"https://shop.test/","offer":{"rule":"R","variant":"offer","stage":"shown","x":1}}]}`:  "body",
		`{"site":"shop","visit":"s1","events":[{"type":"offer","url":"https://shop.test/","offer":{"rule":"R","v":-1,"variant":"offer","stage":"shown"}}]}`: "events[0].offer.v",
	} {
		_, err := DecodeBatch([]byte(body))
		ie, ok := err.(*InputError)
		if !ok || ie.Field != field {
			t.Errorf("%s: %v; want a refusal naming %s", body, err, field)
		}
	}
}

// The lift and its intervals, checked against a worked example: 60 of 1,000
// offer visits converted, 40 of 1,000 control visits. Risk ratio 1.5; Katz
// log interval exp(ln 1.5 ± 1.96·√(1/60 − 1/1000 + 1/40 − 1/1000)) =
// 1.0152 to 2.2163; difference 2 points, Wald interval 0.092 to 3.908.
func TestLiftWorkedExample(t *testing.T) {
	l, ok := ComputeLift(60, 1000, 40, 1000)
	if !ok {
		t.Fatal("undefined")
	}
	for name, c := range map[string][2]float64{
		"relative": {l.Relative, 50}, "relative low": {l.RelativeLow, 1.5224}, "relative high": {l.RelativeHigh, 121.626},
		"difference": {l.Difference, 2}, "difference low": {l.DifferenceLow, 0.0917}, "difference high": {l.DifferenceHigh, 3.9083},
	} {
		if math.Abs(c[0]-c[1]) > 0.001 {
			t.Errorf("%s = %.4f, want %.4f", name, c[0], c[1])
		}
	}
	for _, c := range [][4]int64{{0, 100, 5, 100}, {5, 100, 0, 100}, {1, 0, 1, 10}} {
		if _, ok := ComputeLift(c[0], c[1], c[2], c[3]); ok {
			t.Errorf("%v: defined", c)
		}
	}
}
