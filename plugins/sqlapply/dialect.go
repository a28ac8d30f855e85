package sqlapply

import (
	"strconv"
	"strings"

	"github.com/pumacdc/puma/sdk"
)

// dialect is what differs between PostgreSQL and MySQL targets: quoting,
// placeholders, the upsert and the column types of created tables.
type dialect interface {
	quote(name string) string
	// appendPlaceholder appends the n-th (from 1) argument's
	// placeholder.
	appendPlaceholder(b []byte, n int) []byte
	// upsertTail ends a multi-row INSERT so that a row whose key exists
	// replaces it: keys and others are quoted column names.
	upsertTail(keys, others []string) string
	// columnType returns the target type of c, or "" when it has none.
	columnType(c *sdk.Column) string
	// keyTypes returns the target types of a created table's key
	// columns, keys (indexes into t.Columns), or "" for one that has
	// none.
	keyTypes(t *sdk.Table, keys []int) []string
	positionsDDL(table string) string
	positionUpsert(table string) string
	positionQuery(table string) string
	// columnsQuery lists a table's columns (one argument: its name).
	columnsQuery() string
}

type postgres struct{}

func (postgres) quote(n string) string { return `"` + strings.ReplaceAll(n, `"`, `""`) + `"` }
func (postgres) appendPlaceholder(b []byte, n int) []byte {
	return strconv.AppendInt(append(b, '$'), int64(n), 10)
}

func (d postgres) upsertTail(keys, others []string) string {
	if len(others) == 0 {
		return " ON CONFLICT (" + strings.Join(keys, ", ") + ") DO NOTHING"
	}
	var b strings.Builder
	b.WriteString(" ON CONFLICT (" + strings.Join(keys, ", ") + ") DO UPDATE SET ")
	for i, c := range others {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = EXCLUDED." + c)
	}
	return b.String()
}

func (postgres) positionsDDL(t string) string {
	return "CREATE TABLE IF NOT EXISTS " + t + " (task text NOT NULL, sender text NOT NULL, position text NOT NULL, " +
		"updated_at timestamptz NOT NULL, PRIMARY KEY (task, sender))"
}

func (postgres) positionUpsert(t string) string {
	return "INSERT INTO " + t + " (task, sender, position, updated_at) VALUES ($1, $2, $3, now()) " +
		"ON CONFLICT (task, sender) DO UPDATE SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at"
}

func (postgres) positionQuery(t string) string {
	return "SELECT position FROM " + t + " WHERE task = $1 AND sender = $2"
}

func (postgres) columnsQuery() string {
	return "SELECT string_agg(column_name, ',') AS cols FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1"
}

// MySQL binary-log type codes the type mapping reads.
const (
	tTiny     = 1
	tShort    = 2
	tLong     = 3
	tLongLong = 8
	tInt24    = 9
	tString   = 254
)

func (postgres) columnType(c *sdk.Column) string {
	switch c.Kind {
	case sdk.KindInt:
		switch c.SQLType {
		case tTiny, tShort:
			return "smallint"
		case tLong, tInt24:
			return "integer"
		}
		return "bigint"
	case sdk.KindUint:
		switch c.SQLType {
		case tTiny:
			return "smallint"
		case tShort, tInt24:
			return "integer"
		case tLong:
			return "bigint"
		}
		return "numeric(20)"
	case sdk.KindFloat:
		return "real"
	case sdk.KindDouble:
		return "double precision"
	case sdk.KindDecimal:
		if p, s, ok := c.Decimal(); ok {
			return "numeric(" + strconv.Itoa(p) + "," + strconv.Itoa(s) + ")"
		}
		return "numeric"
	case sdk.KindString:
		if n, ok := c.MaxChars(); ok {
			return "varchar(" + strconv.Itoa(n) + ")"
		}
		return "text"
	case sdk.KindBytes, sdk.KindGeometry:
		return "bytea"
	case sdk.KindDate:
		return "date"
	case sdk.KindTime:
		return "interval" // MySQL's TIME spans ±838 hours
	case sdk.KindDateTime:
		return "timestamp" + frac(c)
	case sdk.KindTimestamp:
		return "timestamptz" + frac(c)
	case sdk.KindYear:
		return "smallint"
	case sdk.KindBit:
		return "bigint"
	case sdk.KindEnum, sdk.KindSet:
		return "text"
	case sdk.KindJSON:
		return "jsonb"
	case sdk.KindUUID:
		return "uuid"
	case sdk.KindInet:
		return "inet"
	}
	return ""
}

func (d postgres) keyTypes(t *sdk.Table, keys []int) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = d.columnType(&t.Columns[k])
	}
	return out
}

func frac(c *sdk.Column) string {
	if n, ok := c.FracDigits(); ok {
		return "(" + strconv.Itoa(n) + ")"
	}
	return "(6)"
}

type mysql struct{}

func (mysql) quote(n string) string                    { return "`" + strings.ReplaceAll(n, "`", "``") + "`" }
func (mysql) appendPlaceholder(b []byte, _ int) []byte { return append(b, '?') }

func (mysql) upsertTail(keys, others []string) string {
	if len(others) == 0 {
		others = keys[:1] // a no-op update: the row exists
	}
	var b strings.Builder
	b.WriteString(" ON DUPLICATE KEY UPDATE ")
	for i, c := range others {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = VALUES(" + c + ")")
	}
	return b.String()
}

func (mysql) positionsDDL(t string) string {
	return "CREATE TABLE IF NOT EXISTS " + t + " (task VARCHAR(191) NOT NULL, sender VARCHAR(191) NOT NULL, position TEXT NOT NULL, " +
		"updated_at DATETIME(6) NOT NULL, PRIMARY KEY (task, sender)) CHARACTER SET utf8mb4"
}

func (mysql) positionUpsert(t string) string {
	return "INSERT INTO " + t + " (task, sender, position, updated_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6)) " +
		"ON DUPLICATE KEY UPDATE position = VALUES(position), updated_at = VALUES(updated_at)"
}

func (mysql) positionQuery(t string) string {
	return "SELECT position FROM " + t + " WHERE task = ? AND sender = ?"
}

func (mysql) columnsQuery() string {
	return "SELECT GROUP_CONCAT(column_name SEPARATOR ',') AS cols FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?"
}

// columnType keeps the source's type, MySQL to MySQL.
func (d mysql) columnType(c *sdk.Column) string {
	uns := ""
	if c.Unsigned || c.Kind == sdk.KindUint {
		uns = " UNSIGNED"
	}
	switch c.Kind {
	case sdk.KindInt, sdk.KindUint:
		switch c.SQLType {
		case tTiny:
			return "TINYINT" + uns
		case tShort:
			return "SMALLINT" + uns
		case tInt24:
			return "MEDIUMINT" + uns
		case tLong:
			return "INT" + uns
		}
		return "BIGINT" + uns
	case sdk.KindFloat:
		return "FLOAT"
	case sdk.KindDouble:
		return "DOUBLE"
	case sdk.KindDecimal:
		if p, s, ok := c.Decimal(); ok {
			return "DECIMAL(" + strconv.Itoa(p) + "," + strconv.Itoa(s) + ")"
		}
		return "DECIMAL(65,30)"
	case sdk.KindString:
		if n, ok := c.MaxChars(); ok {
			if c.SQLType == tString {
				return "CHAR(" + strconv.Itoa(n) + ") CHARACTER SET utf8mb4"
			}
			return "VARCHAR(" + strconv.Itoa(n) + ") CHARACTER SET utf8mb4"
		}
		return blobType(c, "TEXT") + " CHARACTER SET utf8mb4"
	case sdk.KindBytes:
		if n, ok := c.MaxBytes(); ok && n <= 65535 && c.SQLType != 252 {
			if c.SQLType == tString {
				return "BINARY(" + strconv.FormatInt(n, 10) + ")"
			}
			return "VARBINARY(" + strconv.FormatInt(n, 10) + ")"
		}
		return blobType(c, "BLOB")
	case sdk.KindDate:
		return "DATE"
	case sdk.KindTime:
		return "TIME" + frac(c)
	case sdk.KindDateTime:
		return "DATETIME" + frac(c)
	case sdk.KindTimestamp:
		return "TIMESTAMP" + frac(c) + " NULL"
	case sdk.KindYear:
		return "YEAR"
	case sdk.KindBit:
		return "BIT(64)"
	case sdk.KindEnum, sdk.KindSet:
		if len(c.Values) == 0 {
			return "TEXT CHARACTER SET utf8mb4"
		}
		var q []string
		for _, v := range c.Values {
			q = append(q, "'"+strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), "'", "''")+"'")
		}
		kw := "ENUM"
		if c.Kind == sdk.KindSet {
			kw = "SET"
		}
		return kw + "(" + strings.Join(q, ",") + ") CHARACTER SET utf8mb4"
	case sdk.KindJSON:
		return "JSON"
	case sdk.KindGeometry:
		return "GEOMETRY"
	case sdk.KindUUID:
		return "UUID"
	case sdk.KindInet:
		return "VARCHAR(45)"
	}
	return ""
}

// innodbKeyBytes is the longest key InnoDB indexes (DYNAMIC rows).
const innodbKeyBytes = 3072

// keyTypes keeps each key column's type but TEXT and BLOB: MySQL indexes
// none whole, and a key on a prefix of one would make rows sharing the
// prefix one row, so such a column becomes a VARCHAR (utf8mb4: 4 bytes a
// character) or VARBINARY of its share of InnoDB's 3072-byte key. A
// longer value then fails its statement instead of overwriting another
// row.
func (d mysql) keyTypes(t *sdk.Table, keys []int) []string {
	out := make([]string, len(keys))
	var lobs []int
	for i, k := range keys {
		out[i] = d.columnType(&t.Columns[k])
		if strings.Contains(out[i], "TEXT") || strings.HasSuffix(out[i], "BLOB") {
			lobs = append(lobs, i)
		}
	}
	for _, i := range lobs {
		share := innodbKeyBytes / len(lobs)
		if t.Columns[keys[i]].Kind == sdk.KindString {
			out[i] = "VARCHAR(" + strconv.Itoa(share/4) + ") CHARACTER SET utf8mb4"
		} else {
			out[i] = "VARBINARY(" + strconv.Itoa(share) + ")"
		}
	}
	return out
}

func blobType(c *sdk.Column, base string) string {
	n, _ := c.MaxBytes()
	switch {
	case n > 0 && n <= 255:
		return "TINY" + base
	case n > 0 && n <= 65535:
		return base
	case n > 0 && n <= 16777215:
		return "MEDIUM" + base
	}
	return "LONG" + base
}
