package search

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/nudgehq/nudge/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

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
	sqlInsertDoc = `INSERT INTO docs (tenant, conversation_id, seq, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (conversation_id, seq) DO NOTHING RETURNING rowid`
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
	err := e.db.Tx(ctx, func(tx *sql.Tx) error {
		insertDoc, insertTerms := tx.StmtContext(ctx, e.insertDoc), tx.StmtContext(ctx, e.insertTerms)
		// Every docs row first, then every terms row: a statement that may
		// abort opens a savepoint, which makes FTS5 write out what it holds
		// in memory; interleaved, that was one segment (and merge) per message.
		ids := make([]int64, len(rows))
		for i, r := range rows {
			err := insertDoc.QueryRowContext(ctx, r.d.Tenant, r.d.ConversationID, r.d.Seq, r.d.CreatedAt.UnixMilli()).Scan(&ids[i])
			if errors.Is(err, sql.ErrNoRows) {
				ids[i] = 0 // indexed already
				continue
			}
			if err != nil {
				return err
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
		upsert, clear, add := tx.StmtContext(ctx, e.upsertConv), tx.StmtContext(ctx, e.clearAgents), tx.StmtContext(ctx, e.addAgent)
		for id, d := range convs {
			c := d.Conv
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
	order := "d.created_at DESC, d.conversation_id DESC, d.seq DESC"
	if cur.asOf != 0 {
		where = append(where, "d.created_at <= ?")
		args = append(args, cur.asOf)
	}
	if q.Order == ByRelevance {
		order = "bm25(terms), " + order
	} else if cur.at != 0 {
		where = append(where, "(d.created_at, d.conversation_id, d.seq) < (?, ?, ?)")
		args = append(args, cur.at, cur.conv, cur.seq)
	}
	limit := q.limit()
	rows, err := e.db.R.QueryContext(ctx, `SELECT d.conversation_id, d.seq, d.created_at
		FROM terms JOIN docs d ON d.rowid = terms.rowid JOIN convs c ON c.id = d.conversation_id
		WHERE `+strings.Join(where, " AND ")+`
		ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit+1, cur.offset)...)
	if err != nil {
		return Result{}, fmt.Errorf("search: query: %w", err)
	}
	defer rows.Close()
	res := Result{Hits: []Hit{}}
	for rows.Next() {
		var h Hit
		var ms int64
		if err := rows.Scan(&h.ConversationID, &h.Seq, &ms); err != nil {
			return Result{}, fmt.Errorf("search: query: %w", err)
		}
		h.CreatedAt = time.UnixMilli(ms)
		res.Hits = append(res.Hits, h)
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
			last := res.Hits[limit-1]
			next = cursor{at: last.CreatedAt.UnixMilli(), seq: last.Seq, conv: last.ConversationID}
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
	if err != nil {
		return fmt.Errorf("search: delete %d conversations: %w", len(ids), err)
	}
	return nil
}
