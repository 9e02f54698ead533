package search

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
	Conv           Conv
}

// Conv is what a search filters by of a message's conversation. It changes
// as the chat goes on (an agent joins, the chat closes): the feeder then
// indexes the conversation's messages again with the new values.
type Conv struct {
	Site, Visitor, Queue string
	Agents               []string // every agent who took part
	Disposition          string
	Closed               bool
}

// Order is how hits are sorted.
type Order string

const (
	ByDate      Order = "date"      // newest first (the default)
	ByRelevance Order = "relevance" // best match first, then newest
)

// Query finds a tenant's messages. Text is what an agent types: every word
// must be in a message, "quoted words" in that order, and a word ending in
// * is a prefix (refun* finds refund and refunded). Matching ignores case
// and accents. The other fields filter; empty means any.
type Query struct {
	Tenant                                   string
	Text                                     string
	Site, Visitor, Queue, Agent, Disposition string
	Status                                   string    // "open", "closed" or "" for both
	From, To                                 time.Time // created at or after From, before To; zero: open
	Order                                    Order     // "" is ByDate
	Limit                                    int       // 1–100; 0 means 20
	Cursor                                   string    // from the previous page's Result.Next
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
// (same conversation and seq) is one hit, with the Conv of the last time.
type Index interface {
	// Index adds docs and then records checkpoint, the time before which
	// every message is indexed (zero: leave it as it is).
	Index(ctx context.Context, docs []Doc, checkpoint time.Time) error
	// Checkpoint returns the last recorded checkpoint (zero: none).
	Checkpoint(ctx context.Context) (time.Time, error)
	Search(ctx context.Context, q Query) (Result, error)
	// DeleteConversations removes every doc of these conversations of tenant.
	DeleteConversations(ctx context.Context, tenant string, ids []string) error
	// Count is how many docs a tenant has ("": every tenant), as searches see them.
	Count(ctx context.Context, tenant string) (int64, error)
	// Health is nil when the backend answers.
	Health(ctx context.Context) error
	Close() error
}

// ErrQuery means a query a backend cannot run: no words, a bad cursor.
var ErrQuery = errors.New("search: invalid query")

// ErrUnavailable means the backend did not answer or refused us; the error
// says why.
var ErrUnavailable = errors.New("search: index unavailable")

const (
	// MaxLimit caps a page of hits.
	MaxLimit = 100
	// MaxHits is how deep pages go (Elasticsearch's default result window);
	// past it a search must be narrowed.
	MaxHits = 10_000
	// MinPrefix is the fewest bytes a prefix may have (refun*: 5): shorter
	// ones match most of a vocabulary and say little.
	MinPrefix = 3
)

func (q Query) limit() int {
	if q.Limit <= 0 {
		return 20
	}
	return min(q.Limit, MaxLimit)
}

// Term is one normalized word: lower case, accents removed.
type Term = string

// Part is one thing a message must contain: words that follow one another
// (a single word is a part of one), or a prefix of a word.
type Part struct {
	Words  []Term
	Prefix bool // Words is one word's beginning
}

// ParseQuery splits a query's text into parts: "quoted words" stay together,
// every other word is a part of its own, and an unquoted word ending in * is
// a prefix. Operators of other search syntaxes (AND, :, {}, ~) are words or
// nothing: a query is never passed to a backend as syntax.
func ParseQuery(text string) ([]Part, error) {
	var out []Part
	for i, seg := range strings.Split(text, `"`) {
		if i%2 == 1 {
			if words := Terms(seg); len(words) > 0 {
				out = append(out, Part{Words: words})
			}
			continue
		}
		for _, field := range strings.Fields(seg) {
			words := Terms(field)
			for j, w := range words {
				p := Part{Words: []Term{w}}
				if j == len(words)-1 && strings.HasSuffix(field, "*") {
					if len(w) < MinPrefix {
						return nil, errors.Join(ErrQuery, errors.New("a prefix needs at least 3 letters before the *"))
					}
					p.Prefix = true
				}
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.Join(ErrQuery, errors.New("no words to search for"))
	}
	return out, nil
}

// maxTerm keeps pasted blobs (base64, long URLs) from becoming huge terms;
// longer words are cut, so they still match themselves.
const maxTerm = 64

// Terms splits text into normalized words: runs of letters and digits, in
// lower case, with accents removed (é → e), so that "Café" finds "cafe".
func Terms(text string) []Term {
	var out []Term
	words(text, func(_, _ int, w string) { out = append(out, w) })
	return out
}

// words calls fn with each word of text: its byte span in text and its
// normalized form.
func words(text string, fn func(start, end int, w string)) {
	var b strings.Builder
	start := -1
	flush := func(end int) {
		if b.Len() > 0 {
			w := b.String()
			if len(w) > maxTerm {
				w = strings.ToValidUTF8(w[:maxTerm], "")
			}
			fn(start, end, w)
			b.Reset()
		}
		start = -1
	}
	add := func(i int, d rune) {
		switch {
		case unicode.Is(unicode.Mn, d):
			// a combining accent: dropped
		case unicode.IsLetter(d) || unicode.IsDigit(d):
			if start < 0 {
				start = i
			}
			b.WriteRune(unicode.ToLower(d))
		default:
			flush(i)
		}
	}
	for i, r := range text {
		if r < utf8.RuneSelf {
			add(i, r)
			continue
		}
		for _, d := range norm.NFKD.String(string(r)) {
			add(i, d)
		}
	}
	flush(len(text))
}

// Segment is a piece of a snippet; Match says whether it is a word the
// query found.
type Segment struct {
	Text  string `json:"text"`
	Match bool   `json:"match,omitempty"`
}

// snippetRunes is about how much of a message a snippet shows.
const snippetRunes = 160

// Snippet cuts text around the first word that parts match, marking every
// matching word: what a hit shows under a conversation. Both backends use
// it on the message the store gives back, so highlighting does not depend
// on the server.
func Snippet(text string, parts []Part) []Segment {
	exact, prefixes := map[Term]bool{}, []Term{}
	for _, p := range parts {
		if p.Prefix {
			prefixes = append(prefixes, p.Words[0])
			continue
		}
		for _, w := range p.Words {
			exact[w] = true
		}
	}
	type span struct{ start, end int }
	var hits []span
	words(text, func(start, end int, w string) {
		ok := exact[w]
		for _, p := range prefixes {
			ok = ok || strings.HasPrefix(w, p)
		}
		if ok {
			hits = append(hits, span{start, end})
		}
	})
	// The window starts a little before the first match, on a word's edge.
	from, to := 0, len(text)
	if len(hits) > 0 && len([]rune(text)) > snippetRunes {
		from = hits[0].start
		for back := 0; from > 0 && back < snippetRunes/4; back++ {
			from--
			for from > 0 && !utf8.RuneStart(text[from]) {
				from--
			}
		}
		if i := strings.IndexAny(text[from:hits[0].start], " \n\t"); i >= 0 && from > 0 {
			from += i + 1
		}
	}
	if r := []rune(text[from:]); len(r) > snippetRunes {
		to = from + len(string(r[:snippetRunes]))
		if i := strings.LastIndexAny(text[from:to], " \n\t"); i > snippetRunes/2 {
			to = from + i
		}
	}
	var out []Segment
	add := func(s string, match bool) {
		if s != "" {
			out = append(out, Segment{Text: s, Match: match})
		}
	}
	if from > 0 {
		add("…", false)
	}
	at := from
	for _, h := range hits {
		if h.start < from || h.end > to {
			continue
		}
		add(text[at:h.start], false)
		add(text[h.start:h.end], true)
		at = h.end
	}
	add(text[at:to], false)
	if to < len(text) {
		add("…", false)
	}
	return out
}
