package wire

import (
	"reflect"
	"testing"
)

func sampleRequest() *HTTPRequest {
	return &HTTPRequest{Method: "POST", URL: "https://hooks.example.com/in?x=1", TimeoutMS: 2500,
		Header: []HTTPHeader{{Name: "Content-Type", Value: "application/json"}, {Name: "Authorization", Value: "Bearer ", Secret: "token"}},
		Body:   []byte(`[{"op":"c"}]`)}
}

func TestHTTPMessagesRoundTrip(t *testing.T) {
	q := sampleRequest()
	got, err := ParseHTTPRequest(AppendHTTPRequest(nil, q))
	if err != nil || !reflect.DeepEqual(&got, q) {
		t.Fatalf("request: %+v %v", got, err)
	}
	r := &HTTPResponse{Status: 302, Truncated: true, Header: []HTTPHeader{{Name: "Location", Value: "/x"}}, Body: []byte("moved")}
	gr, err := ParseHTTPResponse(AppendHTTPResponse(nil, r))
	if err != nil || !reflect.DeepEqual(&gr, r) {
		t.Fatalf("response: %+v %v", gr, err)
	}
}

func TestKVRoundTrip(t *testing.T) {
	m := map[string]string{"a": "1", "b": "", "rows/shop.t": "\x05\x00\x00\x00\x00\x00\x00\x00"}
	enc := EncodeKV([]string{"a", "b", "rows/shop.t"}, func(k string) []byte { return []byte(m[k]) })
	got := map[string]string{}
	if err := DecodeKV(enc, func(k string, v []byte) { got[k] = string(v) }); err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("%v %v", got, err)
	}
}

func seeds(f *testing.F, msgs ...[]byte) {
	for _, m := range msgs {
		f.Add(m)
		for _, n := range []int{0, 1, 4, len(m) / 2, len(m) - 1} {
			if n >= 0 && n < len(m) {
				f.Add(m[:n])
			}
		}
	}
}

// The host decodes request messages a guest wrote: they must never panic,
// and what decodes encodes back to the same bytes.
func FuzzHTTPRequest(f *testing.F) {
	seeds(f, AppendHTTPRequest(nil, sampleRequest()), AppendHTTPRequest(nil, &HTTPRequest{Method: "GET"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseHTTPRequest(b)
		if err != nil {
			return
		}
		again, err := ParseHTTPRequest(AppendHTTPRequest(nil, &q))
		if err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("round trip: %+v\n%+v %v", q, again, err)
		}
	})
}

func FuzzHTTPResponse(f *testing.F) {
	seeds(f, AppendHTTPResponse(nil, &HTTPResponse{Status: 200, Header: []HTTPHeader{{Name: "A", Value: "b"}}, Body: []byte("ok")}))
	f.Fuzz(func(t *testing.T, b []byte) { ParseHTTPResponse(b) })
}

// Checkpoints carry kv state; a corrupt one is an error, never a panic.
func FuzzKV(f *testing.F) {
	seeds(f, EncodeKV([]string{"a", "bb"}, func(k string) []byte { return []byte(k + k) }))
	f.Fuzz(func(t *testing.T, b []byte) { DecodeKV(b, func(string, []byte) {}) })
}

func sampleSQLRequest() *SQLRequest {
	return &SQLRequest{Op: SQLExec, Target: "analytics", TimeoutMS: 1500, Statements: []SQLStatement{
		{SQL: "INSERT INTO t VALUES ($1, $2, $3, $4)", Args: []SQLArg{{Kind: KindInt, Num: 7}, {Kind: KindDecimal, Text: "-1.50"}, {}, {Kind: KindBytes, Text: "\x00\xff"}}},
		{SQL: "DELETE FROM t"},
	}}
}

func TestSQLMessagesRoundTrip(t *testing.T) {
	q := sampleSQLRequest()
	got, err := ParseSQLRequest(AppendSQLRequest(nil, q))
	if err != nil || !reflect.DeepEqual(&got, q) {
		t.Fatalf("request: %+v %v", got, err)
	}
	n, err := ParseSQLExecResult(AppendSQLExecResult(nil, []int64{1, -1, 1 << 40}))
	if err != nil || !reflect.DeepEqual(n, []int64{1, -1, 1 << 40}) {
		t.Fatalf("exec result: %v %v", n, err)
	}
	cols := []SQLColumn{{Name: "position", Value: []byte(`{"gtid":"0-1-5"}`)}, {Name: "n", Null: true, Value: []byte{}}}
	found, gc, err := ParseSQLQueryResult(AppendSQLQueryResult(nil, true, cols))
	if err != nil || !found || !reflect.DeepEqual(gc, cols) {
		t.Fatalf("query result: %v %+v %v", found, gc, err)
	}
	for _, q := range sampleSQLCopies() {
		got, err := ParseSQLRequest(AppendSQLRequest(nil, q))
		if err != nil || !reflect.DeepEqual(&got, q) {
			t.Fatalf("copy request: %+v %v", got, err)
		}
	}
	copyOf := func(f func(q *SQLRequest)) []byte {
		q := sampleSQLCopies()[1]
		f(q)
		return AppendSQLRequest(nil, q)
	}
	for name, b := range map[string][]byte{
		"width outside a copy": AppendSQLRequest(nil, &SQLRequest{Op: SQLExec, Width: 2, Statements: []SQLStatement{{SQL: "x"}}}),
		"copy without width":   AppendSQLRequest(nil, &SQLRequest{Op: SQLCopy, Statements: []SQLStatement{{SQL: "COPY t FROM STDIN"}}}),
		"partial row":          AppendSQLRequest(nil, &SQLRequest{Op: SQLCopy, Width: 2, Statements: []SQLStatement{{SQL: "COPY t FROM STDIN", Args: []SQLArg{{}, {}, {}}}}}),
		"copy without sql":     AppendSQLRequest(nil, &SQLRequest{Op: SQLCopy, Width: 1, Statements: []SQLStatement{{Args: []SQLArg{{}}}}}),
		"second sql":           AppendSQLRequest(nil, &SQLRequest{Op: SQLCopy, Width: 1, Statements: []SQLStatement{{SQL: "COPY t FROM STDIN"}, {SQL: "x"}}}),
		"changes with args":    copyOf(func(q *SQLRequest) { q.Statements[0].Args = make([]SQLArg, 2) }),
		"two statements":       copyOf(func(q *SQLRequest) { q.Statements = append(q.Statements, SQLStatement{}) }),
		"args before the copy": copyOf(func(q *SQLRequest) {
			q.Statements = append([]SQLStatement{{SQL: "CREATE TEMPORARY TABLE s (a int)", Args: []SQLArg{{}}}}, q.Statements...)
		}),
		"mark when numbered": copyOf(func(q *SQLRequest) { q.Changes[0].Mark = '\t' }),
		"mark unnumbered":    copyOf(func(q *SQLRequest) { q.Numbered = false }),
		"image":              setTail(copyOf(func(q *SQLRequest) { q.Changes = q.Changes[:1] }), 2, 'u'),
		"rows beyond":        setTail(copyOf(func(q *SQLRequest) { q.Changes = nil }), 5, 0, 0, 0),
		"op":                 {SQLMessageVersion, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"count":              AppendSQLRequest(nil, &SQLRequest{Op: SQLExec, Statements: make([]SQLStatement, MaxSQLStatements+1)}),
		"kind":               AppendSQLRequest(nil, &SQLRequest{Op: SQLExec, Statements: []SQLStatement{{Args: []SQLArg{{Kind: MaxKind + 1}}}}}),
	} {
		if _, err := ParseSQLRequest(b); err == nil {
			t.Errorf("%s: malformed request accepted", name)
		}
	}
}

// setTail overwrites the last bytes of b.
func setTail(b []byte, tail ...byte) []byte {
	copy(b[len(b)-len(tail):], tail)
	return b
}

// sampleSQLCopies are a copy of two rows of two columns in two
// statements, a numbered copy_changes of two changes and a tentative one
// after the statement creating the table it fills.
func sampleSQLCopies() []*SQLRequest {
	return []*SQLRequest{
		{Op: SQLCopy, Width: 2, Target: "pg", Statements: []SQLStatement{
			{SQL: "COPY t (a, b) FROM STDIN", Args: []SQLArg{{Kind: KindInt, Num: 1}, {}}},
			{Args: []SQLArg{{Kind: KindString, Text: "x\ty"}, {Kind: KindJSON, Text: "{}"}}}}},
		{Op: SQLCopyChanges, Width: 3, Target: "pg", Statements: []SQLStatement{{SQL: "COPY s FROM STDIN"}},
			Columns: []uint16{0, 2, 1}, Numbered: true,
			Changes: []SQLChangeRef{{Batch: 0, Change: 7, After: true, Mark: 'u'}, {Batch: 3, Change: 0, Mark: 'd'}}},
		{Op: SQLCopyChanges, Width: 1, Target: "pg", Statements: []SQLStatement{{SQL: "CREATE TEMPORARY TABLE s (a int)"}, {SQL: "COPY s FROM STDIN"}},
			Columns: []uint16{0}, Tentative: true, Changes: []SQLChangeRef{{Batch: 1, Change: 2, After: true}}},
	}
}

// The host decodes sql requests a guest wrote, and the SDK the results:
// neither may panic, and a request that decodes encodes back to itself.
func FuzzSQLRequest(f *testing.F) {
	seeds(f, AppendSQLRequest(nil, sampleSQLRequest()), AppendSQLRequest(nil, &SQLRequest{Op: SQLBegin, Target: "x"}),
		AppendSQLRequest(nil, sampleSQLCopies()[0]), AppendSQLRequest(nil, sampleSQLCopies()[1]))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseSQLRequest(b)
		if err != nil {
			return
		}
		again, err := ParseSQLRequest(AppendSQLRequest(nil, &q))
		if err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("round trip: %+v\n%+v %v", q, again, err)
		}
	})
}

func FuzzSQLResult(f *testing.F) {
	seeds(f, AppendSQLQueryResult(nil, true, []SQLColumn{{Name: "a", Value: []byte("1")}}), AppendSQLExecResult(nil, []int64{3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseSQLQueryResult(b)
		ParseSQLExecResult(b)
	})
}
