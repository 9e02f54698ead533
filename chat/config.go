package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nudgehq/nudge/redact"
	"github.com/nudgehq/nudge/store"
)

// Routing modes of a queue.
const (
	LongestIdle = "longest_idle" // the available agent idle the longest (default)
	LeastBusy   = "least_busy"   // the available agent with the fewest chats, then longest idle
	Skills      = "skills"       // agents with every queue skill: best total rating, then longest idle
	LastAgent   = "last_agent"   // the visitor's previous agent when available, else longest idle
)

// QueueConfig is how a queue routes its chats.
type QueueConfig struct {
	Routing string   `json:"routing"`
	Skills  []string `json:"skills"`
	// OfferTimeout is how long an agent has to accept an offered chat, in seconds.
	OfferTimeout int `json:"offer_timeout"`
	// OverflowQueue receives the chats that waited OverflowAfter seconds here.
	OverflowQueue string `json:"overflow_queue"`
	OverflowAfter int    `json:"overflow_after"`
	// MaxWait: after this many seconds without an agent the visitor is
	// offered the offline message form (0: wait as long as they like).
	MaxWait int `json:"max_wait"`
	// Hours are the business hours; nil is always open.
	Hours *Hours `json:"hours"`
}

// Hours are opening hours in a time zone: per weekday ("mon" … "sun") a
// list of ["09:00", "17:30"] spans, and closed dates ("2026-12-25").
type Hours struct {
	TimeZone string                 `json:"time_zone"`
	Week     map[string][][2]string `json:"week"`
	Closed   []string               `json:"closed"`
}

var (
	weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	clockRE  = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$`)
)

// Open reports whether t falls within the hours.
func (h *Hours) Open(t time.Time) bool {
	if h == nil {
		return true
	}
	loc, err := time.LoadLocation(h.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if slices.Contains(h.Closed, t.Format(time.DateOnly)) {
		return false
	}
	now := t.Format("15:04")
	for _, span := range h.Week[weekdays[t.Weekday()]] {
		if now >= span[0] && now < span[1] {
			return true
		}
	}
	return false
}

func (h *Hours) validate() error {
	if h.TimeZone == "" {
		h.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(h.TimeZone); err != nil || len(h.TimeZone) > 64 {
		return &store.FieldError{Field: "hours.time_zone", Message: "unknown IANA time zone"}
	}
	for day, spans := range h.Week {
		if !slices.Contains(weekdays, day) {
			return &store.FieldError{Field: "hours.week", Message: fmt.Sprintf("%q is not mon, tue, wed, thu, fri, sat or sun", day)}
		}
		if len(spans) > 10 {
			return &store.FieldError{Field: "hours.week." + day, Message: "at most 10 spans a day"}
		}
		for _, s := range spans {
			if !clockRE.MatchString(s[0]) || !clockRE.MatchString(s[1]) || s[0] >= s[1] {
				return &store.FieldError{Field: "hours.week." + day, Message: `each span is ["HH:MM", "HH:MM"], start before end`}
			}
		}
	}
	if h.Closed == nil {
		h.Closed = []string{} // a list in JSON, never null
	}
	if len(h.Closed) > 400 {
		return &store.FieldError{Field: "hours.closed", Message: "at most 400 dates"}
	}
	for _, d := range h.Closed {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return &store.FieldError{Field: "hours.closed", Message: "dates are YYYY-MM-DD"}
		}
	}
	return nil
}

// Validate checks a queue's configuration and fills its defaults.
func (c *QueueConfig) Validate() error {
	if c.Routing == "" {
		c.Routing = LongestIdle
	}
	if !slices.Contains([]string{LongestIdle, LeastBusy, Skills, LastAgent}, c.Routing) {
		return &store.FieldError{Field: "config.routing", Message: "longest_idle, least_busy, skills or last_agent"}
	}
	if c.Skills == nil {
		c.Skills = []string{}
	}
	if len(c.Skills) > 20 {
		return &store.FieldError{Field: "config.skills", Message: "at most 20 skills"}
	}
	for _, s := range c.Skills {
		if !skillRE.MatchString(s) {
			return &store.FieldError{Field: "config.skills", Message: "skills are 1 to 40 letters, digits, dashes or underscores"}
		}
	}
	if c.Routing == Skills && len(c.Skills) == 0 {
		return &store.FieldError{Field: "config.skills", Message: "skill routing needs at least one skill"}
	}
	if c.OfferTimeout == 0 {
		c.OfferTimeout = defaultOfferTimeout
	}
	if c.OfferTimeout < 5 || c.OfferTimeout > 600 {
		return &store.FieldError{Field: "config.offer_timeout", Message: "5 to 600 seconds"}
	}
	if c.OverflowAfter < 0 || c.OverflowAfter > 86400 || (c.OverflowQueue != "") != (c.OverflowAfter > 0) {
		return &store.FieldError{Field: "config.overflow_after", Message: "1 to 86400 seconds with an overflow queue, 0 without"}
	}
	if c.MaxWait < 0 || c.MaxWait > 86400 {
		return &store.FieldError{Field: "config.max_wait", Message: "0 (no limit) to 86400 seconds"}
	}
	if c.Hours != nil {
		return c.Hours.validate()
	}
	return nil
}

var skillRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// AgentProfile is what routing knows of an agent.
type AgentProfile struct {
	// Capacity is how many chats the agent carries at once.
	Capacity int `json:"capacity"`
	// Skills rate the agent 1 (basic) to 10 (expert) per skill.
	Skills map[string]int `json:"skills"`
	// Queues the agent answers; empty: all.
	Queues []string `json:"queues"`
}

// DefaultCapacity is an agent's capacity until someone sets it; BotCapacity
// a bot's.
const (
	DefaultCapacity = 3
	BotCapacity     = 1000
)

// Validate checks a profile and fills its defaults.
func (p *AgentProfile) Validate() error {
	if p.Capacity == 0 {
		p.Capacity = DefaultCapacity
	}
	if p.Capacity < 1 || p.Capacity > 100 {
		return &store.FieldError{Field: "capacity", Message: "1 to 100 chats"}
	}
	if p.Skills == nil {
		p.Skills = map[string]int{}
	}
	if len(p.Skills) > 50 {
		return &store.FieldError{Field: "skills", Message: "at most 50 skills"}
	}
	for s, r := range p.Skills {
		if !skillRE.MatchString(s) || r < 1 || r > 10 {
			return &store.FieldError{Field: "skills", Message: "each skill is rated 1 to 10"}
		}
	}
	if p.Queues == nil {
		p.Queues = []string{}
	}
	if len(p.Queues) > 100 {
		return &store.FieldError{Field: "queues", Message: "at most 100 queues"}
	}
	return nil
}

// Settings are a tenant's chat settings.
type Settings struct {
	// DefaultQueue takes the chats that name no queue ("" is the tenant's
	// first queue by name).
	DefaultQueue string `json:"default_queue"`
	// Prechat asks the visitor a question whose answer picks the queue;
	// skipped for chats that come from an accepted offer.
	Prechat *Prechat `json:"prechat"`
	// Inactivity closes chats whose visitor stopped answering.
	Inactivity Inactivity `json:"inactivity"`
	// CSAT asks the visitor to rate the chat (1 to 5) when it closes.
	CSAT bool `json:"csat"`
	// MaskCards masks payment card numbers (default true).
	MaskCards *bool `json:"mask_cards"`
	// Patterns are more RE2 patterns masked in every message.
	Patterns []string `json:"patterns"`
	// Dispositions an agent picks from when closing (empty: free text).
	Dispositions []string `json:"dispositions"`
	// TimeZone is the team's IANA zone: chat reports count days in it.
	TimeZone string `json:"time_zone"`
	// Welcome is what the chat panel shows before the visitor writes.
	Welcome Welcome `json:"welcome"`
	// Form is the pre-chat form, filled in with the first message; nil: none.
	Form *Form `json:"form"`
	// TranscriptRetentionDays: chats closed longer ago than this are
	// deleted, from the store and the search index (0 keeps them).
	TranscriptRetentionDays int `json:"transcript_retention_days"`
}

// Welcome is the chat panel's first screen: the team's name ("" is the
// site's) and a greeting.
type Welcome struct {
	Title    string `json:"title"`
	Greeting string `json:"greeting"`
}

// Form is the fields a visitor fills in before the chat starts (the topic,
// when the pre-chat question is set, comes with them).
type Form struct {
	Fields []FormField `json:"fields"`
}

// FormField is one question of the pre-chat form: the visitor's name, their
// email, or a text the tenant names (Key, which the agent sees it under).
type FormField struct {
	Kind     string `json:"kind"`
	Key      string `json:"key,omitempty"`
	Label    string `json:"label"`
	Required bool   `json:"required"`
}

// Location is the settings' time zone (UTC when unset).
func (s *Settings) Location() *time.Location {
	if l, err := time.LoadLocation(s.TimeZone); err == nil && s.TimeZone != "" {
		return l
	}
	return time.UTC
}

// Prechat is the questionnaire bot's question.
type Prechat struct {
	Question string          `json:"question"`
	Options  []PrechatOption `json:"options"`
}

// PrechatOption is an answer and the queue it leads to.
type PrechatOption struct {
	Label string `json:"label"`
	Queue string `json:"queue"`
}

// Inactivity: WarnAfter seconds after an agent's message the visitor has
// not answered they are warned; CloseAfter seconds the chat closes. 0
// turns either off.
type Inactivity struct {
	WarnAfter  int `json:"warn_after"`
	CloseAfter int `json:"close_after"`
}

// DefaultSettings are a new tenant's.
func DefaultSettings() Settings {
	t := true
	return Settings{Inactivity: Inactivity{WarnAfter: 300, CloseAfter: 600}, MaskCards: &t, Patterns: []string{}, Dispositions: []string{}}
}

// ParseSettings reads a stored settings document over the defaults.
func ParseSettings(doc []byte) (Settings, error) {
	s := DefaultSettings()
	if len(doc) > 0 {
		if err := json.Unmarshal(doc, &s); err != nil {
			return s, fmt.Errorf("chat settings: %w", err)
		}
	}
	return s, s.Validate()
}

// Validate checks settings and fills defaults.
func (s *Settings) Validate() error {
	if s.MaskCards == nil {
		t := true
		s.MaskCards = &t
	}
	if s.Patterns == nil {
		s.Patterns = []string{}
	}
	if s.Dispositions == nil {
		s.Dispositions = []string{}
	}
	if p := s.Prechat; p != nil {
		p.Question = strings.TrimSpace(p.Question)
		if p.Question == "" || len(p.Question) > 500 {
			return &store.FieldError{Field: "prechat.question", Message: "1 to 500 characters"}
		}
		if len(p.Options) < 1 || len(p.Options) > 10 {
			return &store.FieldError{Field: "prechat.options", Message: "1 to 10 options"}
		}
		for _, o := range p.Options {
			if strings.TrimSpace(o.Label) == "" || len(o.Label) > 100 || o.Queue == "" {
				return &store.FieldError{Field: "prechat.options", Message: "each option has a label (1 to 100 characters) and a queue"}
			}
		}
	}
	in := s.Inactivity
	if in.WarnAfter < 0 || in.CloseAfter < 0 || in.WarnAfter > 86400 || in.CloseAfter > 7*86400 ||
		(in.CloseAfter > 0 && in.WarnAfter >= in.CloseAfter) {
		return &store.FieldError{Field: "inactivity", Message: "warn_after before close_after, in seconds (0: off)"}
	}
	if len(s.Patterns) > 50 {
		return &store.FieldError{Field: "patterns", Message: "at most 50 patterns"}
	}
	if _, err := s.redactor(); err != nil {
		return &store.FieldError{Field: "patterns", Message: err.Error()}
	}
	if len(s.Dispositions) > 50 {
		return &store.FieldError{Field: "dispositions", Message: "at most 50 dispositions"}
	}
	if s.TranscriptRetentionDays < 0 || s.TranscriptRetentionDays > 3650 {
		return &store.FieldError{Field: "transcript_retention_days", Message: "0 (keep) to 3650"}
	}
	s.Welcome.Title, s.Welcome.Greeting = strings.TrimSpace(s.Welcome.Title), strings.TrimSpace(s.Welcome.Greeting)
	if len(s.Welcome.Title) > 100 || !utf8.ValidString(s.Welcome.Title) {
		return &store.FieldError{Field: "welcome.title", Message: "at most 100 characters"}
	}
	if len(s.Welcome.Greeting) > 500 || !utf8.ValidString(s.Welcome.Greeting) {
		return &store.FieldError{Field: "welcome.greeting", Message: "at most 500 characters"}
	}
	if f := s.Form; f != nil {
		if err := f.validate(); err != nil {
			return err
		}
	}
	if s.TimeZone == "" {
		s.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil || len(s.TimeZone) > 64 {
		return &store.FieldError{Field: "time_zone", Message: "an IANA time zone (Europe/Paris)"}
	}
	return nil
}

var formKey = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

func (f *Form) validate() error {
	if len(f.Fields) < 1 || len(f.Fields) > 6 {
		return &store.FieldError{Field: "form.fields", Message: "1 to 6 fields"}
	}
	seen := map[string]bool{}
	for i := range f.Fields {
		fd := &f.Fields[i]
		fd.Label = strings.TrimSpace(fd.Label)
		switch fd.Kind {
		case "name", "email":
			fd.Key = fd.Kind
		case "text":
			if !formKey.MatchString(fd.Key) || fd.Key == "name" || fd.Key == "email" || fd.Key == "topic" {
				return &store.FieldError{Field: "form.fields", Message: "a text field's key is 1 to 32 lower-case letters, digits or _, not name, email or topic"}
			}
		default:
			return &store.FieldError{Field: "form.fields", Message: "a field is name, email or text"}
		}
		if fd.Label == "" || len(fd.Label) > 100 || !utf8.ValidString(fd.Label) {
			return &store.FieldError{Field: "form.fields", Message: "each field has a label of 1 to 100 characters"}
		}
		if seen[fd.Key] {
			return &store.FieldError{Field: "form.fields", Message: "each field once: " + fd.Key}
		}
		seen[fd.Key] = true
	}
	return nil
}

// CheckAnswers refuses form answers that miss a required field, name one
// the form does not have, are too long, or give a topic that is not an option.
func (s *Settings) CheckAnswers(a *FormAnswers) error {
	if a == nil {
		return nil
	}
	var fields []FormField
	if s.Form != nil {
		fields = s.Form.Fields
	}
	for k, v := range a.Fields {
		if !slices.ContainsFunc(fields, func(f FormField) bool { return f.Kind == "text" && f.Key == k }) {
			return fmt.Errorf("%w: form: no field %q", ErrInvalid, k)
		}
		if !utf8.ValidString(v) || len(v) > 1000 {
			return fmt.Errorf("%w: form: %s: at most 1000 bytes of UTF-8", ErrInvalid, k)
		}
	}
	for _, f := range fields {
		v := a.value(f.Key)
		if f.Required && strings.TrimSpace(v) == "" {
			return fmt.Errorf("%w: form: %s is required", ErrInvalid, f.Label)
		}
	}
	if (a.Name != "" && !slices.ContainsFunc(fields, func(f FormField) bool { return f.Kind == "name" })) ||
		(a.Email != "" && !slices.ContainsFunc(fields, func(f FormField) bool { return f.Kind == "email" })) {
		return fmt.Errorf("%w: form: a field the form does not have", ErrInvalid)
	}
	if !utf8.ValidString(a.Name) || len(a.Name) > 200 {
		return fmt.Errorf("%w: form: name: at most 200 bytes of UTF-8", ErrInvalid)
	}
	if a.Email != "" {
		if _, err := mail.ParseAddress(a.Email); err != nil || len(a.Email) > 254 || strings.ContainsAny(a.Email, "<> ") {
			return fmt.Errorf("%w: form: %q is not an email address", ErrInvalid, a.Email)
		}
	}
	if a.Topic != "" && (s.Prechat == nil || !slices.ContainsFunc(s.Prechat.Options, func(o PrechatOption) bool { return o.Label == a.Topic })) {
		return fmt.Errorf("%w: form: no topic %q", ErrInvalid, a.Topic)
	}
	return nil
}

// Redactor is the masking the settings describe.
func (s *Settings) Redactor() (*redact.Redactor, error) { return s.redactor() }

func (s *Settings) redactor() (*redact.Redactor, error) {
	r, err := redact.New(s.Patterns)
	if err != nil {
		return nil, err
	}
	r.KeepCards = s.MaskCards != nil && !*s.MaskCards
	return r, nil
}

// decodeStrict decodes one JSON document, refusing unknown fields.
func decodeStrict(doc []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("more than one JSON value")
	}
	return nil
}
