package search

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Doc is one chat message as an index holds it. Text is already redacted
// (card numbers and the tenant's patterns masked) when it gets here.
type Doc struct {
	Tenant         string
	ConversationID string
	Seq            int64
	SenderKind     string // visitor, agent, bot
	Audience       string // all, or agents (whispers, consult notes)
	Text           string
	CreatedAt      time.Time
}

// Query finds a tenant's messages. Every word of Text must be in a message;
// "quoted words" must be there in that order. Matching ignores case and
// accents. Hits come newest first.
type Query struct {
	Tenant string
	Text   string
	// Conversations, when not nil, limits the hits to these conversations
	// (an agent searches the chats they took part in).
	Conversations []string
	From, To      time.Time // created at or after From, before To; zero: open
	Limit         int       // 1–100; 0 means 20
	Cursor        string    // from the previous page's Result.Next
}

// Hit names a message; its text is read (and decrypted) from the store.
type Hit struct {
	ConversationID string
	Seq            int64
	CreatedAt      time.Time
}

// Result is one page of hits; Next is empty on the last page.
type Result struct {
	Hits []Hit
	Next string
}

// Index is a search backend. Indexing is idempotent: a doc indexed twice
// (same conversation and seq) is one hit.
type Index interface {
	// Index adds docs and then records checkpoint, the time before which
	// every message is indexed (zero: leave it as it is).
	Index(ctx context.Context, docs []Doc, checkpoint time.Time) error
	// Checkpoint returns the last recorded checkpoint (zero: none).
	Checkpoint(ctx context.Context) (time.Time, error)
	Search(ctx context.Context, q Query) (Result, error)
	// DeleteConversations removes every doc of these conversations of tenant.
	DeleteConversations(ctx context.Context, tenant string, ids []string) error
	Close() error
}

// ErrQuery means a query a backend cannot run: no words, a bad cursor.
var ErrQuery = errors.New("search: invalid query")

// MaxLimit caps a page of hits.
const MaxLimit = 100

func (q Query) limit() int {
	if q.Limit <= 0 {
		return 20
	}
	return min(q.Limit, MaxLimit)
}

// Term is one normalized word: lower case, accents removed.
type Term = string

// Phrase is words that must follow one another; a single word is a phrase
// of one.
type Phrase []Term

// ParseQuery splits a query's text into phrases: "quoted words" stay
// together, every other word is a phrase of its own.
func ParseQuery(text string) []Phrase {
	var out []Phrase
	for i, part := range strings.Split(text, `"`) {
		words := Terms(part)
		if i%2 == 1 && len(words) > 0 {
			out = append(out, Phrase(words))
			continue
		}
		for _, w := range words {
			out = append(out, Phrase{w})
		}
	}
	return out
}

// maxTerm keeps pasted blobs (base64, long URLs) from becoming huge terms;
// longer words are cut, so they still match themselves.
const maxTerm = 64

// Terms splits text into normalized words: runs of letters and digits, in
// lower case, with accents removed (é → e), so that "Café" finds "cafe".
func Terms(text string) []Term {
	var out []Term
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			w := b.String()
			if len(w) > maxTerm {
				w = strings.ToValidUTF8(w[:maxTerm], "")
			}
			out = append(out, w)
			b.Reset()
		}
	}
	for _, r := range norm.NFKD.String(text) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// a combining accent: dropped
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			flush()
		}
	}
	flush()
	return out
}
