package chat

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"
)

// defaultAHT is the average handle time assumed before a queue has any.
const defaultAHT = 3 * time.Minute

// defaultOfferTimeout is the seconds an agent has to accept an offer unless
// the queue says otherwise.
const defaultOfferTimeout = 30

// maxHops bounds overflow chains (a queue overflowing into one that
// overflows back would otherwise move a chat forever).
const maxHops = 5

type queue struct {
	t       *tenant
	id      string
	name    string
	cfg     QueueConfig
	waiting []*conv       // in arrival order
	aht     time.Duration // moving average of handle time, for wait estimates
}

// QueuePosition is what a waiting visitor is told.
type QueuePosition struct {
	Position      int `json:"position"`
	EstimatedWait int `json:"estimated_wait"` // seconds; -1 when no agent is available to answer
}

// enqueue puts a conversation in a queue and routes it, or, when nobody can
// answer there (closed, or no agent available), offers the visitor the
// offline form. Callers hold t.mu and post the notices it returns.
func (e *Engine) enqueue(ctx context.Context, cv *conv, q *queue) []notice {
	now := e.now()
	cv.c.Status, cv.c.QueueID = StatusQueued, q.id
	if cv.c.QueuedAt == nil {
		cv.c.QueuedAt = &now
	}
	cv.entered, cv.pos = now, 0
	cv.tried = nil
	// A transfer or requeue that brought the chat here may have freed a slot
	// for another queue's chats, so every queue is routed either way.
	defer e.route(cv.t)
	if !q.cfg.Hours.Open(now) || !e.staffed(cv.t, q) {
		return e.goOffline(ctx, cv)
	}
	q.waiting = append(q.waiting, cv)
	e.save(ctx, cv)
	e.toVisitor(cv, e.stateEvent(cv, true))
	return nil
}

// staffed reports whether any agent of the queue is available (busy or
// not): with all of them away or signed out, nobody would answer, and the
// visitor is told so and offered the offline form rather than a wait.
func (e *Engine) staffed(t *tenant, q *queue) bool {
	for _, ag := range t.agents {
		if ag.presence == Available && e.serves(t, ag, q) {
			return true
		}
	}
	return false
}

func (e *Engine) serves(t *tenant, ag *agent, q *queue) bool {
	if len(ag.working) > 0 && !ag.working[q.id] {
		return false
	}
	return e.allowed(t, ag, q)
}

// allowed reports whether an agent's profile (queues, skills) lets them
// take a queue's chats, whatever they chose to work now.
func (e *Engine) allowed(t *tenant, ag *agent, q *queue) bool {
	p := t.profile(ag.key.user)
	if len(p.Queues) > 0 && !slices.Contains(p.Queues, q.id) {
		return false
	}
	if q.cfg.Routing == Skills {
		for _, s := range q.cfg.Skills {
			if p.Skills[s] == 0 {
				return false
			}
		}
	}
	return true
}

func (e *Engine) goOffline(ctx context.Context, cv *conv) []notice {
	e.unqueue(cv)
	cv.c.Status = StatusOffline
	e.save(ctx, cv)
	e.toVisitor(cv, e.stateEvent(cv, true))
	return []notice{{tenant: cv.c.TenantID, conv: cv.c.ID, audience: AudienceAll, event: "offline",
		text: "Nobody is available to chat right now. Leave a message and we will get back to you."}}
}

// unqueue takes a conversation out of its queue (and withdraws its offer).
func (e *Engine) unqueue(cv *conv) {
	if q := cv.t.queues[cv.c.QueueID]; q != nil {
		if i := slices.Index(q.waiting, cv); i >= 0 {
			q.waiting = slices.Delete(q.waiting, i, i+1)
			defer e.positions(q)
		}
	}
	if cv.offer != nil && cv.offer.kind == "assign" {
		e.withdraw(cv, false)
	}
}

// withdraw ends a conversation's pending offer; missed means the agent let
// it time out (they are set away, as a desk phone does to an agent who
// does not pick up).
func (e *Engine) withdraw(cv *conv, missed bool) {
	o := cv.offer
	cv.offer = nil
	ag := cv.t.agents[o.to]
	if ag == nil {
		return
	}
	delete(ag.offers, cv.c.ID)
	ag.send(Event{Type: "offer_revoked", Conversation: cv.c.ID})
	if missed {
		e.try(cv, o.to)
		if ag.presence == Available && !ag.bot {
			ag.presence = Away
			ag.send(Event{Type: "presence", Data: map[string]string{"status": Away, "reason": "missed_offer"}})
		}
	}
}

// route offers the waiting chats of every queue of a tenant: an agent whose
// slot frees or who becomes available may serve any of their queues.
// Callers hold t.mu.
func (e *Engine) route(t *tenant) {
	for _, id := range t.order {
		e.dispatch(t.queues[id])
	}
}

// dispatch offers a queue's waiting chats to agents, oldest first. Callers
// hold t.mu.
func (e *Engine) dispatch(q *queue) {
	t := q.t
	for _, cv := range q.waiting {
		if cv.offer != nil {
			continue
		}
		ag := e.pick(t, q, cv)
		if ag == nil {
			if len(cv.tried) == 0 && cv.prefer == "" {
				break // nobody free for a fresh chat: nobody for the ones behind it either
			}
			continue
		}
		e.offer(cv, &offer{kind: "assign", to: ag.key.user, expires: e.now().Add(time.Duration(q.cfg.OfferTimeout) * time.Second)})
	}
	e.positions(q)
}

func (e *Engine) offer(cv *conv, o *offer) {
	cv.offer = o
	ag := e.agent(cv.t, o.to)
	ag.offers[cv.c.ID] = true
	ag.send(Event{Type: "offer", Conversation: cv.c.ID, Data: e.offerData(cv)})
}

// offerData is a conversation's pending offer as its agent is told it.
func (e *Engine) offerData(cv *conv) map[string]any {
	o := cv.offer
	data := map[string]any{"kind": o.kind, "expires_at": o.expires, "conversation": e.view(cv)}
	if o.from != "" {
		data["from"] = map[string]string{"id": o.from, "name": e.name(context.Background(), o.from)}
	}
	if o.note != "" {
		data["note"] = o.note
	}
	if cv.held {
		data["held"] = true
	}
	return data
}

// pick chooses the agent to offer a chat to, by the queue's routing mode.
func (e *Engine) pick(t *tenant, q *queue, cv *conv) *agent {
	now := e.now()
	free := func(ag *agent) bool {
		return ag.key.tenant == t.id && ag.presence == Available && len(ag.sinks) > 0 && !cv.passedOver(ag.key.user, now) &&
			len(ag.chats)+len(ag.offers) < t.capacity(ag) && e.serves(t, ag, q)
	}
	if cv.prefer != "" {
		if ag := t.agents[cv.prefer]; ag != nil && free(ag) {
			return ag
		}
	}
	var best *agent
	var bestScore float64
	for _, ag := range t.agents {
		if !free(ag) {
			continue
		}
		// Higher is better; ties go to the agent idle the longest.
		var score float64
		switch q.cfg.Routing {
		case LeastBusy:
			score = -float64(len(ag.chats) + len(ag.offers))
		case Skills:
			p := t.profile(ag.key.user)
			for _, s := range q.cfg.Skills {
				score += float64(p.Skills[s])
			}
		}
		if best == nil || score > bestScore || (score == bestScore && ag.idleSince.Before(best.idleSince)) ||
			(score == bestScore && ag.idleSince.Equal(best.idleSince) && ag.key.user < best.key.user) {
			best, bestScore = ag, score
		}
	}
	return best
}

// QueueState is whether a queue can answer now: the one computation that
// the supervisors' live state, the estimate told to waiting visitors and the
// page's offers share.
type QueueState struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Open: inside business hours.
	Open bool `json:"open"`
	// AgentsAvailable are the queue's agents who are available, connected,
	// and have a free slot (capacity minus chats and pending offers).
	AgentsAvailable int `json:"agents_available"`
	// Free is the sum of those free slots.
	Free int `json:"free"`
	// Slots are the chats the queue's available agents carry at once, free or not.
	Slots   int `json:"slots"`
	Waiting int `json:"waiting"`
	// EstimatedWait is the seconds a new chat would wait; -1 when nobody
	// can answer (closed, or no available agent).
	EstimatedWait int `json:"estimated_wait"`
}

// state computes a queue's state. Callers hold t.mu.
func (e *Engine) state(q *queue, now time.Time) QueueState {
	t := q.t
	s := QueueState{ID: q.id, Name: q.name, Open: q.cfg.Hours.Open(now), Waiting: len(q.waiting)}
	for _, ag := range t.agents {
		if ag.presence != Available || len(ag.sinks) == 0 || !e.serves(t, ag, q) {
			continue
		}
		c := t.capacity(ag)
		s.Slots += c
		if free := c - len(ag.chats) - len(ag.offers); free > 0 {
			s.AgentsAvailable++
			s.Free += free
		}
	}
	s.EstimatedWait = s.wait(len(q.waiting)+1, q.aht)
	return s
}

// wait estimates the seconds until the chat at a position is offered: none
// while a free slot remains for it, else the chats ahead of it beyond the
// free slots, each taking an average handle time on one of the slots.
func (s QueueState) wait(pos int, aht time.Duration) int {
	if !s.Open || s.Slots == 0 {
		return -1
	}
	ahead := pos - s.Free
	if ahead <= 0 {
		return 0
	}
	return int(math.Ceil(float64(ahead) * aht.Seconds() / float64(s.Slots)))
}

// positions tells each waiting visitor of a queue their place and an
// estimated wait (-1 when no agent is available to answer).
func (e *Engine) positions(q *queue) {
	if len(q.waiting) == 0 {
		return
	}
	st := e.state(q, e.now())
	for i, cv := range q.waiting {
		pos := i + 1
		wait := st.wait(pos, q.aht)
		if cv.pos == pos && cv.told == wait {
			continue
		}
		cv.pos, cv.told = pos, wait
		e.toVisitor(cv, Event{Type: "queue", Conversation: cv.c.ID, Data: QueuePosition{Position: pos, EstimatedWait: wait}})
	}
}

// Availability is the state of every queue of a tenant now.
func (e *Engine) Availability(ctx context.Context, tenantID string) ([]QueueState, error) {
	t, err := e.lock(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	defer e.unlock(t)
	now := e.now()
	out := make([]QueueState, 0, len(t.order))
	for _, id := range t.order {
		out = append(out, e.state(t.queues[id], now))
	}
	return out, nil
}

// Tick handles what time decides: offers that expire, chats that overflow
// or waited too long, visitors who stopped answering, agents gone too long.
func (e *Engine) Tick(ctx context.Context) {
	for _, t := range e.all() {
		ns, closing := e.tick(ctx, t)
		e.post(ctx, ns)
		for _, cv := range closing {
			e.closeConv(ctx, cv, "inactivity", "", nil, "system")
		}
	}
}

// tick is Tick for one tenant; it returns the notices to post and the
// conversations to close once the tenant's lock is released.
func (e *Engine) tick(ctx context.Context, t *tenant) (ns []notice, closing []*conv) {
	t.mu.Lock()
	defer e.unlock(t)
	if t.released {
		return nil, nil
	}
	now := e.now()
	touched := false
	for _, cv := range t.convs {
		if o := cv.offer; o != nil && now.After(o.expires) {
			if o.kind == "assign" {
				e.withdraw(cv, true)
			} else {
				ns = append(ns, e.inviteEnded(cv, "timeout")...)
			}
			touched = true
		}
		if cv.forgive(now) {
			touched = true
		}
		switch cv.c.Status {
		case StatusQueued:
			q := t.queues[cv.c.QueueID]
			if q == nil {
				continue
			}
			if q.cfg.OverflowQueue != "" && cv.hops < maxHops && now.Sub(cv.entered) >= time.Duration(q.cfg.OverflowAfter)*time.Second {
				if to := t.queues[q.cfg.OverflowQueue]; to != nil && to != q {
					e.unqueue(cv)
					cv.hops++
					ns = append(ns, notice{tenant: cv.c.TenantID, conv: cv.c.ID, audience: AudienceAgents, event: "overflow",
						text: "Moved from " + q.name + " to " + to.name + " after waiting.", data: map[string]any{"from": q.id, "to": to.id}})
					ns = append(ns, e.enqueue(ctx, cv, to)...)
					continue
				}
			}
			if q.cfg.MaxWait > 0 && now.Sub(*cv.c.QueuedAt) >= time.Duration(q.cfg.MaxWait)*time.Second {
				ns = append(ns, e.goOffline(ctx, cv)...)
			}
		case StatusAssigned:
			in := t.settings.Inactivity
			if !cv.quiet {
				continue // the agent owes the answer, not the visitor
			}
			idle := now.Sub(cv.lastOut)
			if in.CloseAfter > 0 && idle >= time.Duration(in.CloseAfter)*time.Second {
				closing = append(closing, cv)
			} else if in.WarnAfter > 0 && !cv.warned && idle >= time.Duration(in.WarnAfter)*time.Second {
				cv.warned = true
				ns = append(ns, notice{tenant: cv.c.TenantID, conv: cv.c.ID, audience: AudienceAll, event: "inactivity_warning",
					text: "Are you still there? This chat will close soon if we do not hear from you."})
			}
		}
	}
	for _, ag := range t.agents {
		if ag.presence != Offline || ag.goneAt.IsZero() || now.Sub(ag.goneAt) < e.grace {
			continue
		}
		ag.goneAt = time.Time{}
		for id := range ag.chats {
			if cv := t.convs[id]; cv != nil {
				ns = append(ns, e.requeue(ctx, cv, "The agent was disconnected.")...)
			}
		}
	}
	if touched {
		e.route(t)
	}
	return ns, closing
}

// requeue takes a chat from its agent and puts it back in its queue, ahead
// of the chats that arrived after it.
func (e *Engine) requeue(ctx context.Context, cv *conv, why string) []notice {
	if ag := cv.t.agents[cv.c.AgentID]; ag != nil {
		delete(ag.chats, cv.c.ID)
		ag.send(Event{Type: "removed", Conversation: cv.c.ID})
	}
	for _, p := range slices.Clone(cv.parts) {
		if p.role == RoleOwner {
			e.setParticipant(ctx, cv, p.user, p.role, true)
		}
	}
	cv.c.AgentID = ""
	q := cv.t.queues[cv.c.QueueID]
	if q == nil {
		q = cv.t.defaultQueue()
	}
	if q == nil {
		return e.goOffline(ctx, cv)
	}
	ns := []notice{{tenant: cv.c.TenantID, conv: cv.c.ID, audience: AudienceAll, event: "requeued", text: why + " You are back in the queue."}}
	return append(ns, e.enqueue(ctx, cv, q)...)
}

// anyAnswers reports whether a queue of the pre-chat question (or the default
// queue) is open and staffed. Callers hold t.mu.
func (e *Engine) anyAnswers(t *tenant) bool {
	var reach []*queue
	if p := t.settings.Prechat; p != nil {
		for _, o := range p.Options {
			if q := t.queues[o.Queue]; q != nil {
				reach = append(reach, q)
			}
		}
	} else if q := t.defaultQueue(); q != nil {
		reach = append(reach, q)
	}
	now := e.now()
	for _, q := range reach {
		if q.cfg.Hours.Open(now) && e.staffed(t, q) {
			return true
		}
	}
	return false
}

// WelcomeState is what the chat panel shows before the visitor writes: the
// team's words, who is there to answer, and when an answer can come, from
// the same computation as the live board and the visitors' estimates.
type WelcomeState struct {
	Title    string       `json:"title"` // "" is the site's name
	Greeting string       `json:"greeting"`
	Team     []TeamMember `json:"team"`
	// Available: a queue the visitor can reach is open and has an available
	// agent; otherwise the visitor is offered the offline form at once.
	Available bool `json:"available"`
	// EstimatedWait is the shortest estimate among those queues, seconds; -1
	// when none can answer.
	EstimatedWait int `json:"estimated_wait"`
	// Question and Topics are the pre-chat question and its options, asked
	// with the first message; Form the tenant's pre-chat form.
	Question string   `json:"question,omitempty"`
	Topics   []string `json:"topics,omitempty"`
	// Closed are the topics whose queue cannot answer now (closed, or
	// nobody available): the panel says so beside them.
	Closed []string `json:"closed,omitempty"`
	Form   *Form    `json:"form"`
}

// TeamMember is an available agent as visitors see them.
type TeamMember struct {
	Name   string `json:"name"`
	Avatar string `json:"avatar,omitempty"`
}

// Welcome computes a tenant's welcome now. The queues a visitor can reach
// are the pre-chat question's, or the default queue.
func (e *Engine) Welcome(ctx context.Context, tenantID string) (WelcomeState, error) {
	t, err := e.lock(ctx, tenantID)
	if err != nil {
		return WelcomeState{}, err
	}
	defer e.unlock(t)
	st := t.settings
	w := WelcomeState{Title: st.Welcome.Title, Greeting: st.Welcome.Greeting, Team: []TeamMember{}, EstimatedWait: -1, Form: st.Form}
	var reach []*queue
	if p := st.Prechat; p != nil {
		w.Question = p.Question
		for _, o := range p.Options {
			w.Topics = append(w.Topics, o.Label)
			if q := t.queues[o.Queue]; q != nil && !slices.Contains(reach, q) {
				reach = append(reach, q)
			}
		}
	} else if q := t.defaultQueue(); q != nil {
		reach = append(reach, q)
	}
	now := e.now()
	if p := st.Prechat; p != nil {
		for _, o := range p.Options {
			if q := t.queues[o.Queue]; q == nil || !q.cfg.Hours.Open(now) || !e.staffed(t, q) {
				w.Closed = append(w.Closed, o.Label)
			}
		}
	}
	seen := map[string]bool{}
	for _, q := range reach {
		s := e.state(q, now)
		if !s.Open || s.Slots == 0 {
			continue
		}
		w.Available = true
		if wait := s.wait(len(q.waiting)+1, q.aht); w.EstimatedWait < 0 || wait < w.EstimatedWait {
			w.EstimatedWait = wait
		}
		for user, ag := range t.agents {
			if ag.presence != Available || len(ag.sinks) == 0 || ag.bot || !e.serves(t, ag, q) || seen[user] {
				continue
			}
			seen[user] = true
			if n := e.displayName(ctx, user); n != "" && len(w.Team) < 5 {
				w.Team = append(w.Team, TeamMember{Name: n, Avatar: e.people.avatar(user)})
			}
		}
	}
	slices.SortFunc(w.Team, func(a, b TeamMember) int { return strings.Compare(a.Name, b.Name) })
	return w, nil
}
