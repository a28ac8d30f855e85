package http

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

func init() { sdk.Register(Plugin()) }

var orders = &sdktest.Table{DB: "shop", Name: "orders", Columns: []sdk.Column{
	{Name: "id", Kind: sdk.KindInt}, {Name: "note", Kind: sdk.KindString},
}}

func header(q *wire.HTTPRequest, name string) (wire.HTTPHeader, bool) {
	for _, h := range q.Header {
		if strings.EqualFold(h.Name, name) {
			return h, true
		}
	}
	return wire.HTTPHeader{}, false
}

func TestHTTPSender(t *testing.T) {
	sdktest.Secret("hmac", "k")
	sdktest.Secret("token", "t0k")
	var got []*wire.HTTPRequest
	status := uint16(200)
	sdktest.HTTP(func(q *wire.HTTPRequest) (*wire.HTTPResponse, error) {
		c := *q
		c.Body = append([]byte(nil), q.Body...)
		got = append(got, &c)
		return &wire.HTTPResponse{Status: status, Body: []byte("nope")}, nil
	})
	defer sdktest.HTTP(nil)
	cfg := `{"url":"https://hooks.example.com/in","headers":{"X-Team":"data"},` +
		`"secret_headers":{"Authorization":{"secret":"token","prefix":"Bearer "}},"hmac":{"secret":"hmac"},"timeout":"3s"}`
	if err := sdktest.InitSender(cfg); err != nil {
		t.Fatal(err)
	}
	if err := sdktest.Send(sdktest.Insert(orders, int64(1), "a"), sdktest.Insert(orders, int64(2), "b")); err != nil {
		t.Fatal(err)
	}
	q := got[0]
	if q.Method != "POST" || q.URL != "https://hooks.example.com/in" || q.TimeoutMS != 3000 {
		t.Errorf("request %s %s timeout %d", q.Method, q.URL, q.TimeoutMS)
	}
	var envs []map[string]any
	if err := json.Unmarshal(q.Body, &envs); err != nil || len(envs) != 2 || envs[1]["after"].(map[string]any)["note"] != "b" {
		t.Errorf("body %s: %v", q.Body, err)
	}
	m := hmac.New(sha256.New, []byte("k"))
	m.Write(q.Body)
	for name, want := range map[string]wire.HTTPHeader{
		"Content-Type":     {Name: "Content-Type", Value: "application/json"},
		"X-Team":           {Name: "X-Team", Value: "data"},
		"Authorization":    {Name: "Authorization", Value: "Bearer ", Secret: "token"},
		"Idempotency-Key":  {Name: "Idempotency-Key", Value: "0-1-1:1-2"},
		"X-Puma-Signature": {Name: "X-Puma-Signature", Value: "sha256=" + hex.EncodeToString(m.Sum(nil))},
	} {
		if h, ok := header(q, name); !ok || h != want {
			t.Errorf("header %s = %+v, want %+v", name, h, want)
		}
	}

	// Statuses: success, retryable, fatal.
	for _, tc := range []struct {
		status uint16
		err    string
	}{{204, ""}, {503, "retryable error"}, {429, "retryable error"}, {400, "fatal error"}} {
		status = tc.status
		err := sdktest.Send(sdktest.Insert(orders, int64(1), "a"))
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("status %d: %v, want %q", tc.status, err, tc.err)
		}
	}
}

func TestHTTPSenderConfig(t *testing.T) {
	for _, tc := range []struct{ cfg, err string }{
		{`{}`, "url is required"},
		{`{"url":"https://x","format":"xml"}`, `format "xml"`},
		{`{"url":"https://x","method":"GET"}`, `method "GET"`},
		{`{"url":"https://x","success":[999]}`, "not an HTTP status"},
		{`{"url":"https://x","timeout":"soon"}`, `timeout "soon"`},
		{`{"url":"https://x","hmac":{}}`, "hmac.secret is required"},
		{`{"url":"https://x","request":"row"}`, `request "row": want "call" or "batch"`},
		{`{"url":"https://x","max_body":0}`, "max_body 0: want 1 to 16777216 bytes"},
		{`{"url":"https://x","max_body":16777217}`, "max_body 16777217: want 1 to 16777216 bytes"},
	} {
		if err := sdktest.InitSender(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.cfg, err, tc.err)
		}
	}
}

// recorder records the requests the sender makes, answering each with
// the status answer returns for it (its index from 0).
type recorder struct {
	got    []*wire.HTTPRequest
	answer func(i int) uint16
}

func record(t *testing.T, answer func(i int) uint16) *recorder {
	r := &recorder{answer: answer}
	sdktest.HTTP(func(q *wire.HTTPRequest) (*wire.HTTPResponse, error) {
		c := *q
		c.Body = append([]byte(nil), q.Body...)
		c.Header = append([]wire.HTTPHeader(nil), q.Header...)
		r.got = append(r.got, &c)
		status := uint16(204)
		if r.answer != nil {
			status = r.answer(len(r.got) - 1)
		}
		return &wire.HTTPResponse{Status: status}, nil
	})
	t.Cleanup(func() { sdktest.HTTP(nil) })
	return r
}

func (r *recorder) keys() []string {
	var keys []string
	for _, q := range r.got {
		h, _ := header(q, "Idempotency-Key")
		keys = append(keys, h.Value)
	}
	return keys
}

// objects returns the JSON objects of a body in format "array" or
// "ndjson", failing the test on a body that is neither.
func objects(t *testing.T, format string, body []byte) []map[string]any {
	t.Helper()
	var objs []map[string]any
	if format == "array" {
		if err := json.Unmarshal(body, &objs); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		return objs
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		t.Fatalf("body %q does not end a line", body)
	}
	for line := range strings.Lines(string(body)) {
		var o map[string]any
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("line %s: %v", line, err)
		}
		objs = append(objs, o)
	}
	return objs
}

// framing returns what the objects are, in order: "BEGIN", "END", or the
// change's after.id.
func framing(objs []map[string]any) string {
	var parts []string
	for _, o := range objs {
		if st, ok := o["status"].(string); ok {
			parts = append(parts, st)
			continue
		}
		parts = append(parts, fmt.Sprint(o["after"].(map[string]any)["id"]))
	}
	return strings.Join(parts, " ")
}

func ins(ids ...int64) []sdktest.Change {
	var cs []sdktest.Change
	for _, id := range ids {
		cs = append(cs, sdktest.Insert(orders, id, strings.Repeat("x", int(id))))
	}
	return cs
}

// TestHTTPSenderCall checks that a call's batches, three transactions of a
// group, go in one request: one array or the lines one after the other,
// each transaction framed by its markers, under a key naming the first
// and last batch, signed as a whole.
func TestHTTPSenderCall(t *testing.T) {
	sdktest.Secret("hmac", "k")
	for _, format := range []string{"array", "ndjson"} {
		t.Run(format, func(t *testing.T) {
			r := record(t, nil)
			cfg := `{"url":"https://hooks.example.com/in","markers":true,"hmac":{"secret":"hmac"},"format":"` + format + `"}`
			if err := sdktest.InitSender(cfg); err != nil {
				t.Fatal(err)
			}
			if err := sdktest.SendGroup(ins(1, 2), ins(3), ins(4, 5, 6)); err != nil {
				t.Fatal(err)
			}
			if len(r.got) != 1 {
				t.Fatalf("%d requests, want 1", len(r.got))
			}
			q := r.got[0]
			if got, want := framing(objects(t, format, q.Body)), "BEGIN 1 2 END BEGIN 3 END BEGIN 4 5 6 END"; got != want {
				t.Errorf("body holds %s, want %s", got, want)
			}
			if keys := r.keys(); keys[0] != "0-1-1:1-2..0-1-1:1-3" {
				t.Errorf("key %q", keys[0])
			}
			m := hmac.New(sha256.New, []byte("k"))
			m.Write(q.Body)
			if h, _ := header(q, "X-Puma-Signature"); h.Value != "sha256="+hex.EncodeToString(m.Sum(nil)) {
				t.Errorf("signature %q does not sign the body", h.Value)
			}

			// A call of one batch keeps the batch's key.
			if err := sdktest.SendGroup(ins(7, 8)); err != nil {
				t.Fatal(err)
			}
			if keys := r.keys(); len(keys) != 2 || keys[1] != "0-1-1:1-2" {
				t.Errorf("keys %q, want the second 0-1-1:1-2", keys)
			}
			if got := framing(objects(t, format, r.got[1].Body)); got != "BEGIN 7 8 END" {
				t.Errorf("second body holds %s", got)
			}
		})
	}
}

// TestHTTPSenderMaxBody checks the bound on a request's body: a request
// stops before the batch that would take it past max_body and the next
// one starts there, so that each carries whole batches, and a batch
// larger than max_body goes alone.
func TestHTTPSenderMaxBody(t *testing.T) {
	txs := [][]sdktest.Change{ins(1, 2), ins(3), ins(4, 5, 6), ins(7), ins(8)}
	for _, format := range []string{"array", "ndjson"} {
		t.Run(format, func(t *testing.T) {
			r := record(t, nil)
			base := `{"url":"https://hooks.example.com/in","markers":true,"format":"` + format + `"`
			// Each batch's size alone.
			if err := sdktest.InitSender(base + `,"request":"batch"}`); err != nil {
				t.Fatal(err)
			}
			if err := sdktest.SendGroup(txs...); err != nil {
				t.Fatal(err)
			}
			var size []int
			for _, q := range r.got {
				size = append(size, len(q.Body))
			}
			joined := func(from, to int) int { // the body of batches from..to-1
				n := 0
				for _, s := range size[from:to] {
					n += s
				}
				if format == "array" {
					n -= to - from - 1 // "][" between batches becomes ","
				}
				return n
			}

			maxes := []int{1, joined(0, 5), joined(0, 5) + 1}
			for from := range 5 {
				for to := from + 2; to <= 5; to++ {
					maxes = append(maxes, joined(from, to)-1, joined(from, to), joined(from, to)+1)
				}
			}
			for _, max := range maxes {
				r.got = nil
				if err := sdktest.InitSender(fmt.Sprintf(`%s,"max_body":%d}`, base, max)); err != nil {
					t.Fatal(err)
				}
				if err := sdktest.SendGroup(txs...); err != nil {
					t.Fatal(err)
				}
				// Each request carries the batches from..to-1: whole
				// ones, in order, within max_body unless it is one
				// batch alone, and it stops only where the next batch
				// would not fit.
				from := 0
				for i, q := range r.got {
					to := from
					for _, o := range objects(t, format, q.Body) {
						if o["status"] == "END" {
							to++
						}
					}
					switch {
					case to == from || len(q.Body) != joined(from, to):
						t.Errorf("max_body %d: request %d of %d bytes is not whole batches from %d on", max, i, len(q.Body), from)
					case to-from > 1 && len(q.Body) > max:
						t.Errorf("max_body %d: request %d of batches %d..%d has %d bytes", max, i, from, to-1, len(q.Body))
					case to < 5 && joined(from, to+1) <= max:
						t.Errorf("max_body %d: request %d stops at batch %d, which fits", max, i, to)
					}
					from = to
				}
				if from != 5 {
					t.Errorf("max_body %d: the requests carry %d batches of 5", max, from)
				}
				if n := len(r.got); max == 1 && n != 5 || max >= joined(0, 5) && n != 1 {
					t.Errorf("max_body %d: %d requests", max, n)
				}
			}
		})
	}
}

// tsMS matches the processing times of an envelope, which a call sent
// again renders anew.
var tsMS = regexp.MustCompile(`"ts_[mun]s":[0-9]+`)

// TestHTTPSenderRetriedCall checks that a call failing at its second
// request is sent again as the same requests under the same keys, the
// first one included, and that the failed call leaves nothing behind.
func TestHTTPSenderRetriedCall(t *testing.T) {
	txs := [][]sdktest.Change{ins(1, 2), ins(3), ins(4, 5, 6), ins(7), ins(8)}
	for _, format := range []string{"array", "ndjson"} {
		t.Run(format, func(t *testing.T) {
			fail := true
			r := record(t, func(i int) uint16 {
				if fail && i == 1 {
					return 503
				}
				return 200
			})
			cfg := `{"url":"https://hooks.example.com/in","markers":true,"max_body":2100,"format":"` + format + `"}`
			if err := sdktest.InitSender(cfg); err != nil {
				t.Fatal(err)
			}
			err := sdktest.SendGroup(txs...)
			if err == nil || !strings.Contains(err.Error(), "retryable error") || !strings.Contains(err.Error(), "answered 503") {
				t.Fatalf("call with a 503: %v", err)
			}
			if len(r.got) != 2 {
				t.Fatalf("%d requests, want the call to stop at the failed second", len(r.got))
			}
			failed := r.got
			r.got, fail = nil, false
			if err := sdktest.SendGroup(txs...); err != nil {
				t.Fatal(err)
			}
			if len(r.got) < 3 {
				t.Fatalf("%d requests; want max_body to split the call at least in three", len(r.got))
			}
			keys := r.keys()
			if !strings.Contains(keys[0], "..") {
				t.Errorf("keys %q; want max_body to let the first request carry several batches", keys)
			}
			for i, q := range failed {
				if h, _ := header(q, "Idempotency-Key"); h.Value != keys[i] {
					t.Errorf("request %d: key %q, sent again as %q", i, h.Value, keys[i])
				}
				a, b := tsMS.ReplaceAll(q.Body, nil), tsMS.ReplaceAll(r.got[i].Body, nil)
				if !bytes.Equal(a, b) {
					t.Errorf("request %d: body\n%s\nsent again as\n%s", i, q.Body, r.got[i].Body)
				}
			}
			var all []map[string]any
			for _, q := range r.got {
				all = append(all, objects(t, format, q.Body)...)
			}
			if got, want := framing(all), "BEGIN 1 2 END BEGIN 3 END BEGIN 4 5 6 END BEGIN 7 END BEGIN 8 END"; got != want {
				t.Errorf("the call sent again carries %s, want %s", got, want)
			}
		})
	}
}

// TestHTTPSenderPerBatch checks request = "batch": one request per
// batch, under the batch's key, even for the batches of one call.
func TestHTTPSenderPerBatch(t *testing.T) {
	r := record(t, nil)
	if err := sdktest.InitSender(`{"url":"https://hooks.example.com/in","request":"batch","format":"ndjson"}`); err != nil {
		t.Fatal(err)
	}
	if err := sdktest.SendGroup(ins(1, 2), ins(3), ins(4, 5, 6)); err != nil {
		t.Fatal(err)
	}
	if keys := r.keys(); !slices.Equal(keys, []string{"0-1-1:1-2", "0-1-1:1-1", "0-1-1:1-3"}) {
		t.Errorf("keys %q", keys)
	}
	var bodies []string
	for _, q := range r.got {
		bodies = append(bodies, framing(objects(t, "ndjson", q.Body)))
	}
	if want := []string{"1 2", "3", "4 5 6"}; !slices.Equal(bodies, want) {
		t.Errorf("bodies carry %q, want %q", bodies, want)
	}
}
