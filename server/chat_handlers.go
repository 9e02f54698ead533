package server

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/store"
)

// chatAPI serves the chat's configuration (queues, agents, settings, canned responses), the supervisors' live view and reports, and the conversations' records.
type chatAPI struct {
	st       *store.Store
	chat     *chat.Engine
	ops      *ops.Service
	enforcer *auth.Enforcer
}

// queueView is a queue with its configuration decoded.
type queueView struct {
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Config    chat.QueueConfig `json:"config"`
	CreatedAt time.Time        `json:"created_at"`
	UpdatedAt time.Time        `json:"updated_at"`
}

func toQueueView(q store.Queue) queueView {
	v := queueView{ID: q.ID, Name: q.Name, CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt}
	json.Unmarshal(q.Config, &v.Config)
	v.Config.Validate() // fills defaults of older documents
	return v
}

type queueRequest struct {
	Name   *string           `json:"name"`
	Config *chat.QueueConfig `json:"config"`
}

// checkQueue validates a queue and its overflow target (a queue of the same
// tenant, not itself).
func (h chatAPI) checkQueue(c *fiber.Ctx, id, name string, cfg *chat.QueueConfig) error {
	if n := strings.TrimSpace(name); n == "" || len(n) > 100 {
		return &store.FieldError{Field: "name", Message: "1 to 100 characters"}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.OverflowQueue != "" {
		if cfg.OverflowQueue == id {
			return &store.FieldError{Field: "config.overflow_queue", Message: "a queue cannot overflow into itself"}
		}
		if _, err := h.st.Queue(c.UserContext(), who(c).Tenant, cfg.OverflowQueue); err != nil {
			return &store.FieldError{Field: "config.overflow_queue", Message: "no such queue"}
		}
	}
	return nil
}

func (h chatAPI) listQueues(c *fiber.Ctx) error {
	qs, err := h.st.Queues(c.UserContext(), who(c).Tenant)
	if err != nil {
		return err
	}
	out := make([]queueView, len(qs))
	for i, q := range qs {
		out[i] = toQueueView(q)
	}
	return list(c, out, "")
}

func (h chatAPI) createQueue(c *fiber.Ctx) error {
	p := who(c)
	var req queueRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return &store.FieldError{Field: "name", Message: "is required"}
	}
	cfg := chat.QueueConfig{}
	if req.Config != nil {
		cfg = *req.Config
	}
	if err := h.checkQueue(c, "", *req.Name, &cfg); err != nil {
		return err
	}
	doc, _ := json.Marshal(cfg)
	q, err := h.st.CreateQueue(c.UserContext(), p.Actor, store.Queue{TenantID: p.Tenant, Name: strings.TrimSpace(*req.Name), Config: doc})
	if err != nil {
		return err
	}
	if err := h.ops.ReloadChat(c.UserContext(), p.Tenant); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(toQueueView(q))
}

func (h chatAPI) getQueue(c *fiber.Ctx) error {
	q, err := h.st.Queue(c.UserContext(), who(c).Tenant, param(c, "queueID"))
	if err != nil {
		return err
	}
	return c.JSON(toQueueView(q))
}

func (h chatAPI) updateQueue(c *fiber.Ctx) error {
	p, id := who(c), param(c, "queueID")
	q, err := h.st.Queue(c.UserContext(), p.Tenant, id)
	if err != nil {
		return err
	}
	var req queueRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cur := toQueueView(q)
	if req.Name != nil {
		cur.Name = strings.TrimSpace(*req.Name)
	}
	if req.Config != nil {
		cur.Config = *req.Config
	}
	if err := h.checkQueue(c, id, cur.Name, &cur.Config); err != nil {
		return err
	}
	doc, _ := json.Marshal(cur.Config)
	q, err = h.st.UpdateQueue(c.UserContext(), p.Actor, store.Queue{ID: id, TenantID: p.Tenant, Name: cur.Name, Config: doc})
	if err != nil {
		return err
	}
	if err := h.ops.ReloadChat(c.UserContext(), p.Tenant); err != nil {
		return err
	}
	return c.JSON(toQueueView(q))
}

func (h chatAPI) deleteQueue(c *fiber.Ctx) error {
	p := who(c)
	if err := h.st.DeleteQueue(c.UserContext(), p.Actor, p.Tenant, param(c, "queueID")); err != nil {
		return err
	}
	if err := h.ops.ReloadChat(c.UserContext(), p.Tenant); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// agentView is a member who can chat, with their routing profile.
type agentView struct {
	UserID  string            `json:"user_id"`
	Email   string            `json:"email"`
	Name    string            `json:"name"`
	Role    string            `json:"role"`
	Profile chat.AgentProfile `json:"profile"`
}

var chatRoles = []string{"owner", "admin", "supervisor", "agent", "bot"}

func (h chatAPI) listAgents(c *fiber.Ctx) error {
	ctx, tenant := c.UserContext(), who(c).Tenant
	profiles := map[string]chat.AgentProfile{}
	acs, err := h.st.AgentConfigs(ctx, tenant)
	if err != nil {
		return err
	}
	for _, ac := range acs {
		var p chat.AgentProfile
		json.Unmarshal(ac.Config, &p)
		profiles[ac.UserID] = p
	}
	out := []agentView{}
	page := store.Page{Limit: 500}
	for {
		ms, next, err := h.st.Members(ctx, tenant, page)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if !slices.Contains(chatRoles, m.Role) {
				continue
			}
			p := profiles[m.ID]
			p.Validate()
			out = append(out, agentView{UserID: m.ID, Email: m.Email, Name: m.Name, Role: m.Role, Profile: p})
		}
		if next == "" {
			break
		}
		page.After = next
	}
	return list(c, out, "")
}

func (h chatAPI) setAgent(c *fiber.Ctx) error {
	p, id := who(c), param(c, "userID")
	m, err := h.st.Member(c.UserContext(), p.Tenant, id)
	if err != nil {
		return err
	}
	if !slices.Contains(chatRoles, m.Role) {
		return &store.FieldError{Field: "user", Message: "this member's role does not chat"}
	}
	var prof chat.AgentProfile
	if err := decodeJSON(c, &prof); err != nil {
		return err
	}
	if err := prof.Validate(); err != nil {
		return err
	}
	for _, q := range prof.Queues {
		if _, err := h.st.Queue(c.UserContext(), p.Tenant, q); err != nil {
			return &store.FieldError{Field: "queues", Message: "no such queue: " + q}
		}
	}
	doc, _ := json.Marshal(prof)
	if err := h.st.SetAgentConfig(c.UserContext(), p.Actor, store.AgentConfig{TenantID: p.Tenant, UserID: id, Config: doc}); err != nil {
		return err
	}
	if err := h.ops.ReloadChat(c.UserContext(), p.Tenant); err != nil {
		return err
	}
	return c.JSON(agentView{UserID: id, Email: m.Email, Name: m.Name, Role: m.Role, Profile: prof})
}

func (h chatAPI) getChatSettings(c *fiber.Ctx) error {
	doc, err := h.st.ChatSettings(c.UserContext(), who(c).Tenant)
	if err != nil {
		return err
	}
	set, err := chat.ParseSettings(doc)
	if err != nil {
		return err
	}
	return c.JSON(set)
}

func (h chatAPI) setChatSettings(c *fiber.Ctx) error {
	p := who(c)
	var set chat.Settings
	if err := decodeJSON(c, &set); err != nil {
		return err
	}
	if err := set.Validate(); err != nil {
		return err
	}
	queues := []string{}
	if set.DefaultQueue != "" {
		queues = append(queues, set.DefaultQueue)
	}
	if set.Prechat != nil {
		for _, o := range set.Prechat.Options {
			queues = append(queues, o.Queue)
		}
	}
	for _, q := range queues {
		if _, err := h.st.Queue(c.UserContext(), p.Tenant, q); err != nil {
			return &store.FieldError{Field: "queues", Message: "no such queue: " + q}
		}
	}
	doc, _ := json.Marshal(set)
	if err := h.st.SetChatSettings(c.UserContext(), p.Actor, p.Tenant, doc); err != nil {
		return err
	}
	if err := h.ops.ReloadChat(c.UserContext(), p.Tenant); err != nil {
		return err
	}
	h.ops.ForgetWelcome(p.Tenant) // the panel's greeting and form change at once
	return c.JSON(set)
}

func (h chatAPI) chatLive(c *fiber.Ctx) error {
	live, err := h.ops.LiveState(c.UserContext(), who(c).Tenant)
	if err != nil {
		return err
	}
	return c.JSON(live)
}

// chatColleagues lists the people signed in to chat, for a transfer or an
// invitation.
func (h chatAPI) chatColleagues(c *fiber.Ctx) error {
	cs, err := h.ops.Colleagues(c.UserContext(), who(c).Tenant)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": cs})
}

// chatDispositions are the outcomes an agent picks from when closing.
func (h chatAPI) chatDispositions(c *fiber.Ctx) error {
	ds, err := h.ops.Dispositions(c.UserContext(), who(c).Tenant)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"dispositions": ds})
}

// chatAgent is the principal as the chat engine knows it.
func chatAgent(c *fiber.Ctx, enforcer *auth.Enforcer) chat.Agent {
	p := who(c)
	a := chat.Agent{Tenant: p.Tenant, Bot: p.Role == "bot", Supervise: enforcer.Allowed(p.Subject, p.Tenant, "chat", "supervise")}
	if p.User != nil {
		a.User, a.Name = p.User.ID, p.User.Name
	} else {
		a.User, a.Name = p.Token.ID, p.Token.Name
	}
	return a
}

// listConversations lists the tenant's conversations for supervisors, and
// those an agent has been in for everyone else.
func (h chatAPI) listConversations(c *fiber.Ctx) error {
	page, err := listPage(c)
	if err != nil {
		return err
	}
	a := chatAgent(c, h.enforcer)
	f := store.ConversationFilter{Status: c.Query("status"), Reason: c.Query("reason"), SiteID: c.Query("site"), Visitor: c.Query("visitor")}
	if f.Reason != "" && !slices.Contains([]string{"agent", "visitor", "inactivity", "offline_message", "erased", "site_deleted"}, f.Reason) {
		return errBadRequest("invalid_query", "reason is agent, visitor, inactivity, offline_message, erased or site_deleted", "reason")
	}
	if f.Status != "" && !slices.Contains([]string{chat.StatusBot, chat.StatusQueued, chat.StatusAssigned, chat.StatusHold, chat.StatusOffline, chat.StatusClosed}, f.Status) {
		return errBadRequest("invalid_query", "status is bot, queued, assigned, hold, offline or closed", "status")
	}
	if !a.Supervise {
		f.Participant = a.User
	}
	items, next, err := h.st.Conversations(c.UserContext(), a.Tenant, f, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}

func (h chatAPI) getConversation(c *fiber.Ctx) error {
	cc, err := h.ops.ChatContext(c.UserContext(), chatAgent(c, h.enforcer), param(c, "conversationID"))
	if err != nil {
		return err
	}
	return c.JSON(cc)
}

// earlierTranscript opens, read-only, an earlier conversation of the
// customer of a chat the agent may read.
func (h chatAPI) earlierTranscript(c *fiber.Ctx) error {
	t, err := h.ops.EarlierTranscript(c.UserContext(), chatAgent(c, h.enforcer), param(c, "conversationID"), param(c, "earlierID"))
	if err != nil {
		return err
	}
	return c.JSON(t)
}

// transcript exports a conversation whole: JSON (default) or plain text.
func (h chatAPI) transcript(c *fiber.Ctx) error {
	format := c.Query("format", "json")
	if format != "json" && format != "text" {
		return errBadRequest("invalid_query", "format is json or text", "format")
	}
	t, err := h.chat.Transcript(c.UserContext(), chatAgent(c, h.enforcer), param(c, "conversationID"))
	if err != nil {
		return err
	}
	name := "conversation-" + t.Conversation.ID
	if format == "json" {
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`.json"`)
		return c.JSON(t)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Conversation %s\nSite %s, visitor %s\nStarted %s, status %s\n\n", t.Conversation.ID, t.Conversation.SiteID,
		t.Conversation.Visitor, t.Conversation.CreatedAt.Format(time.RFC3339), t.Conversation.Status)
	for _, m := range t.Messages {
		who := m.Sender.Name
		switch {
		case m.Sender.Kind == "visitor":
			who = "Visitor"
		case m.Sender.Kind == "system":
			who = "—"
		case who == "":
			who = m.Sender.Kind
		}
		if m.Audience == chat.AudienceAgents {
			who += " [agents only]"
		}
		text := m.Text
		if text == "" && len(m.Payload) > 0 {
			text = string(m.Payload)
		}
		fmt.Fprintf(&b, "%s  #%d  %s: %s\n", m.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), m.Seq, who, strings.ReplaceAll(text, "\n", "\n    "))
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`.txt"`)
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	return c.SendString(b.String())
}

// chatZone is the tenant's time zone for chat reports (its chat settings').
func (h chatAPI) chatZone(c *fiber.Ctx) (*time.Location, error) {
	doc, err := h.st.ChatSettings(c.UserContext(), who(c).Tenant)
	if err != nil {
		return nil, err
	}
	set, err := chat.ParseSettings(doc)
	if err != nil {
		return nil, err
	}
	return set.Location(), nil
}

// chatRange reads from and to (YYYY-MM-DD in loc, both included; default
// the last 30 days) as [from, to+1 day).
func chatRange(c *fiber.Ctx, loc *time.Location) (time.Time, time.Time, error) {
	y, m, d := time.Now().In(loc).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, loc)
	to, from := today, today.AddDate(0, 0, -29)
	var err error
	if v := c.Query("to"); v != "" {
		if to, err = time.ParseInLocation(time.DateOnly, v, loc); err != nil {
			return from, to, errBadRequest("invalid_query", "to is a date, YYYY-MM-DD", "to")
		}
	}
	if v := c.Query("from"); v != "" {
		if from, err = time.ParseInLocation(time.DateOnly, v, loc); err != nil {
			return from, to, errBadRequest("invalid_query", "from is a date, YYYY-MM-DD", "from")
		}
	} else if c.Query("to") != "" {
		from = to.AddDate(0, 0, -29)
	}
	if from.After(to) || to.Sub(from) > 366*24*time.Hour {
		return from, to, errBadRequest("invalid_query", "from is before to, at most a year apart", "from")
	}
	return from, to.AddDate(0, 0, 1), nil
}

// chatConversationReport lists each conversation's wait, first response,
// handle time, message counts and outcome.
func (h chatAPI) chatConversationReport(c *fiber.Ctx) error {
	loc, err := h.chatZone(c)
	if err != nil {
		return err
	}
	from, to, err := chatRange(c, loc)
	if err != nil {
		return err
	}
	page, err := listPage(c)
	if err != nil {
		return err
	}
	items, next, err := h.st.ConversationMetrics(c.UserContext(), who(c).Tenant, from, to, page)
	if err != nil {
		return err
	}
	return list(c, items, next)
}

// chatSummaryReport sums conversations by queue, agent or day, with names.
func (h chatAPI) chatSummaryReport(c *fiber.Ctx) error {
	by := c.Query("by", "day")
	if by != "queue" && by != "agent" && by != "day" {
		return errBadRequest("invalid_query", "by is queue, agent or day", "by")
	}
	loc, err := h.chatZone(c)
	if err != nil {
		return err
	}
	from, to, err := chatRange(c, loc)
	if err != nil {
		return err
	}
	ctx, tenant := c.UserContext(), who(c).Tenant
	rows, err := h.st.ChatAggregates(ctx, tenant, from, to, by, loc)
	if err != nil {
		return err
	}
	names := map[string]string{}
	switch by {
	case "queue":
		qs, err := h.st.Queues(ctx, tenant)
		if err != nil {
			return err
		}
		for _, q := range qs {
			names[q.ID] = q.Name
		}
	case "agent":
		ms, _, err := h.st.Members(ctx, tenant, store.Page{Limit: 500})
		if err != nil {
			return err
		}
		for _, m := range ms {
			names[m.ID] = cmp.Or(m.Name, m.Email)
		}
	}
	type row struct {
		store.ChatAggregate
		Name string `json:"name,omitempty"`
	}
	out := make([]row, len(rows))
	for i, r := range rows {
		out[i] = row{r, names[r.Key]}
	}
	return c.JSON(fiber.Map{"by": by, "from": from.Format(time.DateOnly), "to": to.AddDate(0, 0, -1).Format(time.DateOnly),
		"time_zone": loc.String(), "rows": out})
}

func (h chatAPI) listCanned(c *fiber.Ctx) error {
	items, err := h.st.CannedAll(c.UserContext(), who(c).Tenant)
	if err != nil {
		return err
	}
	return list(c, items, "")
}

type cannedRequest struct {
	Shortcut *string `json:"shortcut"`
	Title    *string `json:"title"`
	Text     *string `json:"text"`
}

var shortcutRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// saveCanned applies a request over cur, checks it and stores it.
func (h chatAPI) saveCanned(c *fiber.Ctx, cur store.Canned) (store.Canned, error) {
	var req cannedRequest
	if err := decodeJSON(c, &req); err != nil {
		return cur, err
	}
	if req.Shortcut != nil {
		cur.Shortcut = strings.TrimSpace(*req.Shortcut)
	}
	if req.Title != nil {
		cur.Title = strings.TrimSpace(*req.Title)
	}
	if req.Text != nil {
		cur.Text = *req.Text
	}
	if !shortcutRE.MatchString(cur.Shortcut) {
		return cur, &store.FieldError{Field: "shortcut", Message: "1 to 40 lower-case letters, digits, dashes or underscores"}
	}
	if len(cur.Title) > 200 {
		return cur, &store.FieldError{Field: "title", Message: "at most 200 bytes"}
	}
	if err := chat.CheckTemplate(cur.Text); err != nil {
		return cur, &store.FieldError{Field: "text", Message: strings.TrimPrefix(err.Error(), chat.ErrInvalid.Error()+": ")}
	}
	p := who(c)
	cur.TenantID = p.Tenant
	return h.st.SaveCanned(c.UserContext(), p.Actor, cur)
}

func (h chatAPI) createCanned(c *fiber.Ctx) error {
	out, err := h.saveCanned(c, store.Canned{})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (h chatAPI) updateCanned(c *fiber.Ctx) error {
	cur, err := h.st.CannedOne(c.UserContext(), who(c).Tenant, param(c, "cannedID"))
	if err != nil {
		return err
	}
	out, err := h.saveCanned(c, cur)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

func (h chatAPI) deleteCanned(c *fiber.Ctx) error {
	p := who(c)
	if err := h.st.DeleteCanned(c.UserContext(), p.Actor, p.Tenant, param(c, "cannedID")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type maskTestRequest struct {
	Patterns  []string `json:"patterns"`
	MaskCards *bool    `json:"mask_cards"`
	Text      string   `json:"text"`
}

// maskTest shows what the masking would make of a text with patterns not
// saved yet: the settings form's live test box. Nothing is stored.
func (h chatAPI) maskTest(c *fiber.Ctx) error {
	var req maskTestRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.Text) > 4000 {
		return &store.FieldError{Field: "text", Message: "at most 4000 bytes"}
	}
	set := chat.Settings{Patterns: req.Patterns, MaskCards: req.MaskCards}
	if err := set.Validate(); err != nil {
		return err
	}
	r, err := set.Redactor()
	if err != nil {
		return &store.FieldError{Field: "patterns", Message: err.Error()}
	}
	return c.JSON(fiber.Map{"text": r.Text(req.Text)})
}
