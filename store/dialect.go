package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
)

// Dialect is the database a store runs on. What differs between SQLite and
// PostgreSQL lives here: the queries elsewhere are written once, in the SQL
// both accept, with SQLite's ? parameters (numbered ?1 when one is reused),
// and ask the dialect for the few fragments that have no common spelling.
type Dialect int

const (
	// SQLite is the default: one file, pure Go.
	SQLite Dialect = iota
	// Postgres is the shared system of record of a cluster.
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// IsDatabaseURL reports whether s names a PostgreSQL server rather than a file.
func IsDatabaseURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// jsonText is the text at a path of keys in a JSON column (NULL when absent).
func (d Dialect) jsonText(col string, keys ...string) string {
	if d == Postgres {
		return "(" + col + "::jsonb #>> '{" + strings.Join(keys, ",") + "}')"
	}
	return "json_extract(" + col + ", '$." + strings.Join(keys, ".") + "')"
}

// jsonNumber is the number at a key of a JSON column (NULL when absent).
func (d Dialect) jsonNumber(col, key string) string {
	if d == Postgres {
		return "(" + col + "::jsonb ->> '" + key + "')::numeric"
	}
	return "json_extract(" + col + ", '$." + key + "')"
}

// contains tests whether a text column holds the text of a parameter.
func (d Dialect) contains(col string) string {
	if d == Postgres {
		return "strpos(" + col + ", ?) > 0"
	}
	return "instr(" + col + ", ?) > 0"
}

// jsonValues is a subquery of the values of a JSON array parameter of text
// (a list of ids in one parameter, whatever its length).
func (d Dialect) jsonValues() string {
	if d == Postgres {
		return "SELECT json_array_elements_text(CAST(? AS json))"
	}
	return "SELECT value FROM json_each(?)"
}

// jsonArrayOf is a JSON array of one column of a subquery's rows, in order,
// as text ('[]' when there are none).
func (d Dialect) jsonArrayOf(col, from, order string) string {
	if d == Postgres {
		return "coalesce((SELECT json_agg(" + col + " ORDER BY " + order + ")::text " + from + "), '[]')"
	}
	return "coalesce((SELECT json_group_array(" + col + ") FROM (SELECT " + col + " " + from + " ORDER BY " + order + ")), '[]')"
}

// forUpdate locks the rows a SELECT reads until the transaction ends.
// SQLite needs none: its one writer runs transactions one at a time, which
// the queries were first written for; PostgreSQL's run side by side.
func (d Dialect) forUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// Constraint violations, by kind.
const (
	violationUnique = iota + 1
	violationPrimaryKey
	violationForeignKey
)

// SQLite's extended result codes for constraint violations.
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// violation tells which constraint err broke, 0 when none.
func violation(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqliteConstraintUnique:
			return violationUnique
		case sqliteConstraintPrimaryKey:
			return violationPrimaryKey
		case sqliteConstraintForeignKey:
			return violationForeignKey
		}
		return 0
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			if strings.HasSuffix(pe.ConstraintName, "_pkey") {
				return violationPrimaryKey
			}
			return violationUnique
		case "23503":
			return violationForeignKey
		}
	}
	return 0
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	v := violation(err)
	return v == violationUnique || v == violationPrimaryKey
}

// openPostgres opens a pool on a PostgreSQL server whose queries are written
// with SQLite's parameters.
func openPostgres(dsn string, maxConns int) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("the database URL: %w", err)
	}
	db := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	return db, nil
}

// rebindConnector hands out connections that turn SQLite's ? and ?N
// parameters into PostgreSQL's $N before pgx sees a query.
type rebindConnector struct{ driver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &rebindConn{conn.(*stdlib.Conn)}, nil
}

type rebindConn struct{ *stdlib.Conn }

func (c *rebindConn) Prepare(q string) (driver.Stmt, error) { return c.Conn.Prepare(rebind(q)) }

func (c *rebindConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(q))
}

func (c *rebindConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(q), args)
}

func (c *rebindConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(q), args)
}

// rebind rewrites ? and ?N outside quotes and comments as $N: a bare ? takes
// the number after the largest seen so far, as SQLite numbers it.
func rebind(q string) string {
	if strings.IndexByte(q, '?') < 0 {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		switch c := q[i]; c {
		case '\'', '"':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
		case '-':
			if i+1 < len(q) && q[i+1] == '-' {
				j := strings.IndexByte(q[i:], '\n')
				if j < 0 {
					b.WriteString(q[i:])
					return b.String()
				}
				b.WriteString(q[i : i+j])
				i += j - 1
				continue
			}
			b.WriteByte(c)
		case '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			k := n + 1
			if j > i+1 {
				k, _ = strconv.Atoi(q[i+1 : j])
			}
			n = max(n, k)
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(k))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// IndexedBy names the index a SQLite query must use (its sampled
// statistics misjudge some scans); PostgreSQL's planner is left to choose.
func (d Dialect) IndexedBy(index string) string {
	if d == Postgres {
		return ""
	}
	return " INDEXED BY " + index
}

// Char is the character of a code point below 128, in SQL.
func (d Dialect) Char(n int) string {
	if d == Postgres {
		return "chr(" + strconv.Itoa(n) + ")"
	}
	return "char(" + strconv.Itoa(n) + ")"
}

// Bytes reads a text expression as bytes: SQLite's driver hands a BLOB
// over without copying it into a string; PostgreSQL's text is read as is.
func (d Dialect) Bytes(expr string) string {
	if d == Postgres {
		return expr
	}
	return "CAST(" + expr + " AS BLOB)"
}

// now is the database's clock in Unix milliseconds: what every node of a
// cluster compares lease times with, whatever its own clock says.
func (d Dialect) now() string {
	if d == Postgres {
		return "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
	}
	return "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
}

// Unavailable reports whether err means the database is not answering (a
// server down, restarting or out of reach), rather than a query's mistake:
// the caller may try again in a moment.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exceptions; 57P01-3: admin or crash shutdown, cannot connect now.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	// Only the driver's own kinds: a network error of another client (a
	// webhook's, the search server's) is not the database's.
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) && !errors.Is(err, context.Canceled)
}
