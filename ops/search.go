package ops

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/search"
	"github.com/nudgehq/nudge/store"
)

// OpenSearch opens the configured index: Elasticsearch when --search-url is
// set, else the embedded one. An Elasticsearch that does not answer is
// logged, not fatal: chat goes on, searches answer 503, and the feeder
// indexes what it missed once the cluster is back.
func OpenSearch(ctx context.Context, cfg Config, ring *keys.Ring, log *slog.Logger) (search.Index, error) {
	if cfg.SearchURL == "" {
		return search.OpenEmbedded(ctx, cfg.SearchPath(), func(ctx context.Context, tenant string) ([]byte, error) {
			return ring.Derive(ctx, tenant, "search index")
		})
	}
	o := search.ElasticOptions{URL: cfg.SearchURL, Username: cfg.SearchUsername, Password: cfg.SearchPassword,
		APIKey: cfg.SearchAPIKey, Prefix: cfg.SearchPrefix, Logger: log}
	if cfg.SearchCAFile != "" {
		ca, err := os.ReadFile(cfg.SearchCAFile)
		if err != nil {
			return nil, fmt.Errorf("search CA file: %w", err)
		}
		o.CACert = ca
	}
	ix, err := search.OpenElastic(o)
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := ix.Health(hctx); err != nil {
		log.Error("search: the Elasticsearch server is not usable; chat goes on, searches answer 503 until it is", "url", RedactURL(cfg.SearchURL), "err", err)
	}
	return ix, nil
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

// feedSearch hands a committed message to the feeder: a message people wrote
// to be indexed; an engine notice (an agent joined, the chat closed) says
// the conversation's state changed, which its indexed messages carry.
func feedSearch(feed *search.Feeder, tenant string, m chat.Message) {
	if m.Kind == chat.KindSystem {
		feed.Touch(tenant, m.ConversationID)
		return
	}
	if d, ok := searchDoc(tenant, m); ok {
		feed.Add(d)
	}
}

// SearchSource is the store as the feeder reads it: messages read back, each
// described by its conversation's state now; a notice read back is handed
// to touch (when not nil), so that a change the index had not applied
// before a crash is applied after it.
func SearchSource(st *store.Store, log *chat.Log, touch func(tenant, id string)) search.Source {
	describe := func(ctx context.Context, docs []search.Doc) ([]search.Doc, error) {
		ids := make([]string, 0, 8)
		for i, d := range docs {
			if i == 0 || d.ConversationID != docs[i-1].ConversationID {
				ids = append(ids, d.ConversationID)
			}
		}
		facts, err := st.ConversationFacts(ctx, ids)
		if err != nil {
			return nil, err
		}
		out := docs[:0:0]
		for _, d := range docs {
			f, ok := facts[d.ConversationID]
			if !ok || f.TenantID != d.Tenant {
				continue // erased since
			}
			d.Conv = search.Conv{Site: f.SiteID, Visitor: f.Visitor, Queue: f.QueueID, Agents: f.Agents,
				Disposition: f.Disposition, Closed: f.Closed}
			out = append(out, d)
		}
		return out, nil
	}
	return search.Source{
		Replay: func(ctx context.Context, since time.Time, fn func([]search.Doc) error) error {
			return log.Replay(ctx, since, func(tenant string, ms []chat.Message) error {
				docs := make([]search.Doc, 0, len(ms))
				for _, m := range ms {
					if d, ok := searchDoc(tenant, m); ok {
						docs = append(docs, d)
					} else if m.Kind == chat.KindSystem && touch != nil {
						touch(tenant, m.ConversationID)
					}
				}
				return fn(docs)
			})
		},
		Describe: describe,
		Conversation: func(ctx context.Context, tenant, id string) ([]search.Doc, error) {
			var docs []search.Doc
			for after := int64(0); ; {
				ms, err := log.Since(ctx, tenant, id, after, 1000, false)
				if err != nil {
					return nil, err
				}
				for _, m := range ms {
					if d, ok := searchDoc(tenant, m); ok {
						docs = append(docs, d)
					}
				}
				if len(ms) < 1000 {
					break
				}
				after = ms[len(ms)-1].Seq
			}
			return describe(ctx, docs)
		},
	}
}

// RedactURL is a URL for logs: without its password.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
