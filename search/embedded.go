package search

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nudgehq/nudge/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// slots is how many docs one millisecond's rowids hold (sqlInsertDoc): a
// doc takes the slot its conversation and seq hash to, or the next free one.
const slots = 1_000_000

func slotOf(conv string, seq int64) int64 {
	h := fnv.New64a()
	h.Write([]byte(conv))
	return int64((h.Sum64() ^ uint64(seq)*0x9e3779b97f4a7c15) % slots)
}

// KeyFunc returns a tenant's search key (32 bytes, the same for the tenant's
// whole life).
type KeyFunc func(ctx context.Context, tenant string) ([]byte, error)

// Embedded is the default backend: SQLite's full-text index (FTS5) in a file
// of its own, over keyed tokens of the words instead of the words (blind.go).
// Matching is whole words, phrases and prefixes; the file holds no transcript
// text, so encryption at rest covers the index too.
type Embedded struct {
	db       *store.DB
	key      KeyFunc
	blinders sync.Map // tenant -> blinder
	// Prepared once on the writer: parsing SQL per message was a fifth of
	// the indexing time.
	insertDoc, insertTerms, upsertConv, clearAgents, addAgent *sql.Stmt

	// convs is what the file holds of recently written conversations: the
	// feeder sends each conversation's state with every batch, and it
	// rarely changes. Bounded: emptied when full.
	convMu sync.Mutex
	convs  map[string]string
}

const maxConvCache = 100_000

// convState is a conversation's fields as one comparable string.
func convState(tenant string, c Conv) string {
	return strings.Join(append([]string{tenant, c.Site, c.Visitor, c.Queue, c.Disposition, strconv.FormatBool(c.Closed)}, c.Agents...), "\x00")
}

// OpenEmbedded opens (creating if needed) the index file at path.
func OpenEmbedded(ctx context.Context, path string, key KeyFunc) (*Embedded, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	// NORMAL: the index and its checkpoint commit together, so a power cut
	// loses both and the feeder indexes those messages again.
	db, err := store.OpenDB(ctx, path, store.DBOptions{Migrations: sub, Synchronous: "NORMAL",
		Pragmas: []string{"cache_size(-32768)"}})
	if err != nil {
		return nil, fmt.Errorf("search: open %s: %w", path, err)
	}
	e := &Embedded{db: db, key: key, convs: map[string]string{}}
	if _, err := db.W.ExecContext(ctx, `INSERT INTO terms(terms, rank) VALUES ('hashsize', ?)`, 32<<20); err != nil {
		db.Close()
		return nil, fmt.Errorf("search: configure %s: %w", path, err)
	}
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{{&e.insertDoc, sqlInsertDoc}, {&e.insertTerms, sqlInsertTerms}, {&e.upsertConv, sqlUpsertConv},
		{&e.clearAgents, `DELETE FROM conv_agents WHERE conversation_id = ?`},
		{&e.addAgent, `INSERT INTO conv_agents (agent, conversation_id) VALUES (?, ?) ON CONFLICT DO NOTHING`}} {
		if *p.st, err = db.W.PrepareContext(ctx, p.sql); err != nil {
			e.Close()
			return nil, fmt.Errorf("search: prepare: %w", err)
		}
	}
	return e, nil
}

// Close closes the file.
func (e *Embedded) Close() error {
	for _, st := range []*sql.Stmt{e.insertDoc, e.insertTerms, e.upsertConv, e.clearAgents, e.addAgent} {
		if st != nil {
			st.Close()
		}
	}
	return e.db.Close()
}

func (e *Embedded) blinder(ctx context.Context, tenant string) (blinder, error) {
	if b, ok := e.blinders.Load(tenant); ok {
		return b.(blinder), nil
	}
	k, err := e.key(ctx, tenant)
	if err == nil {
		var b blinder
		if b, err = newBlinder(k); err == nil {
			e.blinders.Store(tenant, b)
			return b, nil
		}
	}
	return blinder{}, fmt.Errorf("search: key of %s: %w", tenant, err)
}

const (
	// A doc's rowid is its time in ms × a million plus a slot, so that the
	// full-text index, which keeps rowids in order, lists the newest first
	// and a search by date stops after one page instead of sorting every
	// match. Any conflict (the doc, or another in the slot) returns no row.
	sqlInsertDoc = `INSERT INTO docs (rowid, tenant, conversation_id, seq, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING RETURNING rowid`
	sqlDocExists   = `SELECT 1 FROM docs WHERE conversation_id = ? AND seq = ?`
	sqlInsertTerms = `INSERT INTO terms (rowid, t) VALUES (?, ?)`
	sqlUpsertConv  = `INSERT INTO convs (id, tenant, site, visitor, queue, disposition, closed) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET site = excluded.site, visitor = excluded.visitor, queue = excluded.queue,
		disposition = excluded.disposition, closed = excluded.closed WHERE tenant = excluded.tenant`
	sqlSetCheckpoint = `INSERT INTO meta (k, v) VALUES ('checkpoint', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`
)

// Index adds docs in one transaction with the checkpoint.
func (e *Embedded) Index(ctx context.Context, docs []Doc, checkpoint time.Time) error {
	type row struct {
		d     Doc
		terms string
	}
	rows := make([]row, 0, len(docs))
	convs := map[string]Doc{} // the last doc of each conversation: its Conv is the newest
	for _, d := range docs {
		convs[d.ConversationID] = d
		words := Terms(d.Text)
		if len(words) == 0 {
			continue
		}
		b, err := e.blinder(ctx, d.Tenant)
		if err != nil {
			return err
		}
		rows = append(rows, row{d, b.text(words)})
	}
	changed := map[string]bool{}
	e.convMu.Lock()
	for id, d := range convs {
		changed[id] = e.convs[id] != convState(d.Tenant, d.Conv)
	}
	e.convMu.Unlock()
	err := e.db.Tx(ctx, func(tx *sql.Tx) error {
		insertDoc, insertTerms := tx.StmtContext(ctx, e.insertDoc), tx.StmtContext(ctx, e.insertTerms)
		// Conversations first: their statements open savepoints too.
		upsert, clear, add := tx.StmtContext(ctx, e.upsertConv), tx.StmtContext(ctx, e.clearAgents), tx.StmtContext(ctx, e.addAgent)
		for id, d := range convs {
			c := d.Conv
			if !changed[id] {
				continue
			}
			if _, err := upsert.ExecContext(ctx, id, d.Tenant, c.Site, c.Visitor, c.Queue, c.Disposition, c.Closed); err != nil {
				return err
			}
			if _, err := clear.ExecContext(ctx, id); err != nil {
				return err
			}
			for _, a := range c.Agents {
				if _, err := add.ExecContext(ctx, a, id); err != nil {
					return err
				}
			}
		}
		// Every docs row first, then every terms row: a statement that may
		// abort opens a savepoint, which makes FTS5 write out what it holds
		// in memory; interleaved, that was one segment (and merge) per message.
		ids := make([]int64, len(rows))
		for i, r := range rows {
			ms := r.d.CreatedAt.UnixMilli()
			first := slotOf(r.d.ConversationID, r.d.Seq)
			for slot := first; ; slot = (slot + 1) % slots {
				err := insertDoc.QueryRowContext(ctx, ms*slots+slot, r.d.Tenant, r.d.ConversationID, r.d.Seq, ms).Scan(&ids[i])
				if err == nil {
					break
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				var one int
				if err := tx.QueryRowContext(ctx, sqlDocExists, r.d.ConversationID, r.d.Seq).Scan(&one); err == nil {
					ids[i] = 0 // indexed already
					break
				} else if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				if slot == (first+slots-1)%slots {
					return fmt.Errorf("more than %d messages in the millisecond %d", slots, ms)
				}
			}
		}
		for i, r := range rows {
			if ids[i] == 0 {
				continue
			}
			if _, err := insertTerms.ExecContext(ctx, ids[i], r.terms); err != nil {
				return err
			}
		}
		if !checkpoint.IsZero() {
			if _, err := tx.ExecContext(ctx, sqlSetCheckpoint, checkpoint.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("search: index %d docs: %w", len(rows), err)
	}
	e.convMu.Lock()
	if len(e.convs)+len(changed) > maxConvCache {
		clear(e.convs)
	}
	for id, d := range convs {
		if changed[id] {
			e.convs[id] = convState(d.Tenant, d.Conv)
		}
	}
	e.convMu.Unlock()
	return nil
}

// Checkpoint returns the recorded checkpoint.
func (e *Embedded) Checkpoint(ctx context.Context) (time.Time, error) {
	var ms int64
	err := e.db.R.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'checkpoint'`).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("search: checkpoint: %w", err)
	}
	return time.UnixMilli(ms), nil
}

// Search runs q over the tenant's docs.
func (e *Embedded) Search(ctx context.Context, q Query) (Result, error) {
	parts, err := ParseQuery(q.Text)
	if err != nil {
		return Result{}, err
	}
	cur, err := parseCursor(q)
	if err != nil {
		return Result{}, err
	}
	b, err := e.blinder(ctx, q.Tenant)
	if err != nil {
		return Result{}, err
	}
	where := []string{"terms MATCH ?", "d.tenant = ?", "c.tenant = ?"}
	args := []any{b.match(parts), q.Tenant, q.Tenant}
	for _, f := range []struct{ col, v string }{{"c.site", q.Site}, {"c.visitor", q.Visitor}, {"c.queue", q.Queue}, {"c.disposition", q.Disposition}} {
		if f.v != "" {
			where = append(where, f.col+" = ?")
			args = append(args, f.v)
		}
	}
	if q.Agent != "" {
		where = append(where, "EXISTS (SELECT 1 FROM conv_agents a WHERE a.agent = ? AND a.conversation_id = d.conversation_id)")
		args = append(args, q.Agent)
	}
	switch q.Status {
	case "open", "closed":
		where = append(where, "c.closed = ?")
		args = append(args, q.Status == "closed")
	}
	if !q.From.IsZero() {
		where = append(where, "d.created_at >= ?")
		args = append(args, q.From.UnixMilli())
	}
	if !q.To.IsZero() {
		where = append(where, "d.created_at < ?")
		args = append(args, q.To.UnixMilli())
	}
	order := "terms.rowid DESC" // newest first (sqlInsertDoc)
	if cur.asOf != 0 {
		where = append(where, "d.created_at <= ?")
		args = append(args, cur.asOf)
	}
	if q.Order == ByRelevance {
		order = "bm25(terms), " + order
	} else if cur.key != 0 {
		where = append(where, "terms.rowid < ?")
		args = append(args, cur.key)
	}
	limit := q.limit()
	rows, err := e.db.R.QueryContext(ctx, `SELECT terms.rowid, d.conversation_id, d.seq, d.created_at
		FROM terms JOIN docs d ON d.rowid = terms.rowid JOIN convs c ON c.id = d.conversation_id
		WHERE `+strings.Join(where, " AND ")+`
		ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit+1, cur.offset)...)
	if err != nil {
		return Result{}, fmt.Errorf("search: query: %w", err)
	}
	defer rows.Close()
	res := Result{Hits: []Hit{}}
	var keys []int64
	for rows.Next() {
		var h Hit
		var key, ms int64
		if err := rows.Scan(&key, &h.ConversationID, &h.Seq, &ms); err != nil {
			return Result{}, fmt.Errorf("search: query: %w", err)
		}
		h.CreatedAt = time.UnixMilli(ms)
		res.Hits, keys = append(res.Hits, h), append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return Result{}, fmt.Errorf("search: query: %w", err)
	}
	if len(res.Hits) > limit {
		res.Hits = res.Hits[:limit]
		next := cursor{offset: cur.offset + limit, asOf: cur.asOf}
		if next.asOf == 0 {
			next.asOf = time.Now().UnixMilli()
		}
		if q.Order != ByRelevance {
			next = cursor{key: keys[limit-1]}
		}
		if q.Order != ByRelevance || deepEnough(next.offset, limit) {
			res.Next = next.String()
		}
	}
	return res, nil
}

// Count counts a tenant's docs.
func (e *Embedded) Count(ctx context.Context, tenant string) (int64, error) {
	var n int64
	q, args := `SELECT count(*) FROM docs`, []any{}
	if tenant != "" {
		q, args = q+` WHERE tenant = ?`, append(args, tenant)
	}
	if err := e.db.R.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("search: count: %w", err)
	}
	return n, nil
}

// Health reads the file.
func (e *Embedded) Health(ctx context.Context) error {
	_, err := e.Checkpoint(ctx)
	return err
}

// DeleteConversations removes the conversations' docs.
func (e *Embedded) DeleteConversations(ctx context.Context, tenant string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	list, _ := json.Marshal(ids)
	err := e.db.Tx(ctx, func(tx *sql.Tx) error {
		const pick = `SELECT rowid FROM docs WHERE tenant = ? AND conversation_id IN (SELECT value FROM json_each(?))`
		if _, err := tx.ExecContext(ctx, `DELETE FROM terms WHERE rowid IN (`+pick+`)`, tenant, string(list)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM docs WHERE rowid IN (`+pick+`)`, tenant, string(list)); err != nil {
			return err
		}
		const convs = `SELECT id FROM convs WHERE tenant = ? AND id IN (SELECT value FROM json_each(?))`
		if _, err := tx.ExecContext(ctx, `DELETE FROM conv_agents WHERE conversation_id IN (`+convs+`)`, tenant, string(list)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM convs WHERE id IN (`+convs+`)`, tenant, string(list))
		return err
	})
	e.convMu.Lock()
	for _, id := range ids {
		delete(e.convs, id)
	}
	e.convMu.Unlock()
	if err != nil {
		return fmt.Errorf("search: delete %d conversations: %w", len(ids), err)
	}
	return nil
}
