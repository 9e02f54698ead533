package server

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/nudgehq/nudge/search"
	"github.com/nudgehq/nudge/server/chat"
	"github.com/nudgehq/nudge/server/keys"
	"github.com/nudgehq/nudge/store"
)

// openSearch opens the embedded index and its feeder; the feeder starts once
// the chat engine it reads back from exists (startFeeder).
func openSearch(ctx context.Context, cfg Config, ring *keys.Ring) (search.Index, error) {
	return search.OpenEmbedded(ctx, cfg.SearchPath(), func(ctx context.Context, tenant string) ([]byte, error) {
		return ring.Derive(ctx, tenant, "search index")
	})
}

// searchDoc is what the index gets of a committed message: its redacted text,
// for the kinds people write (not engine notices or attachments).
func searchDoc(tenant string, m chat.Message) (search.Doc, bool) {
	switch m.Kind {
	case chat.KindText, chat.KindRich, chat.KindForm:
	default:
		return search.Doc{}, false
	}
	if m.Text == "" {
		return search.Doc{}, false
	}
	return search.Doc{Tenant: tenant, ConversationID: m.ConversationID, Seq: m.Seq, SenderKind: m.Sender.Kind,
		Audience: m.Audience, Text: m.Text, CreatedAt: m.CreatedAt}, true
}

// startFeeder reads back from the chat log what the index missed, then
// indexes messages as they are committed.
func startFeeder(feed *search.Feeder, log *chat.Log) {
	feed.Start(func(ctx context.Context, since time.Time, fn func([]search.Doc) error) error {
		return log.Replay(ctx, since, func(tenant string, ms []chat.Message) error {
			docs := make([]search.Doc, 0, len(ms))
			for _, m := range ms {
				if d, ok := searchDoc(tenant, m); ok {
					docs = append(docs, d)
				}
			}
			return fn(docs)
		})
	})
}

// searchHit is one message found, with its conversation.
type searchHit struct {
	chat.Message
	Conversation store.Conversation `json:"conversation"`
}

// searchChats finds messages by their words in the transcripts the caller may
// read: a supervisor's whole tenant, an agent's own conversations.
func (s *Server) searchChats(c *fiber.Ctx) error {
	text := strings.TrimSpace(c.Query("q"))
	if text == "" || utf8.RuneCountInString(text) > 200 || !utf8.ValidString(text) {
		return errBadRequest("invalid_query", "q is the words to find, 1 to 200 characters", "q")
	}
	q := search.Query{Text: text, Cursor: c.Query("cursor")}
	if len(q.Cursor) > 200 {
		return errBadRequest("invalid_query", "cursor is malformed", "cursor")
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
	a := s.chatAgent(c)
	q.Tenant = a.Tenant
	ctx := c.UserContext()
	if !a.Supervise {
		ids, err := s.st.ParticipantConversations(ctx, a.Tenant, a.User)
		if err != nil {
			return err
		}
		q.Conversations = ids
	}
	res, err := s.search.Search(ctx, q)
	if errors.Is(err, search.ErrQuery) {
		return errBadRequest("invalid_query", strings.TrimPrefix(err.Error(), "search: "), "q")
	}
	if err != nil {
		return err
	}
	hits := make([]searchHit, 0, len(res.Hits))
	convs := map[string]store.Conversation{}
	for _, h := range res.Hits {
		ms, err := s.chat.Log().Since(ctx, a.Tenant, h.ConversationID, h.Seq-1, 1, false)
		if err != nil {
			return err
		}
		if len(ms) == 0 || ms[0].Seq != h.Seq {
			continue // erased since it was indexed
		}
		cv, ok := convs[h.ConversationID]
		if !ok {
			if cv, err = s.st.Conversation(ctx, a.Tenant, h.ConversationID); err != nil {
				continue
			}
			convs[h.ConversationID] = cv
		}
		hits = append(hits, searchHit{Message: ms[0], Conversation: cv})
	}
	return list(c, hits, res.Next)
}
