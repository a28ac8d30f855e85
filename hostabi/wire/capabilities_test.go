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
