package cjk

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The data file of a Table, deflated (compress/flate):
//
//	"PCJK" 0x01
//	single:  256 × uint16
//	double:  128 rows, for lead bytes 0x80 to 0xFF
//	prefix:  1 byte, the lead of three-byte characters (0: none)
//	triple:  if prefix ≠ 0, 256 rows, for second bytes 0x00 to 0xFF
//
// A row is the first byte it covers (1 byte), how many it covers (uint16,
// 0 to 256) and that many values. Values are uint16 little-endian, 0xFFFF
// where a sequence is no character; each in a row is stored as its
// difference from the previous one (modulo 2^16), which runs of
// consecutive code points turn into runs of ones.
const magic = "PCJK\x01"

// MarshalBinary returns t's data file.
func (t *Table) MarshalBinary() ([]byte, error) {
	var raw bytes.Buffer
	raw.WriteString(magic)
	for _, v := range t.single {
		raw.Write(binary.LittleEndian.AppendUint16(nil, v))
	}
	writeRows(&raw, t.double, 128)
	raw.WriteByte(t.prefix)
	if t.prefix != 0 {
		writeRows(&raw, t.triple, 256)
	}
	var out bytes.Buffer
	w, err := flate.NewWriter(&out, flate.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(raw.Bytes()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// writeRows writes n rows of 256 values from vals (nil: all none), each
// trimmed to the span from its first to its last character.
func writeRows(w *bytes.Buffer, vals []uint16, n int) {
	for r := range n {
		var row []uint16
		if vals != nil {
			row = vals[r<<8 : (r+1)<<8]
		}
		lo, hi := 0, len(row)
		for lo < hi && row[lo] == none {
			lo++
		}
		for hi > lo && row[hi-1] == none {
			hi--
		}
		w.WriteByte(byte(lo))
		w.Write(binary.LittleEndian.AppendUint16(nil, uint16(hi-lo)))
		var prev uint16
		for _, v := range row[lo:hi] {
			w.Write(binary.LittleEndian.AppendUint16(nil, v-prev))
			prev = v
		}
	}
}

// UnmarshalBinary reads t from a data file MarshalBinary wrote.
func (t *Table) UnmarshalBinary(data []byte) error {
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(data)))
	if err != nil {
		return fmt.Errorf("cjk table: inflate: %w", err)
	}
	r := &reader{b: raw}
	if string(r.next(len(magic))) != magic {
		return errors.New("cjk table: not a table file (bad magic)")
	}
	*t = *NewTable()
	for i := range t.single {
		t.single[i] = r.uint16()
	}
	t.double = r.rows(128)
	t.prefix = r.byte()
	if t.prefix != 0 {
		t.triple = r.rows(256)
	}
	if r.err != nil {
		return fmt.Errorf("cjk table: %w", r.err)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("cjk table: %d bytes past the end", len(r.b))
	}
	t.ascii = t.asciiIdentity()
	if err := t.Check(); err != nil {
		return fmt.Errorf("cjk table: %w", err)
	}
	return nil
}

// reader reads a data file, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) next(n int) []byte {
	if r.err != nil || len(r.b) < n {
		if r.err == nil {
			r.err = io.ErrUnexpectedEOF
		}
		return make([]byte, n)
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) byte() byte     { return r.next(1)[0] }
func (r *reader) uint16() uint16 { return binary.LittleEndian.Uint16(r.next(2)) }

// rows reads n rows into a table of n×256 values; nil when all are none.
func (r *reader) rows(n int) []uint16 {
	vals := filled(n << 8)
	some := false
	for i := range n {
		lo, cnt := int(r.byte()), int(r.uint16())
		if lo+cnt > 256 {
			r.err = fmt.Errorf("row %d: %d values from %d run past 256", i, cnt, lo)
			return nil
		}
		var prev uint16
		for j := range cnt {
			prev += r.uint16()
			vals[i<<8|(lo+j)] = prev
		}
		some = some || cnt > 0
	}
	if !some {
		return nil
	}
	return vals
}
