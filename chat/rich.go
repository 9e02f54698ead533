package chat

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Rich is a rich message's payload: exactly one of quick replies (buttons
// that answer with their value), a list picker, or a carousel of cards. The
// page shows them with text nodes and links only.
type Rich struct {
	Type     string   `json:"type"` // quick_replies, list, carousel
	Options  []Option `json:"options,omitempty"`
	Items    []Item   `json:"items,omitempty"`
	Cards    []Card   `json:"cards,omitempty"`
	Multiple bool     `json:"multiple,omitempty"` // list: several items may be picked
}

// Option is a quick reply: a label, and the value sent back when chosen.
type Option struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Item is one entry of a list picker.
type Item struct {
	Title    string `json:"title"`
	Subtitle string `json:"subtitle,omitempty"`
	Value    string `json:"value"`
}

// Card is one card of a carousel.
type Card struct {
	Title    string   `json:"title"`
	Subtitle string   `json:"subtitle,omitempty"`
	ImageURL string   `json:"image_url,omitempty"`
	Buttons  []Button `json:"buttons,omitempty"`
}

// Button answers with Value, or opens URL in a new tab.
type Button struct {
	Label string `json:"label"`
	Value string `json:"value,omitempty"`
	URL   string `json:"url,omitempty"`
}

// ValidateRich checks a rich payload against the schema and returns it
// re-encoded (so only known fields are stored and sent).
func ValidateRich(doc json.RawMessage) (json.RawMessage, error) {
	var r Rich
	if err := decodeStrict(doc, &r); err != nil {
		return nil, fmt.Errorf("rich payload: %v", err)
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

func (r *Rich) validate() error {
	switch r.Type {
	case "quick_replies":
		if len(r.Options) < 1 || len(r.Options) > 10 || len(r.Items)+len(r.Cards) > 0 {
			return fmt.Errorf("quick_replies: 1 to 10 options, nothing else")
		}
		for i, o := range r.Options {
			if err := short("options", i, o.Label, 1, 80); err != nil {
				return err
			}
			if err := short("options", i, o.Value, 1, 200); err != nil {
				return err
			}
		}
	case "list":
		if len(r.Items) < 1 || len(r.Items) > 20 || len(r.Options)+len(r.Cards) > 0 {
			return fmt.Errorf("list: 1 to 20 items, nothing else")
		}
		for i, it := range r.Items {
			if err := short("items", i, it.Title, 1, 80); err != nil {
				return err
			}
			if err := short("items", i, it.Subtitle, 0, 200); err != nil {
				return err
			}
			if err := short("items", i, it.Value, 1, 200); err != nil {
				return err
			}
		}
	case "carousel":
		if len(r.Cards) < 1 || len(r.Cards) > 10 || len(r.Options)+len(r.Items) > 0 || r.Multiple {
			return fmt.Errorf("carousel: 1 to 10 cards, nothing else")
		}
		for i, c := range r.Cards {
			if err := short("cards", i, c.Title, 1, 80); err != nil {
				return err
			}
			if err := short("cards", i, c.Subtitle, 0, 300); err != nil {
				return err
			}
			if c.ImageURL != "" && !webURL(c.ImageURL, true) {
				return fmt.Errorf("cards[%d].image_url: an https URL", i)
			}
			if len(c.Buttons) > 3 {
				return fmt.Errorf("cards[%d]: at most 3 buttons", i)
			}
			for _, b := range c.Buttons {
				if err := short("buttons", i, b.Label, 1, 40); err != nil {
					return err
				}
				if (b.Value == "") == (b.URL == "") || len(b.Value) > 200 || (b.URL != "" && !webURL(b.URL, false)) {
					return fmt.Errorf("cards[%d].buttons: a value or an http(s) URL, not both", i)
				}
			}
		}
	default:
		return fmt.Errorf("rich type %q: quick_replies, list or carousel", r.Type)
	}
	if r.Multiple && r.Type != "list" {
		return fmt.Errorf("multiple: lists only")
	}
	return nil
}

func short(field string, i int, s string, lo, hi int) error {
	n := utf8.RuneCountInString(strings.TrimSpace(s))
	if !utf8.ValidString(s) || n < lo || utf8.RuneCountInString(s) > hi {
		return fmt.Errorf("%s[%d]: %d to %d characters", field, i, lo, hi)
	}
	return nil
}

// webURL accepts absolute http(s) URLs (https only for images, which load
// without a click). javascript: and data: never pass.
func webURL(s string, httpsOnly bool) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || len(s) > 2000 {
		return false
	}
	return u.Scheme == "https" || (!httpsOnly && u.Scheme == "http")
}
