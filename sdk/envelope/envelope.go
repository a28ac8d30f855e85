// Package envelope writes Puma's JSON envelope from inside a plugin,
// byte for byte as the host's engine.AppendEnvelope does, without
// reflection: one object per change, and optional begin/commit markers.
// It is what builtin:jsonl, builtin:stdout and builtin:http send, and what
// a custom sink can send too.
//
// A test in hostabi holds it to engine.AppendEnvelope's output.
package envelope

import (
	"encoding/base64"
	"strconv"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk"
)

// Config is what both JSON senders accept.
type Config struct {
	// Markers writes {"begin":…} and {"commit":…} lines around each
	// transaction.
	Markers bool `json:"markers"`
}

// Encoder renders batches as JSON lines, or as JSON arrays. It is owned
// by one sender.
type Encoder struct {
	Markers bool
	// Array renders a batch as one JSON array of its objects instead of
	// one line per object.
	Array bool
	buf   []byte
	// seq is the batch last encoded; prior counts the changes of its
	// transaction in the batches before it, so a retried batch counts once.
	seq          uint64
	prior, total uint32
}

// Encode returns b's lines (or array), valid until the next call; empty
// when b has nothing to write. Inside Wasm the changes are rendered by the
// host (the envelope host function), byte for byte as AppendChange would.
func (e *Encoder) Encode(b *sdk.Batch) []byte {
	e.buf = e.buf[:0]
	if !b.HasTx() {
		return e.buf
	}
	if b.Seq() != e.seq {
		e.seq, e.prior = b.Seq(), e.total
		if b.Begin() {
			e.prior = 0
		}
	}
	e.total = e.prior + uint32(b.Len())
	sep := byte('\n')
	if e.Array {
		sep = ','
		e.buf = append(e.buf, '[')
	}
	tx := b.Tx()
	if b.Begin() && e.Markers {
		e.buf = appendBegin(e.buf, &tx)
		e.buf = append(e.buf, sep)
	}
	e.buf = appendChanges(e.buf, b, &tx, 0, sep)
	if c, ok := b.Commit(); ok && e.Markers {
		e.buf = appendCommit(e.buf, &tx, &c, e.total)
		e.buf = append(e.buf, sep)
	}
	if e.Array {
		if len(e.buf) == 1 {
			return e.buf[:0]
		}
		e.buf[len(e.buf)-1] = ']'
	}
	return e.buf
}

// appendGo appends the envelopes of b's changes from index from on, each
// followed by sep, rendered in Go.
func appendGo(dst []byte, b *sdk.Batch, tx *sdk.Tx, from int, sep byte) []byte {
	for i := from; i < b.Len(); i++ {
		dst = AppendChange(dst, b.Row(i), tx)
		dst = append(dst, sep)
	}
	return dst
}

// AppendChange appends r's envelope (no newline).
func AppendChange(dst []byte, r *sdk.Row, tx *sdk.Tx) []byte {
	op := r.Op()
	t := r.Table()
	dst = append(dst, `{"op":"`...)
	dst = append(dst, op.String()...)
	dst = append(dst, `","db":`...)
	if t != nil {
		dst = appendString(dst, t.DB)
		dst = append(dst, `,"table":`...)
		dst = appendString(dst, t.Name)
	} else {
		dst = appendString(dst, r.DB())
	}
	if op == sdk.OpDDL {
		dst = append(dst, `,"statement":`...)
		dst = appendString(dst, r.Statement())
	} else if t != nil && (op == sdk.OpInsert || op == sdk.OpUpdate || op == sdk.OpDelete || op == sdk.OpRead) {
		before, after := r.Before(), r.After()
		dst = append(dst, `,"before":`...)
		dst = appendRow(dst, t, before)
		dst = append(dst, `,"after":`...)
		dst = appendRow(dst, t, after)
		dst = append(dst, `,"key":`...)
		img := after
		if !img.Present() {
			img = before
		}
		dst = appendKey(dst, t, img)
		if t.KeyKind != sdk.KeyPrimary {
			dst = append(dst, `,"key_kind":"`...)
			dst = append(dst, t.KeyKind.String()...)
			dst = append(dst, '"')
		}
	}
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, r.Timestamp()*1000, 10)
	dst = append(dst, `,"source":{"server_id":`...)
	dst = strconv.AppendUint(dst, uint64(tx.ServerID), 10)
	dst = append(dst, `,"file":`...)
	dst = appendString(dst, r.File())
	dst = append(dst, `,"pos":`...)
	dst = strconv.AppendUint(dst, uint64(r.Pos()), 10)
	if tx.GTID != "" {
		dst = append(dst, `,"gtid":`...)
		dst = appendString(dst, tx.GTID)
	}
	dst = append(dst, `},"tx":{"id":`...)
	dst = appendString(dst, tx.ID)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, uint64(r.Seq()), 10)
	if p := r.Part(); p != 0 {
		dst = append(dst, `,"part":`...)
		dst = strconv.AppendUint(dst, uint64(p), 10)
	}
	return append(dst, "}}"...)
}

func appendBegin(dst []byte, tx *sdk.Tx) []byte {
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

func appendCommit(dst []byte, tx *sdk.Tx, c *sdk.Commit, changes uint32) []byte {
	dst = append(dst, `{"commit":{"id":`...)
	dst = appendString(dst, tx.ID)
	dst = append(dst, `,"changes":`...)
	dst = strconv.AppendUint(dst, uint64(changes), 10)
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, c.Time*1000, 10)
	dst = append(dst, `,"file":`...)
	dst = appendString(dst, c.File)
	dst = append(dst, `,"pos":`...)
	dst = strconv.AppendUint(dst, uint64(c.Pos), 10)
	if c.GTIDSet != "" {
		dst = append(dst, `,"gtid_set":`...)
		dst = appendString(dst, c.GTIDSet)
	}
	return append(dst, "}}"...)
}

// appendRow writes an image as an object; absent columns are left out.
func appendRow(dst []byte, t *sdk.Table, img sdk.Image) []byte {
	if !img.Present() {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	first := true
	for i := range t.Columns {
		v := img.At(i)
		if v.IsAbsent() {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, t.Columns[i].Name)
		dst = append(dst, ':')
		dst = AppendValue(dst, v)
	}
	return append(dst, '}')
}

func appendKey(dst []byte, t *sdk.Table, img sdk.Image) []byte {
	if !img.Present() {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	first := true
	for _, i := range t.Key {
		v := img.At(i)
		if v.IsAbsent() {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, t.Columns[i].Name)
		dst = append(dst, ':')
		dst = AppendValue(dst, v)
	}
	return append(dst, '}')
}

// AppendValue appends v as JSON: numbers as numbers, DECIMAL as a string,
// bytes as base64, JSON as JSON, time types as strings.
func AppendValue(dst []byte, v sdk.Value) []byte {
	if !v.Valid() {
		return append(dst, "null"...)
	}
	switch v.Kind() {
	case sdk.KindInt, sdk.KindYear:
		return strconv.AppendInt(dst, v.Int(), 10)
	case sdk.KindUint, sdk.KindBit:
		return strconv.AppendUint(dst, v.Uint(), 10)
	case sdk.KindFloat:
		return appendFloat(dst, v.Float(), 32)
	case sdk.KindDouble:
		return appendFloat(dst, v.Float(), 64)
	case sdk.KindBytes, sdk.KindGeometry:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v.Bytes())
		return append(dst, '"')
	case sdk.KindJSON:
		if v.Text() == "" {
			return append(dst, "null"...)
		}
		return append(dst, v.Text()...)
	}
	return appendString(dst, v.Text())
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	return wire.AppendJSONFloat(dst, f, bits)
}

func appendString(dst []byte, s string) []byte { return wire.AppendJSONString(dst, s) }
