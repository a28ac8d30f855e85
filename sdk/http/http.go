// Package http is the http capability: requests to the URLs the plugin's
// grants allow (grants = { http = ["https://hooks.example.com"] }), made by
// the host. Importing it makes the module need the grant.
//
// The host owns every connection: it checks the URL against the grant,
// resolves the name and refuses it if any address is loopback, private or
// otherwise internal (unless the grant says allow_private = true), dials
// the address it checked, verifies TLS, ignores proxy settings in its
// environment and never follows a redirect (a 3xx comes back as the
// response; following it is a new request, checked again). Hop-by-hop
// and framing headers (Host, Content-Length, Transfer-Encoding,
// Connection, …) are the host's; Authorization is allowed only from a
// secret.
//
// A header can carry a secret the plugin never sees: Header{Name:
// "Authorization", Value: "Bearer ", Secret: "api_token"} sends "Bearer "
// followed by the secret named api_token in [secrets], which the plugin
// must be granted (grants.secrets).
//
// Outside Wasm (in unit tests) requests go through net/http, or through
// the function set with sdktest.HTTP.
package http

import (
	"errors"
	"strings"
	"time"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

// Errors a request may wrap (test with errors.Is).
var (
	// ErrDenied: the grant refuses the URL, a header, a secret, or the
	// address the name resolves to. Retrying will not help.
	ErrDenied error = wire.ErrnoDenied
	// ErrRemote: the connection, TLS or the request failed or timed out.
	// Retrying later may help.
	ErrRemote error = wire.ErrnoRemote
	// ErrLimit: the request is too large.
	ErrLimit error = wire.ErrnoLimit
)

// MaxBody bounds a request's body (16 MiB): a larger one fails with
// ErrLimit.
const MaxBody = wire.HTTPMaxBody

// Header is a request or response header. In a request, a non-empty
// Secret names a granted secret that the host appends to Value.
type Header struct {
	Name, Value string
	Secret      string
}

// Request is an HTTP request.
type Request struct {
	Method string // GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS
	URL    string
	Header []Header
	Body   []byte
	// Timeout bounds the request (0: 30 s; at most 5 min). The plugin's
	// timeout bounds the call making it too.
	Timeout time.Duration
}

// Response is an HTTP response. It is valid until the next request.
type Response struct {
	Status int
	Header []Header
	Body   []byte
	// Truncated is set when the body was longer than the host's limit
	// (1 MiB) and was cut.
	Truncated bool
}

// Get returns the first value of the named header ("" when none).
func (r *Response) Get(name string) string {
	for _, h := range r.Header {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// Host is the http capability of a plugin instance that Puma runs
// compiled into its own process (its built-in plugins), in place of the
// module's imports: it performs the request as http_request does, under
// the same grant and checks, and returns the response, valid until the
// next call.
type Host func(*wire.HTTPRequest) (*wire.HTTPResponse, error)

// Do performs req.
func Do(req *Request) (*Response, error) { return DoOn(nil, req) }

// DoOn performs req as Do does, through h; a nil h is the module's own
// capability, as Do uses.
func DoOn(h Host, req *Request) (*Response, error) {
	if req.Method == "" {
		return nil, errors.New("http: no method")
	}
	q := wire.HTTPRequest{Method: req.Method, URL: req.URL, Body: req.Body}
	if req.Timeout > 0 {
		q.TimeoutMS = uint32(max(1, min(req.Timeout, time.Hour)/time.Millisecond))
	}
	q.Header = make([]wire.HTTPHeader, len(req.Header))
	for i, h := range req.Header {
		q.Header[i] = wire.HTTPHeader{Name: h.Name, Value: h.Value, Secret: h.Secret}
	}
	var r *wire.HTTPResponse
	var err error
	if h == nil {
		r, err = do(&q)
	} else if r, err = h(&q); err != nil {
		err = host.Wrap("http: "+q.Method+" "+q.URL, err)
	}
	if err != nil {
		return nil, err
	}
	resp := &Response{Status: int(r.Status), Body: r.Body, Truncated: r.Truncated}
	resp.Header = make([]Header, len(r.Header))
	for i, h := range r.Header {
		resp.Header[i] = Header{Name: h.Name, Value: h.Value}
	}
	return resp, nil
}

// Post sends body to url with the given content type and headers.
func Post(url, contentType string, body []byte, header ...Header) (*Response, error) {
	h := append([]Header{{Name: "Content-Type", Value: contentType}}, header...)
	return Do(&Request{Method: "POST", URL: url, Header: h, Body: body})
}
