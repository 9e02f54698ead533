package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// ConversationMetrics are one conversation's figures, in seconds.
type ConversationMetrics struct {
	ID               string     `json:"id"`
	SiteID           string     `json:"site_id"`
	QueueID          string     `json:"queue_id"`
	AgentID          string     `json:"agent_id"`
	Status           string     `json:"status"`
	CreatedAt        time.Time  `json:"created_at"`
	ClosedAt         *time.Time `json:"closed_at"`
	Wait             *float64   `json:"wait"`              // queued → assigned
	FirstResponse    *float64   `json:"first_response"`    // assigned → the agent's first message
	Handle           *float64   `json:"handle"`            // assigned → closed
	VisitorMessages  int        `json:"visitor_messages"`  //
	AgentMessages    int        `json:"agent_messages"`    // agents and bots, to the visitor
	InternalMessages int        `json:"internal_messages"` // whispers, consults, notes
	Outcome          string     `json:"outcome"`           // close reason: agent, visitor, inactivity, offline_message; "" while open
	Disposition      string     `json:"disposition"`       //
	CSAT             *int       `json:"csat"`              //
	Answered         bool       `json:"answered"`          // an agent took it
	LeftAnswered     bool       `json:"left_answered"`     // a left message someone answered
}

// ChatAggregate sums conversations that share a key (a queue, an agent or a day).
type ChatAggregate struct {
	Key              string   `json:"key"`
	Conversations    int      `json:"conversations"`
	Answered         int      `json:"answered"`
	Unanswered       int      `json:"unanswered"` // closed without an agent (offline, left while waiting)
	AvgWait          *float64 `json:"avg_wait"`
	AvgFirstResponse *float64 `json:"avg_first_response"`
	AvgHandle        *float64 `json:"avg_handle"`
	Messages         int      `json:"messages"`
	CSATCount        int      `json:"csat_count"`
	AvgCSAT          *float64 `json:"avg_csat"`
	LeftMessages     int      `json:"left_messages"` // messages left on the offline form
	LeftAnswered     int      `json:"left_answered"` // of them, answered (by email from the desk, or marked)
}

// ConversationMetrics lists the figures of a tenant's conversations created
// in [from, to), newest first, a page at a time.
func (s *Store) ConversationMetrics(ctx context.Context, tenantID string, from, to time.Time, p Page) ([]ConversationMetrics, string, error) {
	q := `SELECT * FROM (` + metricsSelect + `) AS c`
	args := []any{tenantID, millis(from), millis(to)}
	if p.After != "" {
		q += ` WHERE id < ?4`
		args = append(args, p.After)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id DESC LIMIT `+fmt.Sprint(p.limit()), args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: conversation metrics: %w", err)
	}
	defer rows.Close()
	out := []ConversationMetrics{}
	for rows.Next() {
		var m ConversationMetrics
		var created int64
		var closed, csat sql.NullInt64
		var wait, first, handle sql.NullFloat64
		if err := rows.Scan(&m.ID, &m.SiteID, &m.QueueID, &m.AgentID, &m.Status, &created, &closed, &wait, &first, &handle,
			&m.VisitorMessages, &m.AgentMessages, &m.InternalMessages, &m.Outcome, &m.Disposition, &csat, &m.Answered, &m.LeftAnswered); err != nil {
			return nil, "", fmt.Errorf("store: conversation metrics: %w", err)
		}
		m.CreatedAt, m.ClosedAt = fromMillis(created), fromNullMillis(closed)
		m.Wait, m.FirstResponse, m.Handle = nullFloat(wait), nullFloat(first), nullFloat(handle)
		if csat.Valid {
			n := int(csat.Int64)
			m.CSAT = &n
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	out, next := trim(p, out, func(m ConversationMetrics) string { return m.ID })
	return out, next, nil
}

func nullFloat(f sql.NullFloat64) *float64 {
	if !f.Valid {
		return nil
	}
	return &f.Float64
}

// ChatAggregates sums a tenant's conversations created in [from, to) by
// queue, agent (who last had the chat) or day in loc. Days are counted in
// Go from quarter-hour sums (every zone's offset is a multiple of 15
// minutes), so that a day is the team's day whatever its zone and DST.
func (s *Store) ChatAggregates(ctx context.Context, tenantID string, from, to time.Time, by string, loc *time.Location) ([]ChatAggregate, error) {
	key := map[string]string{
		"queue": `queue_id`,
		"agent": `agent_id`,
		"day":   `CAST(created_at / 900000 AS TEXT)`,
	}[by]
	if key == "" {
		return nil, fmt.Errorf("store: chat aggregates by %q: %w", by, ErrNotFound)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+key+` AS k, count(*), count(*) FILTER (WHERE answered), count(*) FILTER (WHERE NOT answered AND status = 'closed'),
		sum(wait), count(wait), sum(first_response), count(first_response), sum(handle), count(handle),
		sum(visitor_messages + agent_messages), count(csat), sum(csat), count(*) FILTER (WHERE outcome = 'offline_message'), count(*) FILTER (WHERE left_answered)
		FROM (`+metricsSelect+`) AS m GROUP BY k`, tenantID, millis(from), millis(to))
	if err != nil {
		return nil, fmt.Errorf("store: chat aggregates: %w", err)
	}
	defer rows.Close()
	type sums struct {
		a                         ChatAggregate
		wait, first, handle, csat float64
		waitN, firstN, handleN    int
	}
	groups := map[string]*sums{}
	var keys []string
	for rows.Next() {
		var k string
		var g sums
		var wait, first, handle, csat sql.NullFloat64
		if err := rows.Scan(&k, &g.a.Conversations, &g.a.Answered, &g.a.Unanswered, &wait, &g.waitN, &first, &g.firstN, &handle, &g.handleN,
			&g.a.Messages, &g.a.CSATCount, &csat, &g.a.LeftMessages, &g.a.LeftAnswered); err != nil {
			return nil, fmt.Errorf("store: chat aggregates: %w", err)
		}
		g.wait, g.first, g.handle, g.csat = wait.Float64, first.Float64, handle.Float64, csat.Float64
		if by == "day" {
			var quarter int64
			fmt.Sscan(k, &quarter)
			k = time.UnixMilli(quarter * 900000).In(loc).Format(time.DateOnly)
		}
		t := groups[k]
		if t == nil {
			t = &sums{a: ChatAggregate{Key: k}}
			groups[k] = t
			keys = append(keys, k)
		}
		t.a.Conversations += g.a.Conversations
		t.a.Answered += g.a.Answered
		t.a.Unanswered += g.a.Unanswered
		t.a.Messages += g.a.Messages
		t.a.CSATCount += g.a.CSATCount
		t.a.LeftMessages += g.a.LeftMessages
		t.a.LeftAnswered += g.a.LeftAnswered
		t.wait, t.first, t.handle, t.csat = t.wait+g.wait, t.first+g.first, t.handle+g.handle, t.csat+g.csat
		t.waitN, t.firstN, t.handleN = t.waitN+g.waitN, t.firstN+g.firstN, t.handleN+g.handleN
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: chat aggregates: %w", err)
	}
	avg := func(sum float64, n int) *float64 {
		if n == 0 {
			return nil
		}
		v := sum / float64(n)
		return &v
	}
	slices.Sort(keys)
	out := make([]ChatAggregate, 0, len(keys))
	for _, k := range keys {
		g := groups[k]
		g.a.AvgWait, g.a.AvgFirstResponse, g.a.AvgHandle = avg(g.wait, g.waitN), avg(g.first, g.firstN), avg(g.handle, g.handleN)
		g.a.AvgCSAT = avg(g.csat, g.a.CSATCount)
		out = append(out, g.a)
	}
	return out, nil
}

// metricsSelect computes the per-conversation figures of a tenant's
// conversations created in [from, to) (?1, ?2, ?3).
const metricsSelect = `WITH counts AS (
	SELECT m.conversation_id,
		count(*) FILTER (WHERE m.sender_kind = 'visitor') AS v,
		count(*) FILTER (WHERE m.sender_kind IN ('agent', 'bot') AND m.audience = 'all') AS a,
		count(*) FILTER (WHERE m.audience = 'agents') AS i
	FROM messages m JOIN conversations c ON c.id = m.conversation_id
	WHERE c.tenant_id = ?1 AND c.created_at >= ?2 AND c.created_at < ?3
	GROUP BY m.conversation_id)
SELECT c.id, c.site_id, coalesce(c.queue_id, '') AS queue_id, coalesce(c.last_agent_id, '') AS agent_id, c.status, c.created_at, c.closed_at,
	(c.assigned_at - c.queued_at) / 1000.0 AS wait,
	(c.first_response_at - c.assigned_at) / 1000.0 AS first_response,
	CASE WHEN c.closed_at IS NOT NULL THEN (c.closed_at - c.assigned_at) / 1000.0 END AS handle,
	coalesce(k.v, 0) AS visitor_messages, coalesce(k.a, 0) AS agent_messages, coalesce(k.i, 0) AS internal_messages,
	c.close_reason AS outcome, c.disposition, c.csat, c.assigned_at IS NOT NULL AS answered,
	c.close_reason = 'offline_message' AND c.left_answered_at IS NOT NULL AS left_answered
FROM conversations c LEFT JOIN counts k ON k.conversation_id = c.id
WHERE c.tenant_id = ?1 AND c.created_at >= ?2 AND c.created_at < ?3`
