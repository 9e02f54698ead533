package search

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
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
// of its own, over keyed hashes of the words instead of the words. Matching is
// whole words and phrases, ranked newest first; the file holds no transcript
// text, so encryption at rest covers the index too.
type Embedded struct {
	db   *store.DB
	key  KeyFunc
	keys sync.Map // tenant -> []byte
	// Prepared once on the writer: parsing SQL per message was a fifth of
	// the indexing time.
	insertDoc, insertTerms *sql.Stmt
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
	if e.insertDoc, err = db.W.PrepareContext(ctx, sqlInsertDoc); err == nil {
		e.insertTerms, err = db.W.PrepareContext(ctx, sqlInsertTerms)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("search: prepare: %w", err)
	}
	return e, nil
}

// Close closes the file.
func (e *Embedded) Close() error {
	e.insertDoc.Close()
	e.insertTerms.Close()
	return e.db.Close()
}

func (e *Embedded) tenantKey(ctx context.Context, tenant string) ([]byte, error) {
	if k, ok := e.keys.Load(tenant); ok {
		return k.([]byte), nil
	}
	k, err := e.key(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("search: key of %s: %w", tenant, err)
	}
	e.keys.Store(tenant, k)
	return k, nil
}

// blind turns words into their keyed hashes, space separated.
func blind(key []byte, words []Term) string {
	mac := hmac.New(sha256.New, key)
	var b strings.Builder
	var sum [sha256.Size]byte
	for i, w := range words {
		mac.Reset()
		mac.Write([]byte(w))
		if i > 0 {
			b.WriteByte(' ')
		}
		// 64 bits: no two words of one tenant's vocabulary collide in practice.
		b.WriteString(hex.EncodeToString(mac.Sum(sum[:0])[:8]))
	}
	return b.String()
}

const (
	sqlInsertDoc = `INSERT INTO docs (tenant, conversation_id, seq, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (conversation_id, seq) DO NOTHING RETURNING rowid`
	sqlInsertTerms   = `INSERT INTO terms (rowid, t) VALUES (?, ?)`
	sqlSetCheckpoint = `INSERT INTO meta (k, v) VALUES ('checkpoint', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`
)

// Index adds docs in one transaction with the checkpoint.
func (e *Embedded) Index(ctx context.Context, docs []Doc, checkpoint time.Time) error {
	type row struct {
		d     Doc
		terms string
	}
	rows := make([]row, 0, len(docs))
	for _, d := range docs {
		words := Terms(d.Text)
		if len(words) == 0 {
			continue
		}
		k, err := e.tenantKey(ctx, d.Tenant)
		if err != nil {
			return err
		}
		rows = append(rows, row{d, blind(k, words)})
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
	phrases := ParseQuery(q.Text)
	if len(phrases) == 0 {
		return Result{}, fmt.Errorf("%w: no words to search for", ErrQuery)
	}
	k, err := e.tenantKey(ctx, q.Tenant)
	if err != nil {
		return Result{}, err
	}
	match := make([]string, len(phrases))
	for i, p := range phrases {
		match[i] = `"` + blind(k, p) + `"`
	}
	where := []string{"terms MATCH ?", "d.tenant = ?"}
	args := []any{strings.Join(match, " "), q.Tenant}
	if q.Conversations != nil {
		ids, _ := json.Marshal(q.Conversations)
		where = append(where, "d.conversation_id IN (SELECT value FROM json_each(?))")
		args = append(args, string(ids))
	}
	if !q.From.IsZero() {
		where = append(where, "d.created_at >= ?")
		args = append(args, q.From.UnixMilli())
	}
	if !q.To.IsZero() {
		where = append(where, "d.created_at < ?")
		args = append(args, q.To.UnixMilli())
	}
	if q.Cursor != "" {
		at, conv, seq, err := parseCursor(q.Cursor)
		if err != nil {
			return Result{}, err
		}
		where = append(where, "(d.created_at, d.conversation_id, d.seq) < (?, ?, ?)")
		args = append(args, at, conv, seq)
	}
	limit := q.limit()
	rows, err := e.db.R.QueryContext(ctx, `SELECT d.conversation_id, d.seq, d.created_at
		FROM terms JOIN docs d ON d.rowid = terms.rowid
		WHERE `+strings.Join(where, " AND ")+`
		ORDER BY d.created_at DESC, d.conversation_id DESC, d.seq DESC LIMIT ?`, append(args, limit+1)...)
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
		last := res.Hits[limit-1]
		res.Next = fmt.Sprintf("%d.%d.%s", last.CreatedAt.UnixMilli(), last.Seq, last.ConversationID)
	}
	return res, nil
}

func parseCursor(c string) (at int64, conv string, seq int64, err error) {
	parts := strings.SplitN(c, ".", 3)
	if len(parts) == 3 {
		at, err = strconv.ParseInt(parts[0], 10, 64)
		if err == nil {
			seq, err = strconv.ParseInt(parts[1], 10, 64)
		}
		if err == nil && parts[2] != "" {
			return at, parts[2], seq, nil
		}
	}
	return 0, "", 0, fmt.Errorf("%w: bad cursor", ErrQuery)
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
