// Package plugintool is what `puma plugin` does for plugin authors: build a
// Go plugin, describe a module, and run a plugin over changes read from a
// file of JSON envelopes (builtin:jsonl's output), without a database.
package plugintool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
)

// envelope is one line of a JSONL file: a change (Debezium's change
// event, or its schema change event for DDL), a BEGIN or END transaction
// event, or a fixture's schema line. read fills the fields after line
// from the JSON ones.
type envelope struct {
	Op     string          `json:"op"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Source struct {
		TsMS     int64   `json:"ts_ms"`
		DB       string  `json:"db"`
		Table    *string `json:"table"`
		ServerID uint32  `json:"server_id"`
		File     string  `json:"file"`
		Pos      uint32  `json:"pos"`
		GTID     string  `json:"gtid"`
	} `json:"source"`
	DDL  *string `json:"ddl"`
	Puma struct {
		Tx struct {
			ID   string `json:"id"`
			Seq  uint32 `json:"seq"`
			Part uint16 `json:"part"`
		} `json:"tx"`
		Key     json.RawMessage `json:"key"`
		KeyKind string          `json:"key_kind"`
		// A BEGIN's first event, an END's resume position.
		ServerID uint32 `json:"server_id"`
		File     string `json:"file"`
		Pos      uint32 `json:"pos"`
		GTIDSet  string `json:"gtid_set"`
	} `json:"puma"`
	// Status is BEGIN or END on a transaction event, whose id is ID.
	Status string `json:"status"`
	ID     string `json:"id"`
	TsMS   int64  `json:"ts_ms"`
	// Schema, on a line of its own, types the table it names for the
	// lines after it (see schemaLine); with Payload it is the schema
	// block of an envelope written with envelope = "with_schema".
	Schema  json.RawMessage `json:"schema"`
	Payload json.RawMessage `json:"payload"`

	line   int
	def    *tableDef // the table of a row change
	table  *string
	db     string
	begin  bool
	commit bool
}

// read decodes a line into e; tombstone reports a tombstone (null, or
// an envelope with a null payload), which carries no change.
func (e *envelope) read(text []byte) (tombstone bool, err error) {
	if string(text) == "null" {
		return true, nil
	}
	if err := json.Unmarshal(text, e); err != nil {
		return false, err
	}
	if len(e.Payload) > 0 {
		if string(e.Payload) == "null" {
			return true, nil
		}
		payload := e.Payload
		*e = envelope{line: e.line}
		if err := json.Unmarshal(payload, e); err != nil {
			return false, fmt.Errorf("payload: %w", err)
		}
	}
	switch e.Status {
	case "BEGIN":
		e.begin = true
	case "END":
		e.commit = true
	case "":
	default:
		return false, fmt.Errorf("status %q: want BEGIN or END", e.Status)
	}
	e.db, e.table = e.Source.DB, e.Source.Table
	if e.DDL != nil {
		e.Op = "ddl"
	}
	return false, nil
}

// field is one column of a row image, in the order the object lists it.
type field struct {
	name  string
	value json.RawMessage
}

// fields reads a JSON object's members in order; null gives nil.
func fields(raw json.RawMessage) ([]field, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("want an object")
	}
	var out []field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, field{name: t.(string), value: v})
	}
	return out, nil
}

// kindOf infers a column's kind from a JSON value: the envelope carries
// no types. Integers are int (uint above int64's range), other numbers
// double, objects, arrays and booleans json, strings string (DECIMAL,
// temporal and base64 binary values are strings in the envelope, and
// written back as the same strings). 0 for null.
func kindOf(v json.RawMessage) engine.Kind {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0
	}
	switch v[0] {
	case 'n':
		return 0
	case '"':
		return engine.KindString
	case '{', '[', 't', 'f':
		return engine.KindJSON
	}
	if bytes.ContainsAny(v, ".eE") {
		return engine.KindDouble
	}
	if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return engine.KindInt
	}
	return engine.KindUint
}

// widen merges two inferred kinds of one column.
func widen(a, b engine.Kind) engine.Kind {
	switch {
	case a == 0 || a == b:
		return b
	case b == 0:
		return a
	case (a == engine.KindInt || a == engine.KindUint) && (b == engine.KindInt || b == engine.KindUint):
		return engine.KindUint
	case isNumber(a) && isNumber(b):
		return engine.KindDouble
	}
	return engine.KindJSON // mixed: keep the JSON text as it is
}

func isNumber(k engine.Kind) bool {
	return k == engine.KindInt || k == engine.KindUint || k == engine.KindDouble
}

func value(k engine.Kind, v json.RawMessage) (any, error) {
	v = bytes.TrimSpace(v)
	if string(v) == "null" {
		return nil, nil
	}
	switch k {
	case engine.KindInt, engine.KindYear:
		return strconv.ParseInt(string(v), 10, 64)
	case engine.KindUint, engine.KindBit:
		if bytes.HasPrefix(v, []byte("-")) {
			n, err := strconv.ParseInt(string(v), 10, 64)
			return uint64(n), err
		}
		return strconv.ParseUint(string(v), 10, 64)
	case engine.KindFloat:
		f, err := strconv.ParseFloat(string(v), 32)
		if err != nil {
			return nil, err
		}
		return float32(f), nil
	case engine.KindDecimal:
		// The envelope writes a DECIMAL as a string; a number is taken
		// as its text.
		if len(v) > 0 && v[0] != '"' {
			if _, err := strconv.ParseFloat(string(v), 64); err != nil {
				return nil, fmt.Errorf("%s is not a decimal", v)
			}
			return string(v), nil
		}
	case engine.KindBytes, engine.KindGeometry:
		// The envelope writes bytes as base64.
		var b []byte
		if err := json.Unmarshal(v, &b); err != nil {
			return nil, fmt.Errorf("want base64 text: %w", err)
		}
		return b, nil
	case engine.KindDouble:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, err
		}
		if math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s is out of range", v)
		}
		return f, nil
	case engine.KindJSON:
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			return nil, err
		}
		return b.String(), nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, err
	}
	return s, nil
}

// tableDef collects what the envelopes say about one table.
type tableDef struct {
	db, name string
	cols     []string
	index    map[string]int
	kinds    []engine.Kind
	nulls    []bool
	key      []string
	keyKind  engine.KeyKind
	t        *engine.Table
	// typed is set when a schema line gave the kinds.
	typed bool
}

func (d *tableDef) see(fs []field) error {
	if d.typed {
		for _, f := range fs {
			if _, ok := d.index[f.name]; !ok {
				return fmt.Errorf("column %s is not in the schema of %s.%s", f.name, d.db, d.name)
			}
		}
		return nil
	}
	for _, f := range fs {
		i, ok := d.index[f.name]
		if !ok {
			i = len(d.cols)
			d.index[f.name] = i
			d.cols = append(d.cols, f.name)
			d.kinds = append(d.kinds, 0)
			d.nulls = append(d.nulls, false)
		}
		k := kindOf(f.value)
		if k == 0 {
			d.nulls[i] = true
		}
		d.kinds[i] = widen(d.kinds[i], k)
	}
	return nil
}

func (d *tableDef) table() *engine.Table {
	if d.t != nil {
		return d.t
	}
	t := &engine.Table{DB: d.db, Name: d.name, KeyKind: d.keyKind, Version: 1}
	for i, c := range d.cols {
		k := d.kinds[i]
		if k == 0 {
			k = engine.KindString
		}
		t.Columns = append(t.Columns, engine.Column{Name: c, Kind: k, Nullable: d.nulls[i]})
	}
	for _, k := range d.key {
		if i, ok := d.index[k]; ok {
			t.Key = append(t.Key, i)
		}
	}
	d.t = t
	return t
}

func (d *tableDef) image(fs []field) ([]any, error) {
	if fs == nil {
		return nil, nil
	}
	t := d.table()
	row := make([]any, len(t.Columns))
	for i := range row {
		row[i] = engine.Absent
	}
	for _, f := range fs {
		i := d.index[f.name]
		v, err := value(t.Columns[i].Kind, f.value)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.name, err)
		}
		row[i] = v
	}
	return row, nil
}

// ReadBatches is ReadFixture without the names of the guessed tables.
func ReadBatches(r io.Reader, batchRows int) ([]*engine.Batch, error) {
	bs, _, err := ReadFixture(r, batchRows)
	return bs, err
}

// ReadFixture reads a file of JSON envelopes, as builtin:jsonl writes them
// (with or without begin/commit markers), into batches: one per
// transaction, or per batchRows changes of it when batchRows > 0.
//
// A table's columns get the kinds a schema line gives them (see
// schemaLine), which applies to the lines after it: a DECIMAL then
// arrives as a decimal, a TIMESTAMP as a timestamp and a BLOB as bytes,
// as they do from the binary log. Without one the kinds are guessed from
// the values (see kindOf), and guessed lists those tables: DECIMAL,
// temporal and binary columns then arrive as strings. Either way the same
// envelopes come out of a plugin that keeps every change.
func ReadFixture(r io.Reader, batchRows int) (bs []*engine.Batch, guessed []string, err error) {
	var envs []*envelope
	defs := map[string]*tableDef{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		e := &envelope{line: line}
		tombstone, err := e.read(text)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", line, err)
		}
		if tombstone {
			continue
		}
		if len(e.Schema) > 0 && string(e.Schema) != "null" {
			var prev *tableDef
			var probe struct{ DB, Table string }
			if json.Unmarshal(e.Schema, &probe) == nil {
				prev = defs[probe.DB+"."+probe.Table]
			}
			d, err := typedDef(e.Schema, prev)
			if err != nil {
				return nil, nil, fmt.Errorf("line %d: %w", line, err)
			}
			defs[d.db+"."+d.name] = d
			continue
		}
		envs = append(envs, e)
		if e.begin || e.commit || e.table == nil || e.Op == "ddl" {
			continue
		}
		name := e.db + "." + *e.table
		d := defs[name]
		if d == nil {
			d = &tableDef{db: e.db, name: *e.table, index: map[string]int{}, keyKind: engine.KeyPrimary}
			defs[name] = d
			guessed = append(guessed, name)
		}
		e.def = d
		for _, raw := range []json.RawMessage{e.Before, e.After} {
			fs, err := fields(raw)
			if err != nil {
				return nil, nil, fmt.Errorf("line %d: %w", line, err)
			}
			if err := d.see(fs); err != nil {
				return nil, nil, fmt.Errorf("line %d: %w", line, err)
			}
		}
		if d.key == nil && len(e.Puma.Key) > 0 && string(e.Puma.Key) != "null" {
			fs, err := fields(e.Puma.Key)
			if err != nil {
				return nil, nil, fmt.Errorf("line %d: key: %w", line, err)
			}
			for _, f := range fs {
				d.key = append(d.key, f.name)
				if i, ok := d.index[f.name]; ok && d.typed {
					d.t.Key = append(d.t.Key, i)
				}
			}
			switch e.Puma.KeyKind {
			case "config":
				d.keyKind = engine.KeyConfig
			case "row":
				d.keyKind = engine.KeyRow
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	slices.Sort(guessed)
	bs, err = batches(envs, batchRows)
	return bs, guessed, err
}

// batches groups the envelopes into batches.
func batches(envs []*envelope, batchRows int) ([]*engine.Batch, error) {
	var (
		out       []*engine.Batch
		seq       uint64
		cur       *engine.Batch // the open batch
		tx        *engine.Tx
		last      engine.Change // the last change of the open transaction
		hasChange bool          // the open transaction has a change
	)
	flush := func(commit *envelope) {
		if cur == nil {
			cur = &engine.Batch{Tx: tx}
		}
		switch {
		case commit != nil:
			cur.Commit = &position.Position{File: commit.Puma.File, Pos: commit.Puma.Pos, GTIDSet: commit.Puma.GTIDSet}
			cur.CommitTime = commit.TsMS / 1000
		case hasChange && tx != nil:
			// No marker: the transaction ends after its last change.
			cur.Commit = &position.Position{File: last.File, Pos: last.Pos}
			cur.CommitTime = last.Timestamp
		}
		seq++
		cur.Seq = seq
		out = append(out, cur)
		cur = nil
	}
	closeTx := func(commit *envelope) {
		if tx != nil {
			flush(commit)
		}
		tx, hasChange = nil, false
	}
	for _, e := range envs {
		switch {
		case e.begin:
			closeTx(nil)
			tx = &engine.Tx{ID: e.ID, ServerID: e.Puma.ServerID, File: e.Puma.File, Pos: e.Puma.Pos}
			cur = &engine.Batch{Tx: tx, Begin: true}
			continue
		case e.commit:
			if tx == nil || tx.ID != e.ID {
				return nil, fmt.Errorf("line %d: END of transaction %s, which did not begin", e.line, e.ID)
			}
			closeTx(e)
			continue
		}
		if e.Puma.Tx.ID == "" {
			return nil, fmt.Errorf("line %d: no puma.tx.id: not a Puma envelope", e.line)
		}
		if tx != nil && tx.ID != e.Puma.Tx.ID {
			closeTx(nil)
		}
		if tx == nil {
			tx = &engine.Tx{ID: e.Puma.Tx.ID, ServerID: e.Source.ServerID, File: e.Source.File, Pos: e.Source.Pos}
			cur = &engine.Batch{Tx: tx, Begin: true}
		}
		if tx.GTID == "" {
			tx.GTID = e.Source.GTID
		}
		if cur == nil {
			cur = &engine.Batch{Tx: tx}
		}
		c, err := change(e, tx)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", e.line, err)
		}
		cur.Changes = append(cur.Changes, c)
		last, hasChange = c, true
		if batchRows > 0 && len(cur.Changes) >= batchRows {
			seq++
			cur.Seq = seq
			out = append(out, cur)
			cur = nil
		}
	}
	closeTx(nil)
	return out, nil
}

func change(e *envelope, tx *engine.Tx) (engine.Change, error) {
	c := engine.Change{Seq: e.Puma.Tx.Seq, Part: e.Puma.Tx.Part, Tx: tx, Timestamp: e.Source.TsMS / 1000, File: e.Source.File, Pos: e.Source.Pos}
	switch e.Op {
	case "c", "u", "d", "t", "r":
		c.Op = engine.Op(e.Op[0])
	case "ddl":
		c.Op = engine.OpDDL
		c.DB, c.Statement = e.db, *e.DDL
		if e.table != nil {
			c.Table = &engine.Table{DB: e.db, Name: *e.table} // a DDL's table has no columns
		}
		return c, nil
	default:
		return c, fmt.Errorf("op %q: want c, u, d, t or r", e.Op)
	}
	if e.table == nil {
		return c, errors.New("no source.table")
	}
	d := e.def
	c.Table = d.table()
	var err error
	for _, im := range []struct {
		raw json.RawMessage
		dst *[]any
	}{{e.Before, &c.Before}, {e.After, &c.After}} {
		fs, ferr := fields(im.raw)
		if ferr != nil {
			return c, ferr
		}
		if *im.dst, err = d.image(fs); err != nil {
			return c, err
		}
	}
	if c.Op == engine.OpTruncate && !strings.Contains(string(e.Before)+string(e.After), "{") {
		c.Before, c.After = nil, nil
	}
	return c, nil
}
