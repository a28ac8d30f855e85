package envelopetest_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/internal/envelopetest"
)

// TestSchemaRejectsDrift: the schema accepts what the encoder writes and
// rejects each way the output could drift from it, so a test validating
// real output against it can fail.
func TestSchemaRejectsDrift(t *testing.T) {
	tbl := &engine.Table{DB: "shop", Name: "customers", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1,
		Columns: []engine.Column{{Name: "id", Kind: engine.KindInt}, {Name: "email", Kind: engine.KindString, Nullable: true}}}
	tx := &engine.Tx{ID: "0-1-4", GTID: "0-1-4", ServerID: 1, File: "bin.000001", Pos: 4}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Changes: []engine.Change{
		{Op: engine.OpUpdate, Table: tbl, Seq: 1, Tx: tx, Timestamp: 1764064800, File: tx.File, Pos: 300,
			Before: []any{int64(2), "a@example.com"}, After: []any{int64(2), "b@example.com"}},
	}, Commit: &position.Position{File: "bin.000001", Pos: 400, GTIDSet: "0-1-4"}, CommitTime: 1764064800}
	render := func(flags wire.EnvelopeFlags) (change, begin, end map[string]any) {
		e := engine.Envelopes{Name: "shop", Flags: flags}
		e.StartBatch(b, time.Unix(1764064801, 0))
		dec := func(s []byte) map[string]any {
			var m map[string]any
			if err := json.Unmarshal(s, &m); err != nil {
				t.Fatalf("%v: %s", err, s)
			}
			return m
		}
		begin = dec(e.AppendBegin(nil, b))
		change = dec(e.AppendOne(nil, &b.Changes[0]))
		end = dec(e.AppendEnd(nil, b))
		return change, begin, end
	}
	tests := []struct {
		name  string
		flags wire.EnvelopeFlags
		edit  func(change, begin, end map[string]any) any
		ok    bool
	}{
		{name: "change as written", edit: func(c, _, _ map[string]any) any { return c }, ok: true},
		{name: "BEGIN as written", edit: func(_, b, _ map[string]any) any { return b }, ok: true},
		{name: "END as written", edit: func(_, _, e map[string]any) any { return e }, ok: true},
		{name: "with_schema as written", flags: wire.EnvWithSchema, edit: func(c, _, _ map[string]any) any { return c }, ok: true},
		{name: "tombstone", edit: func(_, _, _ map[string]any) any { return nil }, ok: true},
		{name: "unknown field", edit: func(c, _, _ map[string]any) any { c["extra"] = 1; return c }},
		{name: "field missing", edit: func(c, _, _ map[string]any) any { delete(c, "ts_us"); return c }},
		{name: "unknown op", edit: func(c, _, _ map[string]any) any { c["op"] = "x"; return c }},
		{name: "update without before", edit: func(c, _, _ map[string]any) any { c["before"] = nil; return c }},
		{name: "source field missing", edit: func(c, _, _ map[string]any) any { delete(c["source"].(map[string]any), "row"); return c }},
		{name: "other version", edit: func(c, _, _ map[string]any) any { c["source"].(map[string]any)["version"] = "1.0"; return c }},
		{name: "key missing", edit: func(c, _, _ map[string]any) any { delete(c["puma"].(map[string]any), "key"); return c }},
		{name: "total_order 0", edit: func(c, _, _ map[string]any) any {
			c["transaction"].(map[string]any)["total_order"] = 0
			return c
		}},
		{name: "unknown status", edit: func(_, b, _ map[string]any) any { b["status"] = "COMMIT"; return b }},
		{name: "END without counts", edit: func(_, _, e map[string]any) any { e["event_count"] = nil; return e }},
		{name: "schema without fields", flags: wire.EnvWithSchema, edit: func(c, _, _ map[string]any) any {
			delete(c["schema"].(map[string]any), "fields")
			return c
		}},
		{name: "schema of unknown type", flags: wire.EnvWithSchema, edit: func(c, _, _ map[string]any) any {
			f := c["schema"].(map[string]any)["fields"].([]any)[0].(map[string]any)["fields"].([]any)[0].(map[string]any)
			f["type"] = "integer"
			return c
		}},
		{name: "tombstone with a schema", edit: func(c, _, _ map[string]any) any { return map[string]any{"schema": map[string]any{}, "payload": nil} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.edit(render(tt.flags))
			line, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			err = envelopetest.Validate(line)
			if tt.ok && err != nil {
				t.Fatalf("rejected: %v\n%s", err, line)
			}
			if !tt.ok && err == nil {
				t.Fatalf("accepted: %s", line)
			}
		})
	}
}
