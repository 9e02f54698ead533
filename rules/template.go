package rules

import (
	"fmt"
)

// Template is the content of a content offer or an entry point: words, an
// optional image and up to three buttons. The page shows every field as
// text, never as markup.
type Template struct {
	Name     string   `json:"name,omitempty"` // required; left out for pages
	Title    string   `json:"title"`
	Body     string   `json:"body,omitempty"`
	ImageURL string   `json:"image_url,omitempty"`
	ImageAlt string   `json:"image_alt,omitempty"`
	Buttons  []Button `json:"buttons,omitempty"`
}

// Button is one of a template's buttons: chat opens the chat (in Queue, or
// the rule's), link opens URL, dismiss closes the offer.
type Button struct {
	Label  string `json:"label"`
	Action string `json:"action"`
	URL    string `json:"url,omitempty"`
	Queue  string `json:"queue,omitempty"`
}

// ParseTemplate decodes and validates a template; errors name their JSON path.
func ParseTemplate(data []byte, refs Refs) (*Template, error) {
	doc, err := decode(data, "template")
	if err != nil {
		return nil, err
	}
	p := &parser{refs: refs}
	m := p.object("", doc, "name", "title", "body", "image_url", "image_alt", "buttons")
	if m == nil {
		return nil, p.errs
	}
	t := &Template{
		Name:     p.str("name", m["name"], 120, true),
		Title:    p.str("title", m["title"], 120, true),
		Body:     p.str("body", m["body"], 1000, false),
		ImageURL: p.str("image_url", m["image_url"], 2000, false),
		ImageAlt: p.str("image_alt", m["image_alt"], 200, false),
	}
	if t.ImageURL != "" && !SafeURL(t.ImageURL) {
		p.fail("image_url", "an absolute http or https URL")
	}
	if m["buttons"] != nil {
		list, ok := m["buttons"].([]any)
		if !ok || len(list) > 3 {
			p.fail("buttons", "a list of at most 3 buttons")
			list = nil
		}
		for i, x := range list {
			path := fmt.Sprintf("buttons[%d]", i)
			bm := p.object(path, x, "label", "action", "url", "queue")
			if bm == nil {
				continue
			}
			b := Button{Label: p.str(path+".label", bm["label"], 40, true), Action: p.str(path+".action", bm["action"], 10, true)}
			switch b.Action {
			case "link":
				b.URL = p.str(path+".url", bm["url"], 2000, true)
				if b.URL != "" && !SafeURL(b.URL) {
					p.fail(path+".url", "an absolute http or https URL")
				}
			case "chat":
				b.Queue = p.str(path+".queue", bm["queue"], 200, false)
				if b.Queue != "" && refs.Queue != nil && !refs.Queue(b.Queue) {
					p.fail(path+".queue", "no chat queue is named %q", b.Queue)
				}
			case "dismiss", "":
			default:
				p.fail(path+".action", "one of chat, link, dismiss")
			}
			if b.Action != "link" && bm["url"] != nil {
				p.fail(path+".url", "only a link has a url")
			}
			if b.Action != "chat" && bm["queue"] != nil {
				p.fail(path+".queue", "only a chat button has a queue")
			}
			t.Buttons = append(t.Buttons, b)
		}
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return t, nil
}
