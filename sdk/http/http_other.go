//go:build !wasip1

package http

import (
	"bytes"
	"context"
	"io"
	nethttp "net/http"
	"time"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

func do(q *wire.HTTPRequest) (*wire.HTTPResponse, error) {
	for _, h := range q.Header {
		if h.Secret == "" {
			continue
		}
		if _, ok := host.Secrets[h.Secret]; !ok {
			return nil, host.Err("http: "+q.Method+" "+q.URL, wire.ErrnoDenied, "secret "+h.Secret+" is not granted")
		}
	}
	if host.HTTP != nil {
		return host.HTTP(q)
	}
	timeout := 30 * time.Second
	if q.TimeoutMS > 0 {
		timeout = time.Duration(q.TimeoutMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := nethttp.NewRequestWithContext(ctx, q.Method, q.URL, bytes.NewReader(q.Body))
	if err != nil {
		return nil, host.Err("http: "+q.Method+" "+q.URL, wire.ErrnoInvalid, err.Error())
	}
	for _, h := range q.Header {
		req.Header.Add(h.Name, h.Value+host.Secrets[h.Secret])
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, host.Err("http: "+q.Method+" "+q.URL, wire.ErrnoRemote, err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, host.Err("http: "+q.Method+" "+q.URL, wire.ErrnoRemote, err.Error())
	}
	r := &wire.HTTPResponse{Status: uint16(resp.StatusCode), Body: body}
	for k, vs := range resp.Header {
		for _, v := range vs {
			r.Header = append(r.Header, wire.HTTPHeader{Name: k, Value: v})
		}
	}
	return r, nil
}

// client follows no redirects, as the host does not.
var client = &nethttp.Client{CheckRedirect: func(*nethttp.Request, []*nethttp.Request) error { return nethttp.ErrUseLastResponse }}
