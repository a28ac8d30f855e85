package http

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	} {
		if err := sdktest.InitSender(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.cfg, err, tc.err)
		}
	}
}
