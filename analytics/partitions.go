package analytics

import (
	"context"
	"fmt"
	"time"

	"github.com/nudgehq/nudge/store"
)

// On PostgreSQL the raw events (event_log) are a table per UTC day of their
// batch's timestamp, event_log_YYYYMMDD, so that retention drops a day's
// table when no site keeps it instead of deleting its rows. SQLite keeps one
// table and deletes rows.

const dayMillis = 24 * 60 * 60 * 1000

// partitionName is the table of the UTC day that holds ts.
func partitionName(day int64) string {
	return "event_log_" + time.UnixMilli(day*dayMillis).UTC().Format("20060102")
}

// ensurePartitions makes the day tables that rows with these timestamps go
// to, each once per process, outside the writer's transaction: a failed
// statement would end it, and two nodes may make the same table at once
// (the loser finds it made).
func (db *DB) ensurePartitions(ctx context.Context, ts []int64) error {
	if db.Dialect != store.Postgres {
		return nil
	}
	for _, t := range ts {
		day := t / dayMillis
		if _, ok := db.parts.Load(day); ok {
			continue
		}
		name := partitionName(day)
		_, err := db.W.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF event_log FOR VALUES FROM (%d) TO (%d)`,
			name, day*dayMillis, (day+1)*dayMillis))
		if err != nil {
			var exists bool
			if qerr := db.W.QueryRowContext(ctx, `SELECT to_regclass(?) IS NOT NULL`, name).Scan(&exists); qerr != nil || !exists {
				return fmt.Errorf("analytics: make %s: %w", name, err)
			}
		}
		db.parts.Store(day, true)
	}
	return nil
}

// dropPartitions drops the day tables that end at or before every site's
// retention cutoff (before is the earliest cutoff of the sites with data,
// zero when one of them keeps events for ever), and returns the events they
// held.
func (db *DB) dropPartitions(ctx context.Context, before time.Time) (int64, error) {
	if db.Dialect != store.Postgres || before.IsZero() {
		return 0, nil
	}
	rows, err := db.R.QueryContext(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace
		WHERE p.relname = 'event_log' AND n.nspname = current_schema()`)
	if err != nil {
		return 0, fmt.Errorf("analytics: list event tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return 0, err
		}
		names = append(names, n)
	}
	rows.Close()
	var events int64
	for _, name := range names {
		day, err := time.Parse("20060102", name[len("event_log_"):])
		if err != nil || day.Add(24*time.Hour).After(before) {
			continue
		}
		var n int64
		if err := db.R.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM `+name).Scan(&n); err != nil {
			return events, fmt.Errorf("analytics: count %s: %w", name, err)
		}
		if _, err := db.W.ExecContext(ctx, `DROP TABLE IF EXISTS `+name); err != nil {
			return events, fmt.Errorf("analytics: drop %s: %w", name, err)
		}
		db.parts.Delete(day.UnixMilli() / dayMillis)
		events += n
	}
	return events, nil
}

// DropExpiredDays applies the sites' retention (cutoffs, by site id) to
// whole days of raw events where the database keeps them in day tables
// (PostgreSQL): a day's table goes once it ended before the cutoff of every
// site that has analytics data, so a site without a retention period keeps
// all of them. It returns the events dropped; DropEventsBefore deletes what
// remains past a site's own cutoff row by row.
func DropExpiredDays(ctx context.Context, db *DB, cutoffs map[string]time.Time) (int64, error) {
	if db.Dialect != store.Postgres {
		return 0, nil
	}
	ids, err := SiteIDs(ctx, db)
	if err != nil {
		return 0, err
	}
	var before time.Time
	for _, id := range ids {
		c, ok := cutoffs[id]
		if !ok {
			return 0, nil
		}
		if before.IsZero() || c.Before(before) {
			before = c
		}
	}
	return db.dropPartitions(ctx, before)
}

// PrepareDays makes the day tables of raw events for these times, where the
// database keeps them in day tables (PostgreSQL): what writes events of
// another day than the ingester would (an import, a test that ages them)
// calls it first.
func (db *DB) PrepareDays(ctx context.Context, at ...time.Time) error {
	ts := make([]int64, len(at))
	for i, t := range at {
		ts[i] = t.UnixMilli()
	}
	return db.ensurePartitions(ctx, ts)
}
