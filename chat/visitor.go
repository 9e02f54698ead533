package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/store"
)

// Meta is what the page tells about a visitor starting a chat; the agent
// sees it as the visitor's context.
type Meta struct {
	Offer  *OfferMeta        `json:"offer,omitempty"`
	Page   *PageMeta         `json:"page,omitempty"`
	Pages  []PageMeta        `json:"pages,omitempty"`
	Vars   map[string]string `json:"vars,omitempty"`
	Device map[string]string `json:"device,omitempty"` // filled by the server from the request
	// Identity is who the site says the visitor is (nudge('identify', …)):
	// kept only when its hash verifies, and then stored without the hash.
	Identity *Identity `json:"identity,omitempty"`
	// Form is what the visitor answered in the pre-chat form.
	Form *FormAnswers `json:"form,omitempty"`
}

// FormAnswers are a visitor's answers to the pre-chat form: the topic (one
// of the pre-chat question's options, which picks the queue), their name and
// email, and the tenant's text fields by key.
type FormAnswers struct {
	Topic  string            `json:"topic,omitempty"`
	Name   string            `json:"name,omitempty"`
	Email  string            `json:"email,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
}

func (a *FormAnswers) value(key string) string {
	switch key {
	case "name":
		return a.Name
	case "email":
		return a.Email
	}
	return a.Fields[key]
}

// Identity is a visitor's identity as the site's server signed it.
type Identity struct {
	ID       string `json:"id"`
	Email    string `json:"email,omitempty"`
	Name     string `json:"name,omitempty"`
	Hash     string `json:"hash,omitempty"`
	Verified bool   `json:"verified"`
	// By is how it was verified: hash (the page's identify, signed by the
	// site's server) or token (a visitor token). Set by the server.
	By string `json:"by,omitempty"`
}

// OfferMeta is the proactive offer the visitor accepted: the chat skips the
// pre-chat question and goes to the offer's queue (an id, once the server
// has resolved the page's queue name).
type OfferMeta struct {
	ID    string            `json:"id"`
	Name  string            `json:"name,omitempty"`
	Queue string            `json:"queue,omitempty"`
	Data  map[string]string `json:"data,omitempty"`
	// Source is rule (a published rule: name, text and data are the rule's,
	// not the page's), page (nudge('offer', …) from page code) or push (the
	// site's backend); Text is the offer's words, Version the rule's.
	Source  string `json:"source,omitempty"`
	Text    string `json:"text,omitempty"`
	Version int    `json:"version,omitempty"`
	// Agent is who invited the visitor (source invitation): the chat is
	// offered to them first. Set by the server, never taken from a page.
	Agent string `json:"agent,omitempty"`
}

// PageMeta is a page the visitor saw.
type PageMeta struct {
	URL   string `json:"url"`
	Title string `json:"title,omitempty"`
}

// Validate bounds what a page may send.
func (m *Meta) Validate() error {
	str := func(field, s string, n int) error {
		if !utf8.ValidString(s) || len(s) > n {
			return fmt.Errorf("%w: %s: at most %d bytes of UTF-8", ErrInvalid, field, n)
		}
		return nil
	}
	vars := func(field string, v map[string]string) error {
		if len(v) > 50 {
			return fmt.Errorf("%w: %s: at most 50 entries", ErrInvalid, field)
		}
		for k, s := range v {
			if err := str(field, k, 64); err != nil {
				return err
			}
			if err := str(field, s, 500); err != nil {
				return err
			}
		}
		return nil
	}
	if o := m.Offer; o != nil {
		for _, f := range []struct{ n, s string }{{"offer.id", o.ID}, {"offer.name", o.Name}, {"offer.queue", o.Queue}, {"offer.source", o.Source}, {"offer.text", o.Text}} {
			if err := str(f.n, f.s, 200); err != nil {
				return err
			}
		}
		if err := vars("offer.data", o.Data); err != nil {
			return err
		}
	}
	if len(m.Pages) > 20 {
		return fmt.Errorf("%w: pages: at most 20", ErrInvalid)
	}
	pages := m.Pages
	if m.Page != nil {
		pages = append([]PageMeta{*m.Page}, pages...)
	}
	for _, p := range pages {
		if err := str("page.url", p.URL, 2000); err != nil {
			return err
		}
		if err := str("page.title", p.Title, 300); err != nil {
			return err
		}
	}
	if id := m.Identity; id != nil {
		for _, f := range []struct{ n, s string }{{"identity.id", id.ID}, {"identity.email", id.Email}, {"identity.name", id.Name}, {"identity.hash", id.Hash}} {
			if err := str(f.n, f.s, 254); err != nil {
				return err
			}
		}
	}
	if err := vars("vars", m.Vars); err != nil {
		return err
	}
	return vars("device", m.Device)
}

// Start opens a conversation for a site's visitor and returns it with the
// visitor's chat token (shown once: only its hash is stored).
func (e *Engine) Start(ctx context.Context, site store.Site, visitor string, meta Meta) (Visitor, string, error) {
	if err := meta.Validate(); err != nil {
		return Visitor{}, "", err
	}
	if visitor == "" || len(visitor) > 64 {
		return Visitor{}, "", fmt.Errorf("%w: visitor id: 1 to 64 bytes", ErrInvalid)
	}
	metaDoc, _ := json.Marshal(meta)
	if err := e.log.ring.Ensure(ctx, site.TenantID); err != nil {
		return Visitor{}, "", err
	}
	identity, err := e.fingerprint(ctx, site.TenantID, meta.Identity)
	if err != nil {
		return Visitor{}, "", err
	}
	t, err := e.tenant(ctx, site.TenantID)
	if err != nil {
		return Visitor{}, "", err
	}
	// The visitor's last agent, for a queue that routes to them, is read
	// before the tenant's lock is taken.
	var last string
	t.mu.Lock()
	lastAgentFirst := t.routesToLastAgent()
	t.mu.Unlock()
	if lastAgentFirst {
		last, _ = e.st.LastAgent(ctx, site.ID, visitor)
	}
	t.mu.Lock()
	if t.released {
		t.mu.Unlock()
		return Visitor{}, "", ErrElsewhere
	}
	if err := t.settings.CheckAnswers(meta.Form); err != nil {
		e.unlock(t)
		return Visitor{}, "", err
	}
	id := store.NewID()
	token, hash := newToken(id)
	q := t.defaultQueue()
	if meta.Offer != nil && t.queues[meta.Offer.Queue] != nil {
		q = t.queues[meta.Offer.Queue]
	}
	// The pre-chat question leads to a queue; when none of its queues can
	// answer, the visitor was told so (the welcome offers the offline form),
	// and the chat goes to it rather than to questions nobody will follow up.
	prechat := meta.Offer == nil && t.settings.Prechat != nil && e.anyAnswers(t)
	if f := meta.Form; f != nil && f.Topic != "" && meta.Offer == nil {
		// The form answered the pre-chat question: its queue, no bot.
		prechat = false
		for _, o := range t.settings.Prechat.Options {
			if o.Label == f.Topic && t.queues[o.Queue] != nil {
				q = t.queues[o.Queue]
			}
		}
		var doc map[string]any
		json.Unmarshal(metaDoc, &doc)
		doc["topic"] = f.Topic
		metaDoc, _ = json.Marshal(doc)
	}
	c := store.Conversation{ID: id, TenantID: site.TenantID, SiteID: site.ID, Visitor: visitor, Status: StatusQueued, Metadata: metaDoc, Identity: identity}
	if prechat {
		c.Status = StatusBot
	}
	now := e.now()
	c.CreatedAt, c.UpdatedAt = now, now
	created := c
	e.do(t, func(tx *store.Tx) error { return tx.CreateConversation(created, hash) })
	cv := e.newConv(c, t)
	cv.token = hash
	cv.lastIn, cv.lastOut = now, now
	e.add(cv)
	if q != nil && q.cfg.Routing == LastAgent {
		cv.prefer = last
	}
	if meta.Offer != nil && meta.Offer.Agent != "" {
		cv.prefer = meta.Offer.Agent // the invitation's agent first
	}
	e.event(cv, "conversation.created", nil)
	if meta.Offer != nil {
		e.event(cv, "offer.accepted", map[string]any{"offer": meta.Offer})
	}
	var ns []notice
	switch {
	case prechat:
		ns = append(ns, e.askPrechat(cv)...)
	case q == nil:
		ns = e.goOffline(ctx, cv)
	default:
		ns = e.enqueue(ctx, cv, q)
	}
	e.unlock(t)
	e.post(ctx, ns)
	return Visitor{Tenant: site.TenantID, Site: site.ID, ID: visitor, Conversation: id}, token, nil
}

// routesToLastAgent reports whether any of the tenant's queues routes a
// chat to the visitor's last agent first. Callers hold t.mu.
func (t *tenant) routesToLastAgent() bool {
	for _, q := range t.queues {
		if q.cfg.Routing == LastAgent {
			return true
		}
	}
	return false
}

func (e *Engine) askPrechat(cv *conv) []notice {
	p := cv.t.settings.Prechat
	opts := make([]map[string]string, len(p.Options))
	for i, o := range p.Options {
		opts[i] = map[string]string{"label": o.Label, "value": o.Label}
	}
	return []notice{{tenant: cv.c.TenantID, conv: cv.c.ID, audience: AudienceAll, event: "prechat", text: p.Question,
		data: map[string]any{"options": opts}}}
}

// loaded returns a visitor's conversation in memory, or ErrState when it
// has closed. Callers hold t.mu.
func (e *Engine) loaded(t *tenant, v Visitor) (*conv, error) {
	if t.released {
		return nil, ErrElsewhere
	}
	cv := t.convs[v.Conversation]
	if cv == nil || cv.c.TenantID != v.Tenant {
		return nil, fmt.Errorf("%w: the conversation has closed", ErrState)
	}
	return cv, nil
}

// ConnectVisitor registers a visitor connection for its conversation's
// events and returns the conversation as the visitor sees it.
func (e *Engine) ConnectVisitor(ctx context.Context, v Visitor, s Sink) (VisitorView, error) {
	t, err := e.tenant(ctx, v.Tenant)
	if err != nil {
		return VisitorView{}, err
	}
	if view, ok := e.connectVisitor(t, v, s); ok {
		return view, nil
	}
	// Closed: the store has it (read with no lock held).
	c, err := e.st.Conversation(ctx, v.Tenant, v.Conversation)
	if err != nil {
		return VisitorView{}, err
	}
	return VisitorView{ID: c.ID, Status: c.Status, LastSeq: c.LastSeq, Agents: []string{}, CSAT: c.CSAT}, nil
}

// connectVisitor registers the connection; ok is false when the
// conversation is no longer in memory.
func (e *Engine) connectVisitor(t *tenant, v Visitor, s Sink) (view VisitorView, ok bool) {
	t.mu.Lock()
	defer e.unlock(t)
	if t.released {
		return VisitorView{}, false
	}
	if !slices.Contains(t.visitors[v.Conversation], s) {
		t.visitors[v.Conversation] = append(t.visitors[v.Conversation], s)
		if cv := t.convs[v.Conversation]; cv != nil && len(t.visitors[v.Conversation]) == 1 {
			e.toAgents(cv, Event{Type: "visitor", Conversation: cv.c.ID, Data: map[string]bool{"online": true}})
		}
	}
	if cv := t.convs[v.Conversation]; cv != nil {
		cv.pos = 0 // tell the new connection its place
		if q := cv.t.queues[cv.c.QueueID]; q != nil && cv.c.Status == StatusQueued {
			defer e.positions(q)
		}
		return e.visitorView(cv), true
	}
	return VisitorView{}, false
}

// DisconnectVisitor forgets a visitor connection.
func (e *Engine) DisconnectVisitor(v Visitor, s Sink) {
	t := e.lockLoaded(v.Tenant)
	if t == nil {
		return
	}
	defer e.unlock(t)
	set := slices.DeleteFunc(t.visitors[v.Conversation], func(x Sink) bool { return x == s })
	if len(set) == 0 {
		delete(t.visitors, v.Conversation)
		// The agents learn that the visitor has no page with the chat open
		// (gone, or between two pages: the desk waits a moment to say so).
		if cv := t.convs[v.Conversation]; cv != nil {
			e.toAgents(cv, Event{Type: "visitor", Conversation: cv.c.ID, Data: map[string]bool{"online": false}})
		}
	} else {
		t.visitors[v.Conversation] = set
	}
}

// VisitorSend stores a visitor's message; it may answer the pre-chat
// question or reopen a chat on hold.
func (e *Engine) VisitorSend(ctx context.Context, v Visitor, m Message) (Message, error) {
	wait, err := e.VisitorPost(ctx, v, m)
	if err != nil {
		return Message{}, err
	}
	return wait(ctx)
}

// VisitorPost queues a visitor's message and returns the wait for its
// commit (see Log.Queue: a connection queues in order without waiting).
func (e *Engine) VisitorPost(ctx context.Context, v Visitor, m Message) (func(context.Context) (Message, error), error) {
	t, err := e.lock(ctx, v.Tenant)
	if err != nil {
		return nil, err
	}
	cv, err := e.loaded(t, v)
	if err == nil && (cv.c.Status == StatusOffline || cv.c.Status == StatusClosed) {
		err = fmt.Errorf("%w: nobody is answering; leave a message", ErrState)
	}
	e.unlock(t)
	if err != nil {
		return nil, err
	}
	if m.Kind != KindText && m.Kind != "" && m.Kind != KindFile {
		return nil, fmt.Errorf("%w: visitors send text or files", ErrInvalid)
	}
	m.ConversationID, m.Sender, m.Audience = v.Conversation, Sender{Kind: "visitor", ID: v.ID}, AudienceAll
	if m.Kind == KindFile {
		if err := e.fileMessage(ctx, v.Tenant, v.Conversation, &m); err != nil {
			return nil, err
		}
	}
	p, err := e.log.Queue(ctx, v.Tenant, m)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (Message, error) {
		out, err := p.Wait(ctx)
		if err != nil {
			return Message{}, err
		}
		// The message is committed: what it starts (the pre-chat answer,
		// the way back from hold) happens even if its sender has gone.
		ctx = context.WithoutCancel(ctx)
		var last string
		var ns []notice
		t.mu.Lock()
		if cv, err := e.loaded(t, v); err == nil && cv.c.Status == StatusBot && t.routesToLastAgent() {
			// A pre-chat answer may lead to a queue that routes to the
			// visitor's last agent: read it with the lock let go (rare: once
			// a chat), then look again.
			e.unlock(t)
			last, _ = e.st.LastAgent(ctx, v.Site, v.ID)
			t.mu.Lock()
		}
		if cv, err := e.loaded(t, v); err == nil {
			switch cv.c.Status {
			case StatusBot:
				ns = e.answerPrechat(ctx, cv, out.Text, last)
			case StatusHold:
				cv.prefer, cv.held = cv.c.LastAgentID, true
				if q := cv.t.queues[cv.c.QueueID]; q != nil {
					ns = e.enqueue(ctx, cv, q)
				} else if q := cv.t.defaultQueue(); q != nil {
					ns = e.enqueue(ctx, cv, q)
				}
			}
		}
		e.unlock(t)
		e.post(ctx, ns)
		return out, nil
	}, nil
}

func (e *Engine) answerPrechat(ctx context.Context, cv *conv, answer, last string) []notice {
	p := cv.t.settings.Prechat
	if p == nil {
		if q := cv.t.defaultQueue(); q != nil {
			return e.enqueue(ctx, cv, q)
		}
		return e.goOffline(ctx, cv)
	}
	for _, o := range p.Options {
		if strings.EqualFold(strings.TrimSpace(answer), o.Label) {
			q := cv.t.queues[o.Queue]
			if q == nil {
				q = cv.t.defaultQueue()
			}
			if q == nil {
				return e.goOffline(ctx, cv)
			}
			var meta map[string]any
			json.Unmarshal(cv.c.Metadata, &meta)
			if meta == nil {
				meta = map[string]any{}
			}
			meta["topic"] = o.Label
			cv.c.Metadata, _ = json.Marshal(meta)
			if q.cfg.Routing == LastAgent {
				cv.prefer = last
			}
			return e.enqueue(ctx, cv, q)
		}
	}
	return e.askPrechat(cv)
}

// VisitorTyping tells the agents the visitor is typing, with a preview of
// the text (masked as a message would be).
func (e *Engine) VisitorTyping(v Visitor, preview string) {
	if !utf8.ValidString(preview) {
		return
	}
	if r := []rune(preview); len(r) > 200 {
		preview = string(r[len(r)-200:])
	}
	t := e.lockLoaded(v.Tenant)
	if t == nil {
		return
	}
	defer e.unlock(t)
	cv, err := e.loaded(t, v)
	if err != nil {
		return
	}
	preview = cv.t.redactor.Text(preview)
	e.toAgents(cv, Event{Type: "typing", Conversation: cv.c.ID, Data: map[string]any{"from": "visitor", "preview": preview}})
}

// VisitorRead records how far the visitor has read.
func (e *Engine) VisitorRead(v Visitor, seq int64) {
	t := e.lockLoaded(v.Tenant)
	if t == nil {
		return
	}
	defer e.unlock(t)
	cv, err := e.loaded(t, v)
	if err != nil || seq <= cv.readVisitor || seq > cv.c.LastSeq+1<<20 {
		return
	}
	cv.readVisitor = seq
	e.toAgents(cv, Event{Type: "read", Conversation: cv.c.ID, Data: map[string]any{"by": "visitor", "seq": seq}})
}

// VisitorPage records the page the visitor is on now (they moved on the
// site with the chat open): the agents' context follows them, and canned
// responses use it. The page before joins the visited pages.
func (e *Engine) VisitorPage(ctx context.Context, v Visitor, p PageMeta) error {
	m := Meta{Page: &p}
	if err := m.Validate(); err != nil {
		return err
	}
	if p.URL == "" {
		return fmt.Errorf("%w: page: a url", ErrInvalid)
	}
	return e.updateMetadata(ctx, v, func(doc map[string]any, _ *store.Conversation) (bool, error) {
		if old, ok := doc["page"].(map[string]any); ok {
			if old["url"] == p.URL {
				return false, nil
			}
			pages, _ := doc["pages"].([]any)
			doc["pages"] = append([]any{old}, pages[:min(len(pages), 19)]...)
		}
		doc["page"] = p
		return true, nil
	})
}

// updateMetadata changes a visitor's open conversation's metadata with
// change (which reports whether it changed anything), stores it and shows
// the agents the new state.
func (e *Engine) updateMetadata(ctx context.Context, v Visitor, change func(doc map[string]any, c *store.Conversation) (bool, error)) error {
	t, err := e.lock(ctx, v.Tenant)
	if err != nil {
		return err
	}
	defer e.unlock(t)
	cv, err := e.loaded(t, v)
	if err != nil {
		return err
	}
	var doc map[string]any
	json.Unmarshal(cv.c.Metadata, &doc)
	if doc == nil {
		doc = map[string]any{}
	}
	if changed, err := change(doc, &cv.c); err != nil || !changed {
		return err
	}
	cv.c.Metadata, _ = json.Marshal(doc)
	e.save(ctx, cv)
	e.toAgents(cv, e.stateEvent(cv, false))
	return nil
}

// VisitorAbout adds what the page said of the visitor after the chat
// started: custom variables (merged, at most 50) and a verified identity
// (the caller checked its signature). Agents see it at once.
func (e *Engine) VisitorAbout(ctx context.Context, v Visitor, vars map[string]string, id *Identity) error {
	m := Meta{Vars: vars, Identity: id}
	if err := m.Validate(); err != nil {
		return err
	}
	if id != nil && !id.Verified {
		return fmt.Errorf("%w: identity: not verified", ErrInvalid)
	}
	fp, err := e.fingerprint(ctx, v.Tenant, id)
	if err != nil {
		return err
	}
	return e.updateMetadata(ctx, v, func(doc map[string]any, c *store.Conversation) (bool, error) {
		if len(vars) > 0 {
			all, _ := doc["vars"].(map[string]any)
			if all == nil {
				all = map[string]any{}
			}
			for k, s := range vars {
				all[k] = s
			}
			if len(all) > 50 {
				return false, fmt.Errorf("%w: vars: at most 50 in a chat", ErrInvalid)
			}
			doc["vars"] = all
		}
		if id != nil {
			doc["identity"] = id
			c.Identity = fp
		}
		return true, nil
	})
}

// fingerprint is the identity column of a conversation whose visitor is id
// (see IdentityFingerprint), computed before the engine's lock is taken (the
// tenant's key may need the store).
func (e *Engine) fingerprint(ctx context.Context, tenant string, id *Identity) (string, error) {
	if e.log.ring == nil {
		return "", nil
	}
	return IdentityFingerprint(ctx, e.log.ring, tenant, id)
}

// IdentityFingerprint is what a conversation's identity column holds for a
// visitor the site identified as id: the keyed fingerprint of a verified
// user id, else "" (an unverified identity links nothing).
func IdentityFingerprint(ctx context.Context, ring *keys.Ring, tenant string, id *Identity) (string, error) {
	if id == nil || !id.Verified || id.ID == "" {
		return "", nil
	}
	return ring.Blind(ctx, tenant, "identity", id.ID)
}

// ContinueVerified finds the open conversation on a site of a visitor whose
// identity a visitor token proved (a chat begun on another device, or on an
// earlier page of a site that keeps no chat token in the browser): the
// newest, if there are several.
func (e *Engine) ContinueVerified(ctx context.Context, site store.Site, id *Identity) (Visitor, error) {
	fp, err := e.fingerprint(ctx, site.TenantID, id)
	if err != nil {
		return Visitor{}, err
	}
	if fp == "" {
		return Visitor{}, fmt.Errorf("%w: the visitor is not verified", ErrNotFound)
	}
	t, err := e.lock(ctx, site.TenantID)
	if err != nil {
		return Visitor{}, err
	}
	defer e.unlock(t)
	var best *conv
	for _, cv := range t.convs {
		if cv.c.SiteID == site.ID && cv.c.Identity == fp && cv.c.Status != StatusClosed && (best == nil || cv.c.ID > best.c.ID) {
			best = cv
		}
	}
	if best == nil {
		return Visitor{}, fmt.Errorf("%w: no open chat of this visitor", ErrNotFound)
	}
	return Visitor{Tenant: site.TenantID, Site: site.ID, ID: best.c.Visitor, Conversation: best.c.ID}, nil
}

// VisitorClose ends the chat at the visitor's request.
func (e *Engine) VisitorClose(ctx context.Context, v Visitor) error {
	t, err := e.lock(ctx, v.Tenant)
	if err != nil {
		return err
	}
	cv, err := e.loaded(t, v)
	e.unlock(t)
	if err != nil {
		return err
	}
	e.closeConv(ctx, cv, "visitor", "", nil, "visitor")
	return nil
}

// LeaveMessage stores the offline form and closes the conversation.
func (e *Engine) LeaveMessage(ctx context.Context, v Visitor, name, email, text string) error {
	t, err := e.lock(ctx, v.Tenant)
	if err != nil {
		return err
	}
	cv, err := e.loaded(t, v)
	if err == nil && cv.c.Status != StatusOffline {
		err = fmt.Errorf("%w: the offline form is for chats nobody could answer", ErrState)
	}
	e.unlock(t)
	if err != nil {
		return err
	}
	name, email = strings.TrimSpace(name), strings.TrimSpace(email)
	if len(name) > 200 || len(email) > 320 || !utf8.ValidString(name+email) || (email != "" && !strings.Contains(email, "@")) {
		return fmt.Errorf("%w: name (at most 200 bytes) and email address", ErrInvalid)
	}
	payload, _ := json.Marshal(map[string]string{"name": name, "email": email})
	if _, err := e.log.Append(ctx, v.Tenant, Message{ConversationID: v.Conversation, Sender: Sender{Kind: "visitor", ID: v.ID},
		Kind: KindForm, Text: text, Payload: payload}); err != nil {
		return err
	}
	e.closeConv(ctx, cv, "offline_message", "", nil, "visitor")
	return nil
}

// Rate records the visitor's answer to the satisfaction question (1 to 5),
// once, within a day of the close.
func (e *Engine) Rate(ctx context.Context, v Visitor, score int) error {
	if score < 1 || score > 5 {
		return fmt.Errorf("%w: a rating is 1 to 5", ErrInvalid)
	}
	e.log.Flush() // the close may still be on its way to the disk
	t, err := e.lock(ctx, v.Tenant)
	if err != nil {
		return err
	}
	asked := t.settings.CSAT
	e.unlock(t)
	// Once, within a day of the close: the store decides, so that two
	// ratings sent at once do not both count.
	if !asked {
		return fmt.Errorf("%w: this chat cannot be rated", ErrState)
	}
	ok, err := e.st.RateConversation(ctx, v.Tenant, v.Conversation, score, e.now().Add(-24*time.Hour))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: this chat cannot be rated", ErrState)
	}
	return nil
}

// VisitorHistory returns what the visitor may read after seq.
func (e *Engine) VisitorHistory(ctx context.Context, v Visitor, after int64, limit int) ([]Message, error) {
	return e.history(ctx, v.Tenant, v.Conversation, after, limit, true)
}

// VisitorResume is what a page that saw up to after lacks, at most limit
// messages. With afterID it checks that the page's message at after is the
// stored one: a message shown while committed may have been lost by a
// crash, or retracted while the page was away, and its seq given to another
// since. Then the page gets the whole conversation, to show instead (reset).
func (e *Engine) VisitorResume(ctx context.Context, v Visitor, after int64, afterID string, limit int) (ms []Message, reset bool, err error) {
	if after <= 0 || afterID == "" {
		ms, err = e.VisitorHistory(ctx, v, max(after, 0), limit)
		return ms, false, err
	}
	if ms, err = e.VisitorHistory(ctx, v, after-1, limit+1); err != nil {
		return nil, false, err
	}
	if len(ms) > 0 && ms[0].Seq == after && ms[0].ID == afterID {
		return ms[1:], false, nil
	}
	ms, err = e.VisitorHistory(ctx, v, 0, limit)
	return ms, true, err
}

// CloseVisitor closes a site's visitor's open conversations before they are
// erased: those of any of the visitor ids, and those whose verified identity
// has the fingerprint identity (when not ""). Their agents let them go and
// the visitor is told (reason erased).
func (e *Engine) CloseVisitor(ctx context.Context, tenant, siteID string, visitors []string, identity string) {
	e.closeWhere(ctx, tenant, "erased", func(c *store.Conversation) bool {
		return c.TenantID == tenant && c.SiteID == siteID &&
			(slices.Contains(visitors, c.Visitor) || identity != "" && c.Identity == identity)
	})
}

// CloseSite closes a site's open conversations before the site is deleted:
// their agents let them go and their visitors are told (reason
// site_deleted), instead of chats that fail at their next message.
func (e *Engine) CloseSite(ctx context.Context, tenant, siteID string) {
	e.closeWhere(ctx, tenant, "site_deleted", func(c *store.Conversation) bool { return c.TenantID == tenant && c.SiteID == siteID })
}

// closeWhere closes the open conversations that match, then waits for the
// log: what was queued for them commits first, and what comes after finds
// them gone.
func (e *Engine) closeWhere(ctx context.Context, tenant string, reason string, match func(*store.Conversation) bool) {
	var open []*conv
	if t := e.inMemory(tenant); t != nil {
		t.mu.Lock()
		for _, cv := range t.convs {
			if match(&cv.c) {
				open = append(open, cv)
			}
		}
		e.unlock(t)
	}
	for _, cv := range open {
		e.closeConv(ctx, cv, reason, "", nil, "")
	}
	e.log.Flush()
}
