package server

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/search"
	"github.com/nudgehq/nudge/store"
)

// searchAPI serves transcript search.
type searchAPI struct {
	st       *store.Store
	chat     *chat.Engine
	search   search.Index
	log      *slog.Logger
	enforcer *auth.Enforcer
}

// searchHit is one message found, with its conversation and the part of
// its text that matched.
type searchHit struct {
	chat.Message
	Conversation store.Conversation `json:"conversation"`
	Snippet      []search.Segment   `json:"snippet"`
}

// searchChats finds messages by their words in the transcripts the caller may
// read: a supervisor's whole tenant, an agent's own conversations.
func (h searchAPI) searchChats(c *fiber.Ctx) error {
	text := strings.TrimSpace(c.Query("q"))
	if text == "" || utf8.RuneCountInString(text) > 200 || !utf8.ValidString(text) {
		return errBadRequest("invalid_query", "q is the words to find, 1 to 200 characters", "q")
	}
	a := chatAgent(c, h.enforcer)
	ctx := c.UserContext()
	q := search.Query{Tenant: a.Tenant, Text: text, Cursor: c.Query("cursor"), Order: search.Order(c.Query("order")),
		Status: c.Query("status")}
	if len(q.Cursor) > 200 {
		return errBadRequest("invalid_query", "cursor is malformed", "cursor")
	}
	if q.Order != "" && q.Order != search.ByDate && q.Order != search.ByRelevance {
		return errBadRequest("invalid_query", "order is date or relevance", "order")
	}
	if q.Status != "" && q.Status != "open" && q.Status != "closed" {
		return errBadRequest("invalid_query", "status is open or closed", "status")
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > search.MaxLimit {
			return errBadRequest("invalid_query", "limit must be 1 to 100", "limit")
		}
		q.Limit = n
	}
	for _, f := range []struct {
		name string
		to   *time.Time
		next bool // to is the day after, so that the day is included
	}{{"from", &q.From, false}, {"to", &q.To, true}} {
		if v := c.Query(f.name); v != "" {
			d, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return errBadRequest("invalid_query", f.name+" is a date, YYYY-MM-DD", f.name)
			}
			if f.next {
				d = d.AddDate(0, 0, 1)
			}
			*f.to = d
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return errBadRequest("invalid_query", "from is a day before or equal to to", "from")
	}
	// Filters name the tenant's own sites, queues and people: another's id is
	// an error, not an empty page.
	for _, f := range []struct {
		name string
		to   *string
		ok   func(id string) error
	}{
		{"site", &q.Site, func(id string) error { _, err := h.st.Site(ctx, a.Tenant, id); return err }},
		{"queue", &q.Queue, func(id string) error { _, err := h.st.Queue(ctx, a.Tenant, id); return err }},
		{"agent", &q.Agent, func(id string) error { _, err := h.st.Member(ctx, a.Tenant, id); return err }},
		{"visitor", &q.Visitor, nil},
		{"disposition", &q.Disposition, nil},
	} {
		v := c.Query(f.name)
		if v == "" {
			continue
		}
		if len(v) > 128 || !utf8.ValidString(v) {
			return errBadRequest("invalid_query", f.name+" is at most 128 bytes", f.name)
		}
		if f.ok != nil {
			if err := f.ok(v); errors.Is(err, store.ErrNotFound) {
				return errBadRequest("invalid_query", "no "+f.name+" "+strconv.Quote(v)+" in this workspace", f.name)
			} else if err != nil {
				return err
			}
		}
		*f.to = strings.Clone(v)
	}
	if !a.Supervise {
		// Agents search the chats they took part in.
		if q.Agent != "" && q.Agent != a.User {
			return &apiError{Status: fiber.StatusForbidden, Code: "forbidden", Message: "agents search their own chats; supervisors search everyone's"}
		}
		q.Agent = a.User
	}
	res, err := h.search.Search(ctx, q)
	switch {
	case errors.Is(err, search.ErrQuery):
		return errBadRequest("invalid_query", strings.TrimPrefix(strings.ReplaceAll(err.Error(), "\n", ": "), "search: invalid query: "), "q")
	case errors.Is(err, search.ErrUnavailable):
		h.log.Error("search failed", "err", err)
		return &apiError{Status: fiber.StatusServiceUnavailable, Code: "search_unavailable",
			Message: "the search index does not answer; try again in a moment (messages are indexed once it is back)"}
	case err != nil:
		return err
	}
	parts, _ := search.ParseQuery(text)
	hits := make([]searchHit, 0, len(res.Hits))
	convs := map[string]store.Conversation{}
	for _, hit := range res.Hits {
		ms, err := h.chat.Log().Since(ctx, a.Tenant, hit.ConversationID, hit.Seq-1, 1, false)
		if err != nil {
			return err
		}
		if len(ms) == 0 || ms[0].Seq != hit.Seq {
			continue // erased since it was indexed
		}
		cv, ok := convs[hit.ConversationID]
		if !ok {
			if cv, err = h.st.Conversation(ctx, a.Tenant, hit.ConversationID); err != nil {
				continue
			}
			convs[hit.ConversationID] = cv
		}
		hits = append(hits, searchHit{Message: ms[0], Conversation: cv, Snippet: search.Snippet(ms[0].Text, parts)})
	}
	return list(c, hits, res.Next)
}
