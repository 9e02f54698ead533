package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// placeholderRE finds {{name}}, {{name.key}} and {{name|default}} in a
// canned response: the default stands in when the conversation has no value.
var placeholderRE = regexp.MustCompile(`\{\{\s*([a-z]+)(?:\.([A-Za-z0-9_-]{1,64}))?\s*(?:\|([^{}|]{0,100}))?\}\}`)

// placeholders are the ones a canned response may use (vars takes any key).
var placeholders = map[string]bool{"agent.name": true, "visitor.name": true, "visitor.id": true, "page.url": true,
	"page.title": true, "offer.name": true, "topic": true}

// CheckTemplate validates a canned response's text: at most MaxText
// characters, and only known placeholders.
func CheckTemplate(text string) error {
	if !utf8.ValidString(text) || strings.TrimSpace(text) == "" || utf8.RuneCountInString(text) > MaxText {
		return fmt.Errorf("%w: text is 1 to %d characters of UTF-8", ErrInvalid, MaxText)
	}
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		if m[1] == "vars" && m[2] != "" {
			continue
		}
		name := m[1]
		if m[2] != "" {
			name += "." + m[2]
		}
		if !placeholders[name] {
			return fmt.Errorf("%w: unknown placeholder {{%s}}: use agent.name, visitor.name, visitor.id, page.url, page.title, offer.name, topic or vars.KEY", ErrInvalid, name)
		}
	}
	return nil
}

// Expand fills a canned response's placeholders from a conversation the
// agent is in, as it is now; a value the conversation lacks becomes the
// placeholder's default, or nothing.
func (e *Engine) Expand(ctx context.Context, a Agent, id, text string) (string, error) {
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return "", err
	}
	cv, role, err := e.agentConv(t, a, id)
	if err == nil && role == "" {
		err = fmt.Errorf("%w: join the chat first", ErrForbidden)
	}
	var meta Meta
	var topic struct {
		Topic string `json:"topic"`
	}
	var visitor, name string
	if err == nil {
		json.Unmarshal(cv.c.Metadata, &meta)
		json.Unmarshal(cv.c.Metadata, &topic)
		visitor, name = cv.c.Visitor, e.displayName(ctx, a.User) // the visitor reads it: never an email
	}
	e.unlock(t)
	if err != nil {
		return "", err
	}
	values := map[string]string{"agent.name": name, "visitor.id": visitor, "visitor.name": visitorName(meta), "topic": topic.Topic}
	if meta.Page != nil {
		values["page.url"], values["page.title"] = meta.Page.URL, meta.Page.Title
	}
	if meta.Offer != nil {
		values["offer.name"] = meta.Offer.Name
	}
	for k, v := range meta.Vars {
		values["vars."+k] = v
	}
	return placeholderRE.ReplaceAllStringFunc(text, func(p string) string {
		m := placeholderRE.FindStringSubmatch(p)
		key := m[1]
		if m[2] != "" {
			key += "." + m[2]
		}
		if v := values[key]; v != "" {
			return v
		}
		return strings.TrimSpace(m[3])
	}), nil
}

// visitorName is what the visitor is called: what the page set, the name
// they gave in the pre-chat form, or the one the site's server signed.
func visitorName(m Meta) string {
	switch {
	case m.Vars["name"] != "":
		return m.Vars["name"]
	case m.Form != nil && m.Form.Name != "":
		return m.Form.Name
	case m.Identity != nil:
		return m.Identity.Name
	}
	return ""
}
