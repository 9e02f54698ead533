package search

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nudgehq/nudge/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// relevanceWindow is how many of the newest matches a search by relevance
// ranks (bm25 over a million messages' matches of a common word took 60 ms
// at p95; over 5,000, docs/benchmarks.md).
const relevanceWindow = 5000

// slots is how many docs one millisecond's rowids hold (sqlInsertDoc). A
// doc's first choice is its seq's band (so that two messages of a
// conversation in one millisecond still come newest first: a hash of the
// conversation and seq ordered them at random), at its conversation's place
// in the band (so that the first messages of many conversations in one
// millisecond do not all probe past each other: by seq alone, a bulk of
// 1,200 took 1,200 × 600 tries); taken, the next free one.
const slots = 1_000_000

const band = 1000

func slotOf(conv string, seq int64) int64 {
	h := fnv.New32a()
	h.Write([]byte(conv))
	return (seq%band)*band + int64(h.Sum32()%band)
}

// KeyFunc returns a tenant's search key (32 bytes, the same for the tenant's
// whole life).
type KeyFunc func(ctx context.Context, tenant string) ([]byte, error)

// Embedded is the default backend: SQLite's full-text index (FTS5) in a file
// of its own, over keyed tokens of the words instead of the words (blind.go).
// Matching is whole words, phrases and prefixes; the file holds no transcript
// text, so encryption at rest covers the index too. What searches filter by
// (site, queue, agents, visitor, outcome, state) are keyed tokens too, in a
// second column, so that FTS5 intersects them with the words instead of a
// join checking every match.
type Embedded struct {
	db       *store.DB
	key      KeyFunc
	blinders sync.Map // tenant -> blinder
	// Prepared once on the writer: parsing SQL per message was a fifth of
	// the indexing time.
	insertDoc, docState, insertTerms, deleteTerms, setState *sql.Stmt
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
	e := &Embedded{db: db, key: key}
	// FTS5 keeps new terms in memory until they pass hashsize (1 MB by
	// default: a few hundred messages of tokens) and then writes a segment,
	// which is merged later; a batch of thousands fits in one.
	if _, err := db.W.ExecContext(ctx, `INSERT INTO terms(terms, rank) VALUES ('hashsize', ?), ('automerge', 8)`, 32<<20); err != nil {
		db.Close()
		return nil, fmt.Errorf("search: configure %s: %w", path, err)
	}
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{{&e.insertDoc, sqlInsertDoc}, {&e.docState, `SELECT rowid, state FROM docs WHERE conversation_id = ? AND seq = ?`},
		{&e.insertTerms, `INSERT INTO terms (rowid, t, f) VALUES (?, ?, ?)`}, {&e.deleteTerms, `DELETE FROM terms WHERE rowid = ?`},
		{&e.setState, `UPDATE docs SET state = ? WHERE rowid = ?`}} {
		if *p.st, err = db.W.PrepareContext(ctx, p.sql); err != nil {
			e.Close()
			return nil, fmt.Errorf("search: prepare: %w", err)
		}
	}
	return e, nil
}

// Close closes the file.
func (e *Embedded) Close() error {
	for _, st := range []*sql.Stmt{e.insertDoc, e.docState, e.insertTerms, e.deleteTerms, e.setState} {
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
	// match. Any conflict (the doc, or another in the slot) inserts nothing.
	sqlInsertDoc = `INSERT INTO docs (rowid, tenant, conversation_id, seq, created_at, state) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`
	sqlSetCheckpoint = `INSERT INTO meta (k, v) VALUES ('checkpoint', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`
)

// filterKeys are the filter column's values of a conversation, each marked
// by a byte no word has (words are letters and digits).
func filterKeys(c Conv) []string {
	state := "o"
	if c.Closed {
		state = "c"
	}
	keys := []string{"\x01s" + c.Site, "\x01v" + c.Visitor, "\x01q" + c.Queue, "\x01d" + c.Disposition, "\x01c" + state}
	for _, a := range c.Agents {
		keys = append(keys, "\x01a"+a)
	}
	return keys
}

// queryKeys are the filter values a query asks for.
func queryKeys(q Query) []string {
	var keys []string
	for _, f := range []struct{ mark, v string }{{"s", q.Site}, {"v", q.Visitor}, {"q", q.Queue}, {"d", q.Disposition}, {"a", q.Agent}} {
		if f.v != "" {
			keys = append(keys, "\x01"+f.mark+f.v)
		}
	}
	switch q.Status {
	case "open":
		keys = append(keys, "\x01co")
	case "closed":
		keys = append(keys, "\x01cc")
	}
	return keys
}

// stateOf is a hash of what a doc's filter column holds: a doc indexed again
// with another state is rewritten, with the same state left alone.
func stateOf(c Conv) int64 {
	h := fnv.New64a()
	for _, k := range filterKeys(c) {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return int64(h.Sum64() >> 1)
}

// Index adds docs in one transaction with the checkpoint. A doc indexed
// before is rewritten only when its conversation's state changed.
func (e *Embedded) Index(ctx context.Context, docs []Doc, checkpoint time.Time) error {
	type row struct {
		d      Doc
		t, f   string
		state  int64
		rowid  int64
		exists bool
	}
	rows := make([]row, 0, len(docs))
	for _, d := range docs {
		words := Terms(d.Text)
		if len(words) == 0 {
			continue
		}
		b, err := e.blinder(ctx, d.Tenant)
		if err != nil {
			return err
		}
		rows = append(rows, row{d: d, t: b.text(words), f: b.text(filterKeys(d.Conv)), state: stateOf(d.Conv)})
	}
	err := e.db.Tx(ctx, func(tx *sql.Tx) error {
		insertDoc, docState, setState := tx.StmtContext(ctx, e.insertDoc), tx.StmtContext(ctx, e.docState), tx.StmtContext(ctx, e.setState)
		// Every docs row first, then every terms row: a statement that may
		// abort opens a savepoint, which makes FTS5 write out what it holds
		// in memory; interleaved, that was one segment (and merge) per message.
		write := make([]bool, len(rows))
		for i := range rows {
			r := &rows[i]
			ms := r.d.CreatedAt.UnixMilli()
			first := slotOf(r.d.ConversationID, r.d.Seq)
			for slot := first; ; slot = (slot + 1) % slots {
				res, err := insertDoc.ExecContext(ctx, ms*slots+slot, r.d.Tenant, r.d.ConversationID, r.d.Seq, ms, r.state)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 1 {
					r.rowid, write[i] = ms*slots+slot, true
					break
				}
				var state int64
				if err := docState.QueryRowContext(ctx, r.d.ConversationID, r.d.Seq).Scan(&r.rowid, &state); err == nil {
					// Indexed already: rewritten if its conversation changed.
					if state != r.state {
						if _, err := setState.ExecContext(ctx, r.state, r.rowid); err != nil {
							return err
						}
						r.exists, write[i] = true, true
					}
					break
				} else if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				if slot == (first+slots-1)%slots {
					return fmt.Errorf("more than %d messages in the millisecond %d", slots, ms)
				}
			}
		}
		// In rowid order: FTS5 writes out what it holds in memory whenever a
		// rowid is not above the last one.
		order := make([]int, 0, len(rows))
		for i := range rows {
			if write[i] {
				order = append(order, i)
			}
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(rows[a].rowid, rows[b].rowid) })
		insertTerms, deleteTerms := tx.StmtContext(ctx, e.insertTerms), tx.StmtContext(ctx, e.deleteTerms)
		for _, i := range order {
			r := rows[i]
			if r.exists {
				if _, err := deleteTerms.ExecContext(ctx, r.rowid); err != nil {
					return err
				}
			}
			if _, err := insertTerms.ExecContext(ctx, r.rowid, r.t, r.f); err != nil {
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
	// Times are rowid ranges (sqlInsertDoc), which FTS5 applies itself. Tokens
	// are keyed per tenant, so matches are the tenant's; docs say so again.
	where := []string{"terms MATCH ?"}
	args := []any{b.match(parts, queryKeys(q))}
	if !q.From.IsZero() {
		where = append(where, "terms.rowid >= ?")
		args = append(args, q.From.UnixMilli()*slots)
	}
	if !q.To.IsZero() {
		where = append(where, "terms.rowid < ?")
		args = append(args, q.To.UnixMilli()*slots)
	}
	if cur.asOf != 0 {
		where = append(where, "terms.rowid < ?")
		args = append(args, (cur.asOf+1)*slots)
	}
	limit := q.limit()
	var query string
	if q.Order == ByRelevance {
		// The best of the newest relevanceWindow matches: scoring every match
		// of a common word would read them all. The filter column takes no
		// part in the score.
		query = `SELECT m.rowid, d.conversation_id, d.seq, d.created_at
			FROM (SELECT terms.rowid, bm25(terms, 1.0, 0.0) AS score FROM terms WHERE ` + strings.Join(where, " AND ") + `
				ORDER BY terms.rowid DESC LIMIT ` + strconv.Itoa(relevanceWindow) + `) m
			JOIN docs d ON d.rowid = m.rowid WHERE d.tenant = ?
			ORDER BY m.score, m.rowid DESC LIMIT ? OFFSET ?`
	} else {
		if cur.key != 0 {
			where = append(where, "terms.rowid < ?")
			args = append(args, cur.key)
		}
		// The full-text index lists matches by rowid: newest first, a page
		// read and no sort.
		query = `SELECT terms.rowid, d.conversation_id, d.seq, d.created_at
			FROM terms JOIN docs d ON d.rowid = terms.rowid
			WHERE ` + strings.Join(where, " AND ") + ` AND d.tenant = ?
			ORDER BY terms.rowid DESC LIMIT ? OFFSET ?`
	}
	rows, err := e.db.R.QueryContext(ctx, query, append(args, q.Tenant, limit+1, cur.offset)...)
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
		if q.Order != ByRelevance || next.offset+limit < relevanceWindow {
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
		_, err := tx.ExecContext(ctx, `DELETE FROM docs WHERE rowid IN (`+pick+`)`, tenant, string(list))
		return err
	})
	if err != nil {
		return fmt.Errorf("search: delete %d conversations: %w", len(ids), err)
	}
	return nil
}
