package analytics

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Erase deletes everything known of one visitor of a site, from raw events and
// the visit-keyed rollups: id is a visitor id, or an identified user id (every
// visitor that identified as it). The days it counted in are marked dirty:
// reports recompute them at once, and the next Roll rebuilds their daily
// rollups without the visitor. It returns how many events were deleted.
func Erase(ctx context.Context, db *DB, siteID, id string) (int64, error) {
	var n int64
	site, ok, err := db.site(ctx, siteID, false)
	if err != nil || !ok {
		return 0, err
	}
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		// The visitor ids to erase: id, and every visitor that identified as it.
		visitors := []any{id}
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT visitor FROM visits WHERE site = ? AND user_id = ? AND visitor <> ?`, site, id, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			visitors = append(visitors, v)
		}
		rows.Close()
		in := `(?` + strings.Repeat(", ?", len(visitors)-1) + `)`
		args := append([]any{site}, visitors...)
		// Rolled days that counted this visitor are rolled again (Roll).
		if _, err := tx.ExecContext(ctx, `UPDATE rolled_days SET dirty = 1 WHERE site = ? AND day IN
			(SELECT DISTINCT day FROM visits WHERE site = ? AND visitor IN `+in+`)`, append([]any{site}, args...)...); err != nil {
			return fmt.Errorf("mark days: %w", err)
		}
		// Events first, through the visits that bound them in time.
		n, _, err = deleteEvents(ctx, tx, `DELETE FROM event_log WHERE id IN (
			SELECT e.id FROM visits v JOIN event_log e ON e.site = v.site AND e.ts BETWEEN v.start_ts AND v.end_ts AND e.visit = v.visit
			WHERE v.site = ? AND v.visitor IN `+in+`) RETURNING n`, args...)
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		for _, table := range []string{"visits", "visitor_numbers", "offer_visits"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE site = ? AND visitor IN `+in, args...); err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
		}
		return nil
	})
	db.removals.Add(1)
	if err != nil {
		return 0, fmt.Errorf("analytics: erase %s of %s: %w", id, siteID, err)
	}
	return n, nil
}

// DropEventsBefore applies a retention period: it deletes a site's raw events
// older than cutoff. Rollups stay, so reports over old ranges still work.
func DropEventsBefore(ctx context.Context, db *DB, siteID string, cutoff time.Time) (int64, error) {
	var total int64
	site, ok, err := db.site(ctx, siteID, false)
	if err != nil || !ok {
		return 0, err
	}
	// In slices, so that a large purge never holds the writer for long.
	for {
		var rows int64
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			n, r, err := deleteEvents(ctx, tx, `DELETE FROM event_log WHERE id IN
				(SELECT id FROM event_log WHERE site = ? AND ts < ? LIMIT 1000) RETURNING n`, site, cutoff.UnixMilli())
			total, rows = total+n, r
			return err
		})
		if err != nil {
			return total, fmt.Errorf("analytics: retention of %s: %w", siteID, err)
		}
		if rows < 1000 {
			return total, nil
		}
	}
}

// deleteEvents runs a DELETE … RETURNING n on event_log: it returns the
// events of the rows it deleted, and the rows.
func deleteEvents(ctx context.Context, tx *sql.Tx, query string, args ...any) (events, deleted int64, err error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return events, deleted, err
		}
		events, deleted = events+n, deleted+1
	}
	return events, deleted, rows.Err()
}

// DeleteSite deletes everything the analytics file holds of a site: its
// events, visits, rollups, offer steps and bot counts; a deleted site's
// visitors are not kept. Events go in slices, so that a large site never
// holds the writer for long; the tables keyed by visit or day go at once.
func DeleteSite(ctx context.Context, db *DB, siteID string) error {
	site, ok, err := db.site(ctx, siteID, false)
	if err != nil || !ok {
		return err
	}
	if _, err := DropEventsBefore(ctx, db, siteID, time.Now().Add(100*365*24*time.Hour)); err != nil {
		return err
	}
	defer db.removals.Add(1)
	return db.Tx(ctx, func(tx *sql.Tx) error {
		for _, table := range []string{"visits", "visitor_numbers", "offer_visits", "day_rollups", "rolled_days", "bot_days", "sites"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE site = ?`, site); err != nil {
				return fmt.Errorf("analytics: delete site %s from %s: %w", siteID, table, err)
			}
		}
		db.numbers.Delete(siteID)
		return nil
	})
}

// SiteIDs lists the sites the analytics database holds data of.
func SiteIDs(ctx context.Context, db *DB) ([]string, error) {
	rows, err := db.R.QueryContext(ctx, `SELECT site_id FROM sites`)
	if err != nil {
		return nil, fmt.Errorf("analytics: sites: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("analytics: sites: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// VisitorsOf lists the visitor ids a site's pages identified as user id.
func VisitorsOf(ctx context.Context, db *DB, siteID, id string) ([]string, error) {
	site, ok, err := db.site(ctx, siteID, false)
	if err != nil || !ok {
		return nil, err
	}
	rows, err := db.R.QueryContext(ctx, `SELECT DISTINCT visitor FROM visits WHERE site = ? AND user_id = ?`, site, id)
	if err != nil {
		return nil, fmt.Errorf("analytics: visitors of %s: %w", id, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("analytics: visitors of %s: %w", id, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// BlindUserIDs replaces the user ids an earlier release kept in clear on a
// site's visits and in their raw events by their fingerprints (blind, with
// BlindPrefix), a user at a time. It returns how many users it changed;
// once none is left in clear it only reads an index.
func BlindUserIDs(ctx context.Context, db *DB, siteID string, blind func(id string) (string, error)) (int, error) {
	site, ok, err := db.site(ctx, siteID, false)
	if err != nil || !ok {
		return 0, err
	}
	// Two ranges of the user index: below the prefix, and from the byte after it.
	rows, err := db.R.QueryContext(ctx, `SELECT DISTINCT user_id FROM visits WHERE site = ? AND ((user_id > '' AND user_id < ?) OR user_id >= ?)`,
		site, BlindPrefix, string(rune(BlindPrefix[0]+1)))
	if err != nil {
		return 0, fmt.Errorf("analytics: user ids in clear: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for n, id := range ids {
		fp, err := blind(id)
		if err != nil {
			return n, err
		}
		fp = BlindPrefix + fp
		err = db.Tx(ctx, func(tx *sql.Tx) error {
			evs, err := tx.QueryContext(ctx, `SELECT DISTINCT e.id, e.data FROM visits v JOIN event_log e ON e.site = v.site AND e.ts BETWEEN v.start_ts AND v.end_ts AND e.visit = v.visit
				WHERE v.site = ? AND v.user_id = ?`, site, id)
			if err != nil {
				return err
			}
			type change struct {
				id   int64
				data []byte
			}
			var changes []change
			for evs.Next() {
				var c change
				var data string
				if err := evs.Scan(&c.id, &data); err != nil {
					evs.Close()
					return err
				}
				if c.data, err = replaceUserID(data, id, fp); err != nil {
					evs.Close()
					return err
				}
				if c.data != nil {
					changes = append(changes, c)
				}
			}
			evs.Close()
			for _, c := range changes {
				if _, err := tx.ExecContext(ctx, `UPDATE event_log SET data = ? WHERE id = ?`, string(c.data), c.id); err != nil {
					return err
				}
			}
			_, err = tx.ExecContext(ctx, `UPDATE visits SET user_id = ? WHERE site = ? AND user_id = ?`, fp, site, id)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("analytics: fingerprint a user's id: %w", err)
		}
	}
	return len(ids), nil
}

// replaceUserID rewrites a batch's events whose user_id is id; nil when
// none is.
func replaceUserID(data, id, fp string) ([]byte, error) {
	var events []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &events); err != nil {
		return nil, err
	}
	changed := false
	for _, e := range events {
		var u string
		if raw, ok := e["user_id"]; ok && json.Unmarshal(raw, &u) == nil && u == id {
			e["user_id"], _ = json.Marshal(fp)
			changed = true
		}
	}
	if !changed {
		return nil, nil
	}
	return json.Marshal(events)
}
