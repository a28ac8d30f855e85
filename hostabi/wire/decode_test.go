package wire

import (
	"reflect"
	"testing"
)

// sampleChange is a change record body with every optional part.
func sampleChange() []byte {
	var e Encoder
	e.StartBatch(1, true, &Tx{ID: "0-1-2", GTID: "0-1-2", ServerID: 1, File: "bin.000001", Pos: 4}, nil)
	e.StartChange(&ChangeHeader{Op: OpUpdate, TableID: 1, Seq: 3, Pos: 99, Timestamp: 1764064800,
		File: "bin.000001", DB: "shop", Route: "k", HasRoute: true}, true, true)
	for range 2 {
		e.StartImage(3)
		e.Int(0, -5)
		e.Null(1)
		e.String(2, "text")
		e.EndImage()
	}
	e.EndChange()
	m, err := ParseBatch(e.Finish())
	if err != nil {
		panic(err)
	}
	_, body, _, _ := m.Records.Next()
	return body
}

// FuzzChangeParse holds Change.Parse, and ParseFixed then ParseRest, the
// fast paths that run once per row inside plugins, to the
// straightforward decoding they replaced: the same fields, and the same
// error, for any body.
func FuzzChangeParse(f *testing.F) {
	body := sampleChange()
	f.Add(body, 40)
	f.Add(body[:len(body)-1], 0)
	f.Add(append(append([]byte(nil), body...), 0), 7)
	f.Add(body[:24], 0)
	f.Fuzz(func(t *testing.T, b []byte, at int) {
		var fast, slow Change
		fast.Route = []byte("stale")
		fast.Before = Image{b: []byte("stale"), n: 1}
		errFast := fast.Parse(b, at)
		errSlow := slow.parseSlow(b, at)
		if !reflect.DeepEqual(errFast, errSlow) {
			t.Fatalf("errors differ: fast %v, reference %v", errFast, errSlow)
		}
		if errFast == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("changes differ:\nfast      %+v\nreference %+v", fast, slow)
		}
		// The SDK's way: fixed fields first, the rest when read, into a
		// change that held another row.
		var lazy Change
		lazy.Route = []byte("stale")
		lazy.Before = Image{b: []byte("stale"), n: 1, at: 9}
		lazy.After = Image{b: []byte("stale"), n: 2, at: 9}
		if !lazy.ParseFixed(b) {
			if errSlow == nil {
				t.Fatal("ParseFixed refused a change the reference decodes")
			}
			return
		}
		errLazy := lazy.ParseRest(b, at)
		if !reflect.DeepEqual(errLazy, errSlow) {
			t.Fatalf("errors differ: ParseFixed+ParseRest %v, reference %v", errLazy, errSlow)
		}
		if errLazy == nil && !reflect.DeepEqual(lazy, slow) {
			t.Fatalf("changes differ:\nParseFixed+ParseRest %+v\nreference            %+v", lazy, slow)
		}
	})
}
