package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nudgehq/nudge/store"
)

// VisitorView is a conversation as its visitor sees it: no internal state,
// only the names of the agents they talk to.
type VisitorView struct {
	ID      string   `json:"id"`
	Status  string   `json:"status"`
	LastSeq int64    `json:"last_seq"`
	Agents  []string `json:"agents"`
	Read    int64    `json:"read"` // the agents have read up to this seq
	CSAT    *int     `json:"csat,omitempty"`
}

// View is a conversation as agents and supervisors see it.
type View struct {
	ID            string            `json:"id"`
	Status        string            `json:"status"`
	SiteID        string            `json:"site_id"`
	Visitor       string            `json:"visitor"`
	Queue         *Ref              `json:"queue"`
	Agent         *Ref              `json:"agent"`
	Participants  []ParticipantView `json:"participants"`
	Metadata      json.RawMessage   `json:"metadata"`
	LastSeq       int64             `json:"last_seq"`
	ReadByVisitor int64             `json:"read_by_visitor"`
	CreatedAt     time.Time         `json:"created_at"`
	QueuedAt      *time.Time        `json:"queued_at"`
}

// Ref names a queue or a user.
type Ref struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ParticipantView is someone in a conversation.
type ParticipantView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

func (e *Engine) view(cv *conv) View {
	v := View{ID: cv.c.ID, Status: cv.c.Status, SiteID: cv.c.SiteID, Visitor: cv.c.Visitor, Metadata: cv.c.Metadata,
		LastSeq: cv.c.LastSeq, ReadByVisitor: cv.readVisitor, CreatedAt: cv.c.CreatedAt, QueuedAt: cv.c.QueuedAt,
		Participants: []ParticipantView{}}
	if q := cv.t.queues[cv.c.QueueID]; q != nil {
		v.Queue = &Ref{ID: q.id, Name: q.name}
	}
	if cv.c.AgentID != "" {
		v.Agent = &Ref{ID: cv.c.AgentID, Name: e.name(context.Background(), cv.c.AgentID)}
	}
	for _, p := range cv.parts {
		v.Participants = append(v.Participants, ParticipantView{ID: p.user, Name: e.name(context.Background(), p.user), Role: p.role})
	}
	slices.SortFunc(v.Participants, func(a, b ParticipantView) int { return strings.Compare(a.ID, b.ID) })
	return v
}

func (e *Engine) visitorView(cv *conv) VisitorView {
	v := VisitorView{ID: cv.c.ID, Status: cv.c.Status, LastSeq: cv.c.LastSeq, Read: cv.readAgent, Agents: []string{}, CSAT: cv.c.CSAT}
	for _, p := range cv.parts {
		if n := e.displayName(context.Background(), p.user); n != "" && (p.role == RoleOwner || p.role == RoleConference) {
			v.Agents = append(v.Agents, n)
		}
	}
	slices.Sort(v.Agents)
	return v
}

func (e *Engine) stateEvent(cv *conv, forVisitor bool) Event {
	if forVisitor {
		return Event{Type: "state", Conversation: cv.c.ID, Data: e.visitorView(cv)}
	}
	return Event{Type: "state", Conversation: cv.c.ID, Data: e.view(cv)}
}

// changed tells everyone in a conversation its new state.
func (e *Engine) changed(cv *conv) {
	e.toVisitor(cv, e.stateEvent(cv, true))
	e.toAgents(cv, e.stateEvent(cv, false))
}

// AgentSnapshot is what an agent's connection starts from.
type AgentSnapshot struct {
	Presence string `json:"presence"`
	Chats    []View `json:"chats"`  // assigned to them, or joined
	Offers   []View `json:"offers"` // waiting for their answer
	// PendingOffers are those offers as the offer event gives them: kind,
	// expiry (a desk counts down), who transfers or invites, the note.
	PendingOffers []map[string]any `json:"pending_offers"`
	// Queues are those their profile lets them work; Working those they
	// chose now (empty: all of them).
	Queues  []Ref    `json:"queues"`
	Working []string `json:"working"`
}

// ConnectAgent registers an agent's connection and sets their presence.
func (e *Engine) ConnectAgent(ctx context.Context, a Agent, s Sink, presence string) (AgentSnapshot, error) {
	if presence != "" && presence != Available && presence != Away {
		return AgentSnapshot{}, fmt.Errorf("%w: presence is available or away", ErrInvalid)
	}
	if a.Name != "" {
		e.people.set(a.User, a.Name, "")
	}
	e.people.setAvatar(a.User, a.Avatar)
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return AgentSnapshot{}, err
	}
	defer e.unlock(t)
	ag := e.agent(t, a.User)
	if presence == "" {
		// No status asked: another tab keeps the one chosen there; a person
		// starts away until they choose (a supervisor signing in is not
		// handed chats); a bot is there to answer.
		switch {
		case len(ag.sinks) > 0:
			presence = ag.presence
		case a.Bot:
			presence = Available
		default:
			presence = Away
		}
	}
	ag.bot, ag.sinks[s], ag.goneAt = a.Bot, true, time.Time{}
	if a.Name != "" {
		ag.name = a.Name
	}
	if ag.presence == presence {
		e.route(t) // a new connection of an available agent can take chats
	} else {
		e.setPresence(t, ag, presence)
	}
	snap := AgentSnapshot{Presence: ag.presence, Chats: []View{}, Offers: []View{}, PendingOffers: []map[string]any{}, Queues: []Ref{}, Working: []string{}}
	for _, id := range t.order {
		if q := t.queues[id]; e.allowed(t, ag, q) {
			snap.Queues = append(snap.Queues, Ref{ID: q.id, Name: q.name})
		}
		if ag.working[id] {
			snap.Working = append(snap.Working, id)
		}
	}
	for _, cv := range t.convs {
		if cv.parts.role(a.User) != "" {
			snap.Chats = append(snap.Chats, e.view(cv))
		}
		if cv.offer != nil && cv.offer.to == a.User {
			snap.Offers = append(snap.Offers, e.view(cv))
			snap.PendingOffers = append(snap.PendingOffers, e.offerData(cv))
		}
	}
	return snap, nil
}

// DisconnectAgent forgets a connection; an agent with none left is offline
// and their offers go to others.
func (e *Engine) DisconnectAgent(a Agent, s Sink) {
	t := e.lockLoaded(a.Tenant)
	if t == nil {
		return
	}
	defer e.unlock(t)
	ag := t.agents[a.User]
	if ag == nil {
		return
	}
	delete(ag.sinks, s)
	if w := t.live; w != nil {
		delete(w.sinks, s)
	}
	if len(ag.sinks) == 0 {
		ag.goneAt = e.now()
		e.setPresence(t, ag, Offline)
	}
}

// SetWorking chooses the queues an agent works now, among those their
// profile allows; none: all of those. Chats are offered accordingly at once.
// A queue they may not work is refused, or with lenient (a desk signing in
// with the choice it remembers) left out.
func (e *Engine) SetWorking(ctx context.Context, a Agent, queues []string, lenient bool) error {
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	defer e.unlock(t)
	ag := e.agent(t, a.User)
	working := map[string]bool{}
	for _, id := range queues {
		q := t.queues[id]
		if q == nil || !e.allowed(t, ag, q) {
			if lenient {
				continue
			}
			return fmt.Errorf("%w: queue %s: not one you may work", ErrInvalid, id)
		}
		working[id] = true
	}
	ag.working = working
	e.route(t)
	return nil
}

// SetPresence changes an agent's presence (available or away).
func (e *Engine) SetPresence(ctx context.Context, a Agent, presence string) error {
	if presence != Available && presence != Away {
		return fmt.Errorf("%w: presence is available or away", ErrInvalid)
	}
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	defer e.unlock(t)
	e.setPresence(t, e.agent(t, a.User), presence)
	return nil
}

func (e *Engine) setPresence(t *tenant, ag *agent, presence string) {
	if ag.presence == presence {
		return
	}
	was := ag.presence
	ag.presence, ag.since = presence, e.now()
	if presence == Available && was != Available {
		ag.idleSince = e.now()
		// Back at the desk: the chats they let go may be offered to them again.
		for _, q := range t.queues {
			for _, cv := range q.waiting {
				delete(cv.tried, ag.key.user)
			}
		}
	}
	if presence != Available {
		for id := range ag.offers {
			if cv := t.convs[id]; cv != nil && cv.offer != nil {
				if cv.offer.kind == "assign" {
					e.withdraw(cv, false)
					e.try(cv, ag.key.user)
				} else {
					e.inviteEnded(cv, "unavailable")
				}
			}
		}
	}
	ag.send(Event{Type: "presence", Data: map[string]string{"status": presence}})
	e.route(t)
}

// agentConv returns a conversation an agent may act on: one they are in,
// or (supervisors) any of their tenant. Callers hold t.mu.
func (e *Engine) agentConv(t *tenant, a Agent, id string) (*conv, string, error) {
	cv := t.convs[id]
	if cv == nil || cv.c.TenantID != a.Tenant {
		return nil, "", ErrNotFound
	}
	role := cv.parts.role(a.User)
	if role == "" && !a.Supervise && (cv.offer == nil || cv.offer.to != a.User) {
		return nil, "", ErrForbidden
	}
	return cv, role, nil
}

// offered returns a conversation offered to the agent. Callers hold t.mu.
func (e *Engine) offered(t *tenant, a Agent, id string) (*conv, error) {
	cv := t.convs[id]
	if cv == nil || cv.c.TenantID != a.Tenant {
		return nil, ErrNotFound
	}
	if cv.offer == nil || cv.offer.to != a.User {
		return nil, fmt.Errorf("%w: no offer of this chat is waiting for you", ErrState)
	}
	return cv, nil
}

// Accept takes the chat (or transfer, conference, consult) offered to the agent.
func (e *Engine) Accept(ctx context.Context, a Agent, id string) error {
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	cv, err := e.offered(t, a, id)
	if err != nil {
		e.unlock(t)
		return err
	}
	o := cv.offer
	cv.offer = nil
	ag := e.agent(t, a.User)
	delete(ag.offers, id)
	name := e.publicName(ctx, a.User)
	var ns []notice
	switch o.kind {
	case "assign", "transfer":
		if o.kind == "assign" {
			e.unqueue(cv)
		} else if old := t.agents[o.from]; old != nil {
			delete(old.chats, id)
			old.idleSince = e.now()
			old.send(Event{Type: "removed", Conversation: id})
			e.setParticipant(ctx, cv, o.from, RoleOwner, true)
		}
		ns = append(ns, e.assign(ctx, cv, ag, name)...)
		if o.kind == "assign" {
			// The tenant's own systems get the name colleagues see, not the visitor's.
			e.event(cv, "conversation.assigned", map[string]any{"agent": map[string]string{"id": a.User, "name": e.name(ctx, a.User)}})
		} else {
			e.event(cv, "conversation.transferred", map[string]any{"from": o.from, "to": map[string]string{"id": a.User, "name": e.name(ctx, a.User)}})
		}
		if o.note != "" {
			ns = append(ns, notice{tenant: a.Tenant, conv: id, audience: AudienceAgents, event: "transfer_note",
				text: o.note, data: map[string]any{"from": o.from}})
		}
		e.route(cv.t) // a transfer freed the old agent's slot
	case RoleConference, RoleConsult:
		e.setParticipant(ctx, cv, a.User, o.kind, false)
		audience := AudienceAll
		if o.kind == RoleConsult {
			audience = AudienceAgents
		}
		ns = append(ns, notice{tenant: a.Tenant, conv: id, audience: audience, event: "joined", text: name + " joined the chat.",
			data: map[string]any{"name": name, "role": o.kind}})
	}
	e.changed(cv)
	e.unlock(t)
	e.post(ctx, ns)
	return nil
}

// assign makes ag the chat's agent. Callers hold t.mu and post the notice.
func (e *Engine) assign(ctx context.Context, cv *conv, ag *agent, name string) []notice {
	now := e.now()
	user := ag.key.user
	cv.c.Status, cv.c.AgentID, cv.c.LastAgentID, cv.prefer, cv.held = StatusAssigned, user, user, "", false
	if cv.c.AssignedAt == nil {
		cv.c.AssignedAt = &now
	}
	cv.lastIn, cv.lastOut, cv.warned = now, now, false
	ag.chats[cv.c.ID] = true
	ag.idleSince = now
	e.setParticipant(ctx, cv, user, RoleOwner, false)
	e.save(ctx, cv)
	return []notice{{tenant: cv.c.TenantID, conv: cv.c.ID, audience: AudienceAll, event: "joined", text: name + " joined the chat.",
		data: map[string]any{"name": name, "role": RoleOwner}}}
}

// Assign gives a waiting chat (queued, or still with the pre-chat bot) to an
// agent at a supervisor's word: to themselves (take) or to a colleague who is
// connected, whatever their capacity (the supervisor decides). A pending
// offer of the chat is withdrawn.
func (e *Engine) Assign(ctx context.Context, a Agent, id, to string) error {
	if !a.Supervise {
		return fmt.Errorf("%w: only supervisors assign chats", ErrForbidden)
	}
	if to == "" {
		to = a.User
	}
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	cv := t.convs[id]
	var ag *agent
	switch {
	case cv == nil || cv.c.TenantID != a.Tenant:
		err = ErrNotFound
	case cv.c.Status != StatusQueued && cv.c.Status != StatusBot:
		err = fmt.Errorf("%w: only a chat waiting for an agent can be assigned; this one is %s", ErrState, cv.c.Status)
	default:
		ag = t.agents[to]
		if ag == nil || len(ag.sinks) == 0 || ag.bot {
			err = fmt.Errorf("%w: that agent is not connected", ErrState)
		}
	}
	if err != nil {
		e.unlock(t)
		return err
	}
	e.unqueue(cv)
	if cv.offer != nil {
		e.inviteEnded(cv, "closed")
	}
	name := e.publicName(ctx, to)
	ns := e.assign(ctx, cv, ag, name)
	e.event(cv, "conversation.assigned", map[string]any{"agent": map[string]string{"id": to, "name": e.name(ctx, to)}, "by": a.User})
	ag.send(e.stateEvent(cv, false))
	e.changed(cv)
	e.route(cv.t)
	e.unlock(t)
	e.post(ctx, ns)
	return nil
}

// Decline passes on an offer: the chat goes to the next agent, an
// invitation or transfer back to whoever made it.
func (e *Engine) Decline(ctx context.Context, a Agent, id string) error {
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	defer e.unlock(t)
	cv, err := e.offered(t, a, id)
	if err != nil {
		return err
	}
	if cv.offer.kind == "assign" {
		e.withdraw(cv, false)
		e.try(cv, a.User)
	} else {
		e.inviteEnded(cv, "declined")
	}
	e.route(cv.t) // the declined offer held one of the agent's slots
	return nil
}

// inviteEnded ends a transfer or invitation that was not accepted and tells
// its author.
func (e *Engine) inviteEnded(cv *conv, why string) []notice {
	o := cv.offer
	cv.offer = nil
	if ag := cv.t.agents[o.to]; ag != nil {
		delete(ag.offers, cv.c.ID)
		ag.send(Event{Type: "offer_revoked", Conversation: cv.c.ID})
	}
	if from := cv.t.agents[o.from]; from != nil {
		from.send(Event{Type: "invite_ended", Conversation: cv.c.ID, Data: map[string]string{"kind": o.kind, "to": o.to, "reason": why}})
	}
	return nil
}

// AgentSend stores an agent's (or bot's) message. Consultants and
// supervisors who monitor write to the agents only (a whisper); others
// choose (AudienceAgents is an internal note).
func (e *Engine) AgentSend(ctx context.Context, a Agent, id string, m Message) (Message, error) {
	p, err := e.AgentPost(ctx, a, id, m)
	if err != nil {
		return Message{}, err
	}
	return p.Wait(ctx)
}

// AgentPost queues an agent's message (see AgentSend) and returns it pending.
func (e *Engine) AgentPost(ctx context.Context, a Agent, id string, m Message) (*Pending, error) {
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return nil, err
	}
	cv, role, err := e.agentConv(t, a, id)
	if err == nil && role == "" {
		err = fmt.Errorf("%w: join the chat first", ErrForbidden)
	}
	if err == nil && cv.c.Status != StatusAssigned && cv.c.Status != StatusHold {
		err = fmt.Errorf("%w: the chat is %s", ErrState, cv.c.Status)
	}
	e.unlock(t)
	if err != nil {
		return nil, err
	}
	if m.Kind == KindSystem || m.Kind == KindForm {
		return nil, fmt.Errorf("%w: kind %q", ErrInvalid, m.Kind)
	}
	if role == RoleConsult || role == RoleMonitor {
		m.Audience = AudienceAgents
	}
	kind := "agent"
	if a.Bot {
		kind = "bot"
	}
	m.ConversationID, m.Sender = id, Sender{Kind: kind, ID: a.User}
	if m.Kind == KindFile {
		if err := e.fileMessage(ctx, a.Tenant, id, &m); err != nil {
			return nil, err
		}
	}
	return e.log.Queue(ctx, a.Tenant, m)
}

// Transfer hands the chat to another agent (offered to them; the chat stays
// with the current agent until they accept) or to a queue (at once).
func (e *Engine) Transfer(ctx context.Context, a Agent, id, toAgent, toQueue, note string) error {
	if len(note) > 1000 || !utf8.ValidString(note) || (toAgent == "") == (toQueue == "") {
		return fmt.Errorf("%w: transfer to one agent or one queue, with a note of at most 1000 bytes", ErrInvalid)
	}
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	cv, role, err := e.agentConv(t, a, id)
	if err == nil && role != RoleOwner && !a.Supervise {
		err = fmt.Errorf("%w: only the chat's agent transfers it", ErrForbidden)
	}
	if err == nil && (cv.c.Status != StatusAssigned || cv.offer != nil) {
		err = fmt.Errorf("%w: only an assigned chat without a pending invitation can be transferred", ErrState)
	}
	if err != nil {
		e.unlock(t)
		return err
	}
	var ns []notice
	if toQueue != "" {
		q := cv.t.queues[toQueue]
		if q == nil {
			e.unlock(t)
			return fmt.Errorf("%w: no such queue", ErrInvalid)
		}
		if note != "" {
			ns = append(ns, notice{tenant: a.Tenant, conv: id, audience: AudienceAgents, event: "transfer_note", text: note,
				data: map[string]any{"from": a.User}})
		}
		if ag := t.agents[cv.c.AgentID]; ag != nil {
			delete(ag.chats, id)
			ag.idleSince = e.now()
			ag.send(Event{Type: "removed", Conversation: id})
		}
		for _, p := range slices.Clone(cv.parts) {
			if p.role != RoleMonitor {
				e.setParticipant(ctx, cv, p.user, p.role, true)
			}
		}
		cv.c.AgentID = ""
		e.event(cv, "conversation.transferred", map[string]any{"from": a.User, "queue": q.id})
		ns = append(ns, notice{tenant: a.Tenant, conv: id, audience: AudienceAll, event: "transferred",
			text: "You are being transferred. Please wait a moment.", data: map[string]any{"queue": q.id}})
		ns = append(ns, e.enqueue(ctx, cv, q)...)
		e.changed(cv)
		e.unlock(t)
		e.post(ctx, ns)
		return nil
	}
	err = e.invite(cv, a, toAgent, "transfer", note)
	e.unlock(t)
	return err
}

func (e *Engine) invite(cv *conv, a Agent, to, kind, note string) error {
	if to == a.User {
		return fmt.Errorf("%w: not to yourself", ErrInvalid)
	}
	if cv.parts.role(to) != "" {
		return fmt.Errorf("%w: already in the chat", ErrState)
	}
	ag := cv.t.agents[to]
	if ag == nil || ag.presence != Available || len(ag.sinks) == 0 {
		return fmt.Errorf("%w: that agent is not available", ErrState)
	}
	from := a.User
	if kind == "transfer" {
		from = cv.c.AgentID
	}
	timeout := 30
	if q := cv.t.queues[cv.c.QueueID]; q != nil {
		timeout = q.cfg.OfferTimeout
	}
	e.offer(cv, &offer{kind: kind, to: to, from: from, note: note, expires: e.now().Add(time.Duration(timeout) * time.Second)})
	return nil
}

// Invite asks another agent to join: conference (the visitor sees them) or
// consult (the visitor does not).
func (e *Engine) Invite(ctx context.Context, a Agent, id, to, mode, note string) error {
	if (mode != RoleConference && mode != RoleConsult) || len(note) > 1000 || !utf8.ValidString(note) {
		return fmt.Errorf("%w: mode is conference or consult; note at most 1000 bytes", ErrInvalid)
	}
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	defer e.unlock(t)
	cv, role, err := e.agentConv(t, a, id)
	if err == nil && role != RoleOwner {
		err = fmt.Errorf("%w: only the chat's agent invites", ErrForbidden)
	}
	if err == nil && (cv.c.Status != StatusAssigned || cv.offer != nil) {
		err = fmt.Errorf("%w: only an assigned chat without a pending invitation", ErrState)
	}
	if err != nil {
		return err
	}
	return e.invite(cv, a, to, mode, note)
}

// Leave takes a second agent, consultant or supervisor out of a chat. The
// chat's own agent transfers, holds or closes instead.
func (e *Engine) Leave(ctx context.Context, a Agent, id string) error {
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	cv, role, err := e.agentConv(t, a, id)
	if err == nil && (role == "" || role == RoleOwner) {
		err = fmt.Errorf("%w: the chat's agent transfers, holds or closes it", ErrState)
	}
	if err != nil {
		e.unlock(t)
		return err
	}
	e.setParticipant(ctx, cv, a.User, role, true)
	e.agent(t, a.User).send(Event{Type: "removed", Conversation: id})
	name := e.publicName(ctx, a.User)
	var ns []notice
	switch role {
	case RoleConference:
		ns = append(ns, notice{tenant: a.Tenant, conv: id, audience: AudienceAll, event: "left", text: name + " left the chat.", data: map[string]any{"name": name}})
	case RoleConsult:
		ns = append(ns, notice{tenant: a.Tenant, conv: id, audience: AudienceAgents, event: "left", text: name + " left the chat.", data: map[string]any{"name": name}})
	}
	e.changed(cv)
	e.unlock(t)
	e.post(ctx, ns)
	return nil
}

// Monitor lets a supervisor listen to a chat silently.
func (e *Engine) Monitor(ctx context.Context, a Agent, id string) error {
	if !a.Supervise {
		return ErrForbidden
	}
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	defer e.unlock(t)
	cv, role, err := e.agentConv(t, a, id)
	if err != nil {
		return err
	}
	if role != "" {
		return fmt.Errorf("%w: already in the chat", ErrState)
	}
	if cv.c.Status == StatusClosed {
		return fmt.Errorf("%w: the chat is closed", ErrState)
	}
	e.setParticipant(ctx, cv, a.User, RoleMonitor, false)
	e.agent(t, a.User).send(e.stateEvent(cv, false))
	return nil
}

// Barge turns a monitoring supervisor into a visible participant.
func (e *Engine) Barge(ctx context.Context, a Agent, id string) error {
	if !a.Supervise {
		return ErrForbidden
	}
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	cv, role, err := e.agentConv(t, a, id)
	if err == nil && role != RoleMonitor {
		err = fmt.Errorf("%w: monitor the chat first", ErrState)
	}
	if err == nil && (cv.c.Status == StatusQueued || cv.c.Status == StatusBot) {
		// Nobody to join: barging into a waiting chat takes it.
		e.unlock(t)
		return e.Assign(ctx, a, id, a.User)
	}
	if err == nil && cv.c.Status != StatusAssigned {
		err = fmt.Errorf("%w: the chat is %s: there is no conversation to join", ErrState, cv.c.Status)
	}
	if err != nil {
		e.unlock(t)
		return err
	}
	e.setParticipant(ctx, cv, a.User, RoleConference, false)
	name := e.publicName(ctx, a.User)
	e.changed(cv)
	e.unlock(t)
	e.post(ctx, []notice{{tenant: a.Tenant, conv: id, audience: AudienceAll, event: "joined", text: name + " joined the chat.",
		data: map[string]any{"name": name, "role": RoleConference}}})
	return nil
}

// Hold makes the chat asynchronous: it stops counting against the agent's
// capacity, and the visitor's next message reopens it (back to this agent
// when they are available).
func (e *Engine) Hold(ctx context.Context, a Agent, id string) error {
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	cv, role, err := e.agentConv(t, a, id)
	if err == nil && role != RoleOwner {
		err = fmt.Errorf("%w: only the chat's agent puts it on hold", ErrForbidden)
	}
	if err == nil && cv.c.Status != StatusAssigned {
		err = fmt.Errorf("%w: the chat is %s", ErrState, cv.c.Status)
	}
	if err != nil {
		e.unlock(t)
		return err
	}
	if cv.offer != nil {
		e.inviteEnded(cv, "hold")
	}
	ag := e.agent(t, a.User)
	delete(ag.chats, id)
	ag.idleSince = e.now()
	cv.c.Status, cv.c.AgentID = StatusHold, ""
	for _, p := range slices.Clone(cv.parts) {
		user, r := p.user, p.role
		e.setParticipant(ctx, cv, user, r, true)
		if u := t.agents[user]; u != nil {
			u.send(Event{Type: "removed", Conversation: id})
		}
	}
	e.save(ctx, cv)
	e.changed(cv)
	e.route(cv.t)
	e.unlock(t)
	e.post(ctx, []notice{{tenant: a.Tenant, conv: id, audience: AudienceAll, event: "hold",
		text: "We will answer here as soon as we can. You can leave this page; write again any time to continue."}})
	return nil
}

// Reopen takes a chat on hold back into the desk of the agent who held it
// (or of a supervisor) before the visitor writes again: it counts against
// their capacity again, and the visitor is told.
func (e *Engine) Reopen(ctx context.Context, a Agent, id string) error {
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	cv := t.convs[id]
	switch {
	case cv == nil || cv.c.TenantID != a.Tenant:
		err = fmt.Errorf("%w: conversation %s", ErrNotFound, id)
	case cv.c.Status != StatusHold:
		err = fmt.Errorf("%w: the chat is %s, not on hold", ErrState, cv.c.Status)
	case cv.c.LastAgentID != a.User && !a.Supervise:
		err = fmt.Errorf("%w: the agent who held it reopens it", ErrForbidden)
	}
	if err != nil {
		e.unlock(t)
		return err
	}
	now := e.now()
	ag := e.agent(t, a.User)
	cv.c.Status, cv.c.AgentID, cv.c.LastAgentID, cv.prefer, cv.held = StatusAssigned, a.User, a.User, "", false
	cv.lastIn, cv.lastOut, cv.warned = now, now, false
	ag.chats[id] = true
	ag.idleSince = now
	e.setParticipant(ctx, cv, a.User, RoleOwner, false)
	e.save(ctx, cv)
	e.changed(cv)
	name := e.publicName(ctx, a.User)
	e.unlock(t)
	e.post(ctx, []notice{{tenant: a.Tenant, conv: id, audience: AudienceAll, event: "joined", text: name + " is back in the chat.",
		data: map[string]any{"name": name, "role": RoleOwner}}})
	return nil
}

// CloseChat ends a chat with a disposition and tags (the chat's agent or a
// supervisor).
func (e *Engine) CloseChat(ctx context.Context, a Agent, id, disposition string, tags []string) error {
	if len(disposition) > 100 || !utf8.ValidString(disposition) || len(tags) > 20 {
		return fmt.Errorf("%w: disposition at most 100 bytes, at most 20 tags", ErrInvalid)
	}
	for _, t := range tags {
		if t == "" || len(t) > 40 || !utf8.ValidString(t) {
			return fmt.Errorf("%w: tags are 1 to 40 bytes", ErrInvalid)
		}
	}
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	cv, role, err := e.agentConv(t, a, id)
	if err == nil && role != RoleOwner && !a.Supervise {
		err = fmt.Errorf("%w: only the chat's agent or a supervisor closes it", ErrForbidden)
	}
	if err == nil && len(cv.t.settings.Dispositions) > 0 && disposition != "" && !slices.Contains(cv.t.settings.Dispositions, disposition) {
		err = fmt.Errorf("%w: disposition is one of %s", ErrInvalid, strings.Join(cv.t.settings.Dispositions, ", "))
	}
	e.unlock(t)
	if err != nil {
		return err
	}
	e.closeConv(ctx, cv, "agent", disposition, tags, a.User)
	return nil
}

// closeConv ends a conversation whatever its state.
func (e *Engine) closeConv(ctx context.Context, cv *conv, reason, disposition string, tags []string, by string) {
	t := cv.t
	t.mu.Lock()
	if cv.c.Status == StatusClosed || t.released {
		e.unlock(t)
		return
	}
	e.unqueue(cv)
	if cv.offer != nil {
		e.inviteEnded(cv, "closed")
	}
	now := e.now()
	if ag := cv.t.agents[cv.c.AgentID]; ag != nil {
		delete(ag.chats, cv.c.ID)
		ag.idleSince = now
	}
	if q := cv.t.queues[cv.c.QueueID]; q != nil && cv.c.AssignedAt != nil {
		q.aht = (q.aht*4 + now.Sub(*cv.c.AssignedAt)) / 5
	}
	if !cv.first.IsZero() && cv.c.FirstResponseAt == nil {
		cv.c.FirstResponseAt = &cv.first
	}
	cv.c.Status, cv.c.ClosedAt, cv.c.CloseReason, cv.c.Disposition = StatusClosed, &now, reason, disposition
	if tags != nil {
		cv.c.Tags = tags
	}
	e.save(ctx, cv)
	e.changed(cv)
	e.event(cv, "conversation.closed", map[string]any{"by": by})
	if e.closed != nil {
		cl := Closed{Conversation: cv.c, VisitorWrote: cv.wrote}
		e.do(t, func(tx *store.Tx) error {
			if err := tx.Try(func() error { return e.closed(tx, cl) }); err != nil {
				e.slog.Error("chat: what follows a close was not written", "conversation", cl.Conversation.ID, "err", err)
			}
			e.eventsWritten.Store(true)
			return nil
		})
	}
	for _, p := range slices.Clone(cv.parts) {
		user, r := p.user, p.role
		e.setParticipant(ctx, cv, user, r, true)
		if u := cv.t.agents[user]; u != nil {
			u.send(Event{Type: "removed", Conversation: cv.c.ID})
		}
	}
	e.drop(cv)
	e.route(cv.t)
	text := "The chat has ended."
	if reason == "inactivity" {
		text = "The chat was closed because we did not hear from you."
	}
	ns := []notice{{tenant: cv.c.TenantID, conv: cv.c.ID, audience: AudienceAll, event: "closed", text: text,
		data: map[string]any{"reason": reason, "by": by}}}
	if cv.t.settings.CSAT && reason != "offline_message" && reason != "erased" && reason != "site_deleted" {
		ns = append(ns, notice{tenant: cv.c.TenantID, conv: cv.c.ID, audience: AudienceAll, event: "csat",
			text: "How would you rate this chat?", data: map[string]any{"scale": 5}})
	}
	e.unlock(t)
	e.post(ctx, ns)
}

// Typing tells the others in a chat that an agent is typing.
func (e *Engine) Typing(a Agent, id string, on bool) {
	t := e.lockLoaded(a.Tenant)
	if t == nil {
		return
	}
	defer e.unlock(t)
	cv, role, err := e.agentConv(t, a, id)
	if err != nil || role == "" {
		return
	}
	ev := Event{Type: "typing", Conversation: id, Data: map[string]any{"from": "agent", "id": a.User, "name": e.name(context.Background(), a.User), "on": on}}
	if role == RoleOwner || role == RoleConference {
		e.toVisitor(cv, Event{Type: "typing", Conversation: id, Data: map[string]any{"from": "agent", "name": e.displayName(context.Background(), a.User), "on": on}})
	}
	e.toAgents(cv, ev)
}

// Read records how far the agents have read and tells the visitor.
func (e *Engine) Read(a Agent, id string, seq int64) {
	t := e.lockLoaded(a.Tenant)
	if t == nil {
		return
	}
	defer e.unlock(t)
	cv, role, err := e.agentConv(t, a, id)
	if err != nil || (role != RoleOwner && role != RoleConference) || seq <= cv.readAgent {
		return
	}
	cv.readAgent = seq
	e.toVisitor(cv, Event{Type: "read", Conversation: id, Data: map[string]any{"by": "agent", "seq": seq}})
}

// History returns a conversation's messages after seq for an agent who is
// or was in it, has it offered, or supervises.
func (e *Engine) History(ctx context.Context, a Agent, id string, after int64, limit int) ([]Message, error) {
	if err := e.mayRead(ctx, a, id); err != nil {
		return nil, err
	}
	return e.history(ctx, a.Tenant, id, after, limit, false)
}

// history reads messages and names their senders.
func (e *Engine) history(ctx context.Context, tenant, conversation string, after int64, limit int, visitorOnly bool) ([]Message, error) {
	ms, err := e.log.Since(ctx, tenant, conversation, after, limit, visitorOnly)
	if err != nil {
		return nil, err
	}
	for i := range ms {
		ms[i].Sender.Name, ms[i].Sender.Avatar = e.senderName(ms[i].Sender), e.senderAvatar(ms[i].Sender)
	}
	return ms, nil
}

// mayRead checks that an agent may read a conversation, open or closed.
func (e *Engine) mayRead(ctx context.Context, a Agent, id string) error {
	t, err := e.lock(ctx, a.Tenant)
	if err != nil {
		return err
	}
	cv := t.convs[id]
	if cv != nil {
		_, _, err := e.agentConv(t, a, id)
		e.unlock(t)
		return err
	}
	e.unlock(t)
	if _, err := e.st.Conversation(ctx, a.Tenant, id); err != nil {
		return ErrNotFound
	}
	if a.Supervise {
		return nil
	}
	parts, err := e.st.Participants(ctx, id)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if p.UserID == a.User {
			return nil
		}
	}
	return ErrForbidden
}

// VisitorContext is what an agent sees of the visitor beside the chat.
type VisitorContext struct {
	Conversation store.Conversation   `json:"conversation"`
	Meta         Meta                 `json:"meta"`
	Previous     []store.Conversation `json:"previous"`
}

// Context returns a conversation's visitor context for an agent allowed to read it.
func (e *Engine) Context(ctx context.Context, a Agent, id string) (VisitorContext, error) {
	// What the console saw happen (a notice is shown while its commit runs)
	// is in the store before it is read.
	e.log.Flush()
	if err := e.mayRead(ctx, a, id); err != nil {
		return VisitorContext{}, err
	}
	c, err := e.st.Conversation(ctx, a.Tenant, id)
	if err != nil {
		return VisitorContext{}, err
	}
	out := VisitorContext{Conversation: c}
	json.Unmarshal(c.Metadata, &out.Meta)
	prev, _, err := e.st.Conversations(ctx, a.Tenant, store.ConversationFilter{SiteID: c.SiteID, Visitor: c.Visitor}, store.Page{Limit: 11})
	if err != nil {
		return VisitorContext{}, err
	}
	out.Previous = []store.Conversation{}
	for _, p := range prev {
		if p.ID != id && len(out.Previous) < 10 {
			out.Previous = append(out.Previous, p)
		}
	}
	return out, nil
}

// Live is the state of a tenant's queues and agents, for supervisors.
type Live struct {
	Queues []LiveQueue `json:"queues"`
	Agents []LiveAgent `json:"agents"`
	Chats  []View      `json:"chats"`
}

// LiveQueue is a queue now.
type LiveQueue struct {
	QueueState
	LongestWait int `json:"longest_wait"` // seconds
	// Offered are its waiting chats offered to an agent now.
	Offered int `json:"offered"`
}

// LiveAgent is an agent now.
type LiveAgent struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Presence string `json:"presence"`
	Chats    int    `json:"chats"`
	Offers   int    `json:"offers"`
	Capacity int    `json:"capacity"`
	// Since is when the agent's presence last changed (time in status).
	Since time.Time `json:"since"`
}

// LiveState returns a tenant's queues, agents and open chats.
func (e *Engine) LiveState(ctx context.Context, tenantID string) (Live, error) {
	t, err := e.lock(ctx, tenantID)
	if err != nil {
		return Live{}, err
	}
	defer e.unlock(t)
	return e.liveState(ctx, t), nil
}

// liveState is LiveState for callers holding t.mu.
func (e *Engine) liveState(ctx context.Context, t *tenant) Live {
	now := e.now()
	out := Live{Queues: []LiveQueue{}, Agents: []LiveAgent{}, Chats: []View{}}
	for _, id := range t.order {
		q := t.queues[id]
		lq := LiveQueue{QueueState: e.state(q, now)}
		if len(q.waiting) > 0 {
			lq.LongestWait = int(now.Sub(q.waiting[0].entered).Seconds())
		}
		for _, cv := range q.waiting {
			if cv.offer != nil {
				lq.Offered++
			}
		}
		out.Queues = append(out.Queues, lq)
	}
	for user, ag := range t.agents {
		out.Agents = append(out.Agents, LiveAgent{ID: user, Name: e.name(ctx, user), Presence: ag.presence,
			Chats: len(ag.chats), Offers: len(ag.offers), Capacity: t.capacity(ag), Since: ag.since})
	}
	slices.SortFunc(out.Agents, func(a, b LiveAgent) int { return strings.Compare(a.Name, b.Name) })
	for _, cv := range t.convs {
		out.Chats = append(out.Chats, e.view(cv))
	}
	slices.SortFunc(out.Chats, func(a, b View) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Transcript is a whole conversation for export.
type Transcript struct {
	Conversation store.Conversation  `json:"conversation"`
	Participants []store.Participant `json:"participants"`
	Messages     []Message           `json:"messages"`
}

// Transcript returns a conversation with every message, for an agent
// allowed to read it.
func (e *Engine) Transcript(ctx context.Context, a Agent, id string) (Transcript, error) {
	e.log.Flush() // as Context
	if err := e.mayRead(ctx, a, id); err != nil {
		return Transcript{}, err
	}
	return e.ReadTranscript(ctx, a.Tenant, id)
}

// ReadTranscript returns a conversation with every message, for a caller
// that decided itself who may read it (ops: an agent opening an earlier
// chat of the customer they are serving).
func (e *Engine) ReadTranscript(ctx context.Context, tenant, id string) (Transcript, error) {
	e.log.Flush()
	c, err := e.st.Conversation(ctx, tenant, id)
	if err != nil {
		return Transcript{}, err
	}
	parts, err := e.st.Participants(ctx, id)
	if err != nil {
		return Transcript{}, err
	}
	t := Transcript{Conversation: c, Participants: parts, Messages: []Message{}}
	for after := int64(0); ; {
		ms, err := e.history(ctx, tenant, id, after, 1000, false)
		if err != nil {
			return Transcript{}, err
		}
		t.Messages = append(t.Messages, ms...)
		if len(ms) < 1000 {
			return t, nil
		}
		after = ms[len(ms)-1].Seq
	}
}

// Colleague is another agent as the desk offers them for a transfer or an
// invitation: signed in now, with their status.
type Colleague struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Presence string `json:"presence"`
}

// Colleagues lists a tenant's people signed in to chat (not bots), by name.
func (e *Engine) Colleagues(ctx context.Context, tenantID string) ([]Colleague, error) {
	t, err := e.lock(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	defer e.unlock(t)
	out := []Colleague{}
	for user, ag := range t.agents {
		if !ag.bot && len(ag.sinks) > 0 {
			out = append(out, Colleague{ID: user, Name: e.name(ctx, user), Presence: ag.presence})
		}
	}
	slices.SortFunc(out, func(a, b Colleague) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Dispositions are the tenant's outcomes an agent picks from when closing
// (none: free text).
func (e *Engine) Dispositions(ctx context.Context, tenantID string) ([]string, error) {
	t, err := e.lock(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	defer e.unlock(t)
	return slices.Clone(t.settings.Dispositions), nil
}
