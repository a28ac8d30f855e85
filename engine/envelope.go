package engine

import (
	"encoding/base64"
	"github.com/pumacdc/puma/hostabi/wire"
	"strconv"
)

// AppendEnvelope appends c's JSON envelope (one object, no newline) to dst
// and returns the extended buffer. It does not allocate beyond growing dst.
//
// The envelope: op, db, table, before, after, key, key_kind, ts_ms, source
// {server_id, file, pos, gtid}, tx {id, seq, part}. key holds the key columns of
// the after image (the before image for a delete); key_kind is absent for
// a primary key, "config" for the task's key_columns and "row" for a table
// without either, whose key is the whole row. DDL carries db, table (when
// its change names one; see Change.Table) and "statement" instead of row
// images; a TRUNCATE ("t") carries db and table only.
func AppendEnvelope(dst []byte, c *Change) []byte {
	dst = append(dst, `{"op":"`...)
	dst = append(dst, c.Op.String()...)
	dst = append(dst, `","db":`...)
	if c.Table != nil {
		dst = appendString(dst, c.Table.DB)
		dst = append(dst, `,"table":`...)
		dst = appendString(dst, c.Table.Name)
	} else {
		dst = appendString(dst, c.DB)
	}
	if c.Op == OpDDL {
		dst = append(dst, `,"statement":`...)
		dst = appendString(dst, c.Statement)
	} else if c.Table != nil && (c.Op == OpInsert || c.Op == OpUpdate || c.Op == OpDelete || c.Op == OpRead) {
		dst = append(dst, `,"before":`...)
		dst = appendRow(dst, c.Table, c.Before)
		dst = append(dst, `,"after":`...)
		dst = appendRow(dst, c.Table, c.After)
		dst = append(dst, `,"key":`...)
		img := c.After
		if img == nil {
			img = c.Before
		}
		dst = appendKey(dst, c.Table, img)
		if c.Table.KeyKind != KeyPrimary {
			dst = append(dst, `,"key_kind":"`...)
			dst = append(dst, c.Table.KeyKind.String()...)
			dst = append(dst, '"')
		}
	}
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, c.Timestamp*1000, 10)
	dst = append(dst, `,"source":{"server_id":`...)
	var gtid string
	if c.Tx != nil {
		dst = strconv.AppendUint(dst, uint64(c.Tx.ServerID), 10)
		gtid = c.Tx.GTID
	} else {
		dst = append(dst, '0')
	}
	dst = append(dst, `,"file":`...)
	dst = appendString(dst, c.File)
	dst = append(dst, `,"pos":`...)
	dst = strconv.AppendUint(dst, uint64(c.Pos), 10)
	if gtid != "" {
		dst = append(dst, `,"gtid":`...)
		dst = appendString(dst, gtid)
	}
	dst = append(dst, `},"tx":{"id":`...)
	if c.Tx != nil {
		dst = appendString(dst, c.Tx.ID)
	} else {
		dst = append(dst, `""`...)
	}
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, uint64(c.Seq), 10)
	if c.Part != 0 {
		dst = append(dst, `,"part":`...)
		dst = strconv.AppendUint(dst, uint64(c.Part), 10)
	}
	return append(dst, "}}"...)
}

// AppendBeginMarker appends the object opening transaction tx.
func AppendBeginMarker(dst []byte, tx *Tx) []byte {
	dst = append(dst, `{"begin":{"id":`...)
	dst = appendString(dst, tx.ID)
	dst = append(dst, `,"server_id":`...)
	dst = strconv.AppendUint(dst, uint64(tx.ServerID), 10)
	dst = append(dst, `,"file":`...)
	dst = appendString(dst, tx.File)
	dst = append(dst, `,"pos":`...)
	dst = strconv.AppendUint(dst, uint64(tx.Pos), 10)
	return append(dst, "}}"...)
}

// AppendCommitMarker appends the object closing b's transaction; b.Commit
// must be set.
func AppendCommitMarker(dst []byte, b *Batch, changes uint32) []byte {
	dst = append(dst, `{"commit":{"id":`...)
	dst = appendString(dst, b.Tx.ID)
	dst = append(dst, `,"changes":`...)
	dst = strconv.AppendUint(dst, uint64(changes), 10)
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, b.CommitTime*1000, 10)
	dst = append(dst, `,"file":`...)
	dst = appendString(dst, b.Commit.File)
	dst = append(dst, `,"pos":`...)
	dst = strconv.AppendUint(dst, uint64(b.Commit.Pos), 10)
	if b.Commit.GTIDSet != "" {
		dst = append(dst, `,"gtid_set":`...)
		dst = appendString(dst, b.Commit.GTIDSet)
	}
	return append(dst, "}}"...)
}

func appendRow(dst []byte, t *Table, row []any) []byte {
	if row == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	first := true
	for i, v := range row {
		if v == Absent {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, t.Columns[i].Name)
		dst = append(dst, ':')
		dst = AppendValue(dst, t.Columns[i].Kind, v)
	}
	return append(dst, '}')
}

func appendKey(dst []byte, t *Table, row []any) []byte {
	if row == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	first := true
	for _, i := range t.Key {
		if row[i] == Absent {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, t.Columns[i].Name)
		dst = append(dst, ':')
		dst = AppendValue(dst, t.Columns[i].Kind, row[i])
	}
	return append(dst, '}')
}

// AppendValue appends v, a value of a column of kind k, as JSON: numbers as
// numbers (exact, unsigned 64-bit included), DECIMAL as a string, bytes
// (BINARY, BLOB, GEOMETRY) as base64, JSON as JSON, time types, UUID and
// INET as strings (see Kind for their forms), NULL as null.
func AppendValue(dst []byte, k Kind, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case uint64:
		return strconv.AppendUint(dst, v, 10)
	case float32:
		return appendFloat(dst, float64(v), 32)
	case float64:
		return appendFloat(dst, v, 64)
	case []byte:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v)
		return append(dst, '"')
	case string:
		if k == KindJSON {
			if v == "" {
				return append(dst, "null"...)
			}
			return append(dst, v...)
		}
		return appendString(dst, v)
	}
	// Unreachable for values the decoder built; keep the output valid JSON.
	return append(dst, "null"...)
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	return wire.AppendJSONFloat(dst, f, bits)
}

func appendString(dst []byte, s string) []byte { return wire.AppendJSONString(dst, s) }
