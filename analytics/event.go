package analytics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
)

// Limits of one request to /collect.
const (
	MaxBody      = 64 << 10 // bytes
	MaxEvents    = 100      // events per batch
	maxURL       = 2048
	maxText      = 512
	maxName      = 128
	maxProps     = 30
	maxPropKey   = 64
	maxPropValue = 256
)

// Batch is what the analytics module posts to /collect.
type Batch struct {
	Site    string  `json:"site"`
	Visitor string  `json:"visitor"` // empty on cookieless sites
	Visit   string  `json:"visit"`   // empty: the server keeps the visit
	VisitN  int     `json:"visit_n"`
	Tab     string  `json:"tab"`
	Sent    int64   `json:"sent"` // the browser's clock when sent, ms
	Lang    string  `json:"lang"`
	Screen  string  `json:"screen"`
	Events  []Event `json:"events"`
}

// Event is one thing a visitor did.
type Event struct {
	Type      string         `json:"type"` // pageview, leave, event, identify, set
	TS        int64          `json:"ts"`   // the browser's clock, ms
	URL       string         `json:"url"`
	Ref       string         `json:"ref"`
	Title     string         `json:"title"`
	Name      string         `json:"name"`
	Props     map[string]any `json:"props"`
	EngagedMS int64          `json:"engaged_ms"`
	Scroll    int            `json:"scroll"`
	User      *Identity      `json:"user"`
	Hash      string         `json:"hash"`
	Vars      map[string]any `json:"vars"`
	Offer     *Offer         `json:"offer"`

	u *url.URL // URL parsed, by check
}

// pageURL is the event's URL parsed (once: check keeps it).
func (e *Event) pageURL() *url.URL {
	if e.u == nil {
		e.u, _ = url.Parse(e.URL)
	}
	return e.u
}

// Offer is a step of a proactive offer, reported by the guide module.
type Offer struct {
	Rule    string `json:"rule"`    // a rule id, "page" (nudge('offer')) or "push"
	V       int    `json:"v"`       // the rule's published version
	Variant string `json:"variant"` // offer or control
	// Stage is qualified, shown, accepted, declined, dismissed or chat (a chat started from it).
	Stage string `json:"stage"`
}

// OfferStages are the steps an offer event may report.
var OfferStages = []string{"qualified", "shown", "accepted", "declined", "dismissed", "chat"}

// Identity is what nudge('identify', {id, email, name}, hash) claims.
type Identity struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// InputError is a refused batch: Field names what is wrong.
type InputError struct {
	Field   string
	Message string
	TooMany bool // too many events: 413 rather than 400
}

func (e *InputError) Error() string { return e.Field + ": " + e.Message }

var (
	idRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	screenRE = regexp.MustCompile(`^[0-9]{1,5}x[0-9]{1,5}$`)
	langRE   = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,3}$`)
	hashRE   = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// DecodeBatch parses and checks a request body. It refuses invalid UTF-8,
// malformed JSON, unknown fields, trailing data, and anything over the limits.
func DecodeBatch(body []byte) (*Batch, error) {
	if !utf8.Valid(body) {
		return nil, &InputError{Field: "body", Message: "not valid UTF-8"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &InputError{Field: "body", Message: "empty body"}
	}
	// JSON v2 (encoding/json/v2 to be): under half the time of encoding/json
	// for a batch, with duplicate names and trailing data refused as well.
	// The events are decoded into a reused slice and copied out at their
	// size: grown by appending, the slice was a third of what a batch
	// allocated.
	scratch := scratchBatches.Get().(*Batch)
	defer func() {
		if cap(scratch.Events) <= 2*MaxEvents {
			clear(scratch.Events)
			*scratch = Batch{Events: scratch.Events[:0]}
			scratchBatches.Put(scratch)
		}
	}()
	if err := jsonv2.Unmarshal(body, scratch, jsonv2.RejectUnknownMembers(true)); err != nil {
		return nil, &InputError{Field: "body", Message: strings.TrimPrefix(err.Error(), "json: ")}
	}
	b := *scratch
	b.Events = slices.Clone(scratch.Events)
	return &b, b.check()
}

var scratchBatches = sync.Pool{New: func() any { return &Batch{Events: make([]Event, 0, MaxEvents)} }}

func (b *Batch) check() error {
	switch {
	case b.Site == "" || len(b.Site) > 64:
		return &InputError{Field: "site", Message: "required, at most 64 characters"}
	case b.Visitor != "" && !idRE.MatchString(b.Visitor):
		return &InputError{Field: "visitor", Message: "1 to 64 letters, digits, _ or -"}
	case b.Visit != "" && !idRE.MatchString(b.Visit):
		return &InputError{Field: "visit", Message: "1 to 64 letters, digits, _ or -"}
	case b.Tab != "" && !idRE.MatchString(b.Tab):
		return &InputError{Field: "tab", Message: "1 to 64 letters, digits, _ or -"}
	case b.VisitN < 0 || b.VisitN > 1_000_000:
		return &InputError{Field: "visit_n", Message: "out of range"}
	case b.Screen != "" && !screenRE.MatchString(b.Screen):
		return &InputError{Field: "screen", Message: "want WIDTHxHEIGHT"}
	case b.Lang != "" && !langRE.MatchString(b.Lang):
		return &InputError{Field: "lang", Message: "not a language tag"}
	case len(b.Events) == 0:
		return &InputError{Field: "events", Message: "at least one event"}
	case len(b.Events) > MaxEvents:
		return &InputError{Field: "events", Message: fmt.Sprintf("at most %d events", MaxEvents), TooMany: true}
	}
	for i := range b.Events {
		if err := b.Events[i].check(); err != nil {
			err.Field = fmt.Sprintf("events[%d].%s", i, err.Field)
			return err
		}
	}
	return nil
}

func (e *Event) check() *InputError {
	u, err := url.Parse(e.URL)
	e.u = u
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(e.URL) > maxURL {
		return &InputError{Field: "url", Message: "an absolute http(s) URL of at most 2048 characters"}
	}
	if e.Ref != "" && len(e.Ref) > maxURL {
		return &InputError{Field: "ref", Message: "at most 2048 characters"}
	}
	if len(e.Title) > maxText {
		return &InputError{Field: "title", Message: "at most 512 bytes"}
	}
	if e.EngagedMS < 0 || e.EngagedMS > 24*3600*1000 {
		return &InputError{Field: "engaged_ms", Message: "0 to 24 hours"}
	}
	if e.Scroll < 0 || e.Scroll > 100 {
		return &InputError{Field: "scroll", Message: "0 to 100"}
	}
	switch e.Type {
	case "pageview", "leave":
	case "event":
		if e.Name == "" || len(e.Name) > maxName {
			return &InputError{Field: "name", Message: "required, at most 128 bytes"}
		}
		if err := checkProps("props", e.Props); err != nil {
			return err
		}
	case "identify":
		if e.User == nil || e.User.ID == "" || len(e.User.ID) > maxName || len(e.User.Email) > 254 || len(e.User.Name) > 200 {
			return &InputError{Field: "user", Message: "an id of at most 128 bytes is required"}
		}
		if !hashRE.MatchString(e.Hash) {
			return &InputError{Field: "hash", Message: "HMAC-SHA256 of the id, in hex"}
		}
	case "set":
		if len(e.Vars) == 0 {
			return &InputError{Field: "vars", Message: "at least one variable"}
		}
		if err := checkProps("vars", e.Vars); err != nil {
			return err
		}
	case "offer":
		o := e.Offer
		switch {
		case o == nil || o.Rule == "" || len(o.Rule) > 64:
			return &InputError{Field: "offer.rule", Message: "required, at most 64 bytes"}
		case o.Variant != "offer" && o.Variant != "control":
			return &InputError{Field: "offer.variant", Message: "offer or control"}
		case !slices.Contains(OfferStages, o.Stage):
			return &InputError{Field: "offer.stage", Message: "one of " + strings.Join(OfferStages, ", ")}
		case o.V < 0 || o.V > 1_000_000:
			return &InputError{Field: "offer.v", Message: "out of range"}
		}
	default:
		return &InputError{Field: "type", Message: "one of pageview, leave, event, identify, set, offer"}
	}
	return nil
}

// checkProps allows flat maps of short strings, numbers, booleans and nulls.
func checkProps(field string, m map[string]any) *InputError {
	if len(m) > maxProps {
		return &InputError{Field: field, Message: fmt.Sprintf("at most %d keys", maxProps)}
	}
	for k, v := range m {
		if k == "" || len(k) > maxPropKey {
			return &InputError{Field: field, Message: "keys are 1 to 64 bytes"}
		}
		switch x := v.(type) {
		case string:
			if len(x) > maxPropValue {
				return &InputError{Field: field + "." + k, Message: "at most 256 bytes"}
			}
		case float64, bool, nil:
		default:
			return &InputError{Field: field + "." + k, Message: "a string, number, boolean or null"}
		}
	}
	return nil
}

// propString is a property value as stored and grouped.
func propString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}
