package hostabi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// Limits of the http capability.
const (
	// MaxHTTPRequestBody bounds a request's body.
	MaxHTTPRequestBody = wire.HTTPMaxBody
	// MaxHTTPResponseBody bounds what a plugin gets of a response's body;
	// the rest is discarded and the response flagged truncated.
	MaxHTTPResponseBody = 1 << 20
	// DefaultHTTPTimeout bounds a request whose message asks for none;
	// MaxHTTPTimeout bounds any. The plugin's own timeout bounds the
	// call making the request, whichever ends first.
	DefaultHTTPTimeout = 30 * time.Second
	MaxHTTPTimeout     = 5 * time.Minute
	maxHTTPHeaders     = 100
	maxHTTPMessage     = MaxHTTPRequestBody + 1<<20
)

// Resolver looks up the addresses of a host name; *net.Resolver is one.
// Tests give the Host one of their own, so no name is ever looked up in
// the real DNS.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// HTTPAllow is one entry of a plugin's http grant: the scheme, host, port
// and path prefix a request may go to.
type HTTPAllow struct {
	Scheme string // "http" or "https"
	// Host is a lower-case name, "*." and a domain (any name below the
	// domain), or an IP address.
	Host string
	Port string // explicit or the scheme's default
	// Path is a prefix of the paths allowed ("" for any), escaped as it
	// is sent; without a trailing slash it matches the path itself and
	// what lies below it.
	Path string
}

// ParseHTTPAllow parses a grant entry: scheme://host[:port][/path].
func ParseHTTPAllow(s string) (HTTPAllow, error) {
	var a HTTPAllow
	u, err := url.Parse(s)
	if err != nil {
		return a, fmt.Errorf("%q: %v", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return a, fmt.Errorf("%q: want an http:// or https:// URL", s)
	case u.User != nil:
		return a, fmt.Errorf("%q: credentials do not belong in a URL: name a secret in grants.secrets and send it in a header", s)
	case u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return a, fmt.Errorf("%q: want scheme://host[:port][/path], without query or fragment", s)
	case u.Hostname() == "":
		return a, fmt.Errorf("%q: no host", s)
	}
	a.Scheme = u.Scheme
	a.Host = normHost(u.Hostname())
	a.Port = portOf(u)
	if strings.Contains(a.Host, "*") && (!strings.HasPrefix(a.Host, "*.") || strings.Count(a.Host, "*") > 1 || strings.Count(a.Host, ".") < 2) {
		return a, fmt.Errorf("%q: a wildcard is \"*.\" and a domain of at least two labels (*.example.com)", s)
	}
	if p := u.EscapedPath(); p != "" && p != "/" {
		if why := ambiguousPath(p); why != "" {
			return a, fmt.Errorf("%q: the path has %s", s, why)
		}
		a.Path = p
	}
	return a, nil
}

func (a HTTPAllow) String() string {
	s := a.Scheme + "://" + a.Host
	if a.Port != defaultPort(a.Scheme) {
		s += ":" + a.Port
	}
	return s + a.Path
}

// Match reports whether u, a URL checked by checkURL, lies inside a. A
// path prefix is compared with the path as it is sent (escaped), and
// does not match a path a server may read as lying elsewhere
// (ambiguousPath).
func (a HTTPAllow) Match(u *url.URL) bool {
	if u.Scheme != a.Scheme || portOf(u) != a.Port {
		return false
	}
	host := normHost(u.Hostname())
	if d, ok := strings.CutPrefix(a.Host, "*"); ok {
		if !strings.HasSuffix(host, d) || len(host) == len(d) {
			return false
		}
	} else if host != a.Host {
		return false
	}
	if a.Path == "" {
		return true
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if ambiguousPath(p) != "" {
		return false
	}
	if strings.HasSuffix(a.Path, "/") {
		return strings.HasPrefix(p, a.Path)
	}
	return p == a.Path || strings.HasPrefix(p, a.Path+"/")
}

// normHost lower-cases a host name, drops one trailing dot and writes IP
// addresses canonically, so that equal hosts compare equal.
func normHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().String()
	}
	return h
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return defaultPort(u.Scheme)
}

// ambiguousPath says what in p, a path as it is sent (escaped), servers
// read in different ways, so that a path the host sees under a granted
// prefix may reach a resource outside it: an encoded slash, backslash
// or dot (a server that decodes before it routes sees separators or
// "..", one that does not sees one segment), a "." or ".." segment, or
// a ";" (Tomcat and others drop path parameters: "/ok/..;/x" is
// "/ok/../x" to them). It returns "" when there is none.
func ambiguousPath(p string) string {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case ';':
			return `a ";" (path parameter)`
		case '\\':
			return "a backslash"
		case '%':
			if i+2 < len(p) {
				switch strings.ToUpper(p[i+1 : i+3]) {
				case "2F":
					return "an encoded slash (" + p[i:i+3] + ")"
				case "5C":
					return "an encoded backslash (" + p[i:i+3] + ")"
				case "2E":
					return "an encoded dot (" + p[i:i+3] + ")"
				}
			}
		}
	}
	if hasDotSegment(p) {
		return `"." or ".." segments`
	}
	return ""
}

func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// ipClass names the kind of address ip is: "public", or why it is not.
// Loopback and private addresses are reachable with allow_private;
// the others never are.
func ipClass(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		switch {
		case b[0] == 0:
			return "unspecified"
		case b[0] == 127:
			return "loopback"
		case b[0] == 10, b[0] == 172 && b[1]&0xf0 == 16, b[0] == 192 && b[1] == 168,
			b[0] == 100 && b[1]&0xc0 == 64: // RFC 1918, RFC 6598 shared space
			return "private"
		case b[0] == 169 && b[1] == 254:
			return "link-local"
		case b[0] >= 224 && b[0] < 240:
			return "multicast"
		case b[0] >= 240, // reserved, broadcast
			b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2), // IETF assignments, documentation
			b[0] == 198 && (b[1] == 18 || b[1] == 19),            // benchmarking
			b[0] == 198 && b[1] == 51 && b[2] == 100,
			b[0] == 203 && b[1] == 0 && b[2] == 113:
			return "reserved"
		}
		return "public"
	}
	b := ip.As16()
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case b[0]&0xfe == 0xfc, b[0] == 0xfe && b[1]&0xc0 == 0xc0: // unique local, site-local
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	case b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b: // NAT64: the IPv4 address inside
		return ipClass(netip.AddrFrom4([4]byte(b[12:16])))
	case b[0] == 0x20 && b[1] == 0x02: // 6to4: the IPv4 address inside
		return ipClass(netip.AddrFrom4([4]byte(b[2:6])))
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8, // documentation
		b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0, // Teredo
		[12]byte(b[:12]) == [12]byte{},                         // IPv4-compatible
		b[0] == 1 && [7]byte(b[1:8]) == [7]byte{}:              // discard
		return "reserved"
	}
	return "public"
}

// deniedAddr is a connection refused because of where it would go.
type deniedAddr struct {
	host  string
	ip    netip.Addr
	class string
}

func (e *deniedAddr) Error() string {
	what := e.host + " resolves to " + e.ip.String()
	if e.host == e.ip.String() {
		what = e.host + " is"
	}
	if e.class == "loopback" || e.class == "private" {
		return fmt.Sprintf("%s, a %s address: refused (grant allow_private = true to reach loopback and private addresses)", what, e.class)
	}
	return fmt.Sprintf("%s, a %s address: never reachable", what, e.class)
}

func allowedIP(ip netip.Addr, allowPrivate bool) (class string, ok bool) {
	class = ipClass(ip)
	return class, class == "public" || allowPrivate && (class == "loopback" || class == "private")
}

// httpClient is one plugin's connection pool. It is per plugin, never
// shared: a pooled connection was checked against the grant of the plugin
// that dialled it.
type httpClient struct {
	grants   *Grants
	secrets  map[string]engine.Secret
	resolver Resolver
	client   *http.Client
	ua       string
	// bodies pools request bodies' copies (*bodyBuf, httpbody.go).
	bodies sync.Pool
}

func newHTTPClient(g *Grants, secrets map[string]engine.Secret, resolver Resolver, roots *x509.CertPool, ua string) *httpClient {
	c := &httpClient{grants: g, secrets: secrets, resolver: resolver, ua: ua}
	if c.resolver == nil {
		c.resolver = net.DefaultResolver
	}
	tr := &http.Transport{
		Proxy:                  nil, // never from the environment: the host dials what it checked
		DialContext:            c.dial,
		TLSClientConfig:        &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c.client = &http.Client{
		Transport: tr,
		// Redirects are handed to the plugin, never followed: following
		// one is a new request, checked like any other, and no header
		// carrying a secret goes anywhere the plugin did not name.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

func (c *httpClient) close() { c.client.CloseIdleConnections() }

// dial resolves addr's host, checks every address it has, and connects to
// one of them: a name that resolves to any forbidden address is refused
// as a whole (DNS rebinding cannot pick the address that gets dialled).
func (c *httpClient) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port %q", port)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		if ips, err = c.resolver.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("lookup %s: no addresses", host)
		}
	}
	for _, ip := range ips {
		if class, ok := allowedIP(ip, c.grants.AllowPrivate); !ok {
			return nil, &deniedAddr{host: host, ip: ip.Unmap(), class: class}
		}
	}
	d := net.Dialer{
		Timeout: 10 * time.Second,
		// A second look at the address actually dialled.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if class, ok := allowedIP(ap.Addr(), c.grants.AllowPrivate); !ok {
				return &deniedAddr{host: host, ip: ap.Addr().Unmap(), class: class}
			}
			return nil
		},
	}
	var errs []error
	for _, ip := range ips {
		conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(ip.Unmap(), uint16(p)).String())
		if err == nil {
			return plainConn{conn}, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// reservedHeaders are the request headers a plugin may not set: the host
// frames the request and owns the connection. Authorization is allowed
// only with its value from a secret.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Proxy-Authorization": true, "Proxy-Authenticate": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true, "Upgrade": true, "Expect": true,
	"Authorization": true,
}

var httpMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// checkURL parses a request URL and finds it in the grant.
func (c *httpClient) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad URL: %v", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%s: only http and https URLs", raw)
	case u.User != nil:
		return nil, errors.New("credentials in a URL are refused: send them in a header from a granted secret")
	case u.Opaque != "" || u.Hostname() == "":
		return nil, fmt.Errorf("%s: no host", raw)
	case hasDotSegment(u.Path):
		return nil, fmt.Errorf("%s: the path has \".\" or \"..\" segments", raw)
	}
	u.Fragment, u.RawFragment = "", ""
	for _, a := range c.grants.HTTP {
		if a.Match(u) {
			return u, nil
		}
	}
	show := make([]string, len(c.grants.HTTP))
	for i, a := range c.grants.HTTP {
		show[i] = a.String()
	}
	if why := ambiguousPath(u.EscapedPath()); why != "" {
		return nil, fmt.Errorf("%s://%s%s is not granted: the path has %s, which servers read in different ways, so it matches no granted path prefix (grants.http: %s; grant the host without a path to send it)", u.Scheme, u.Host, u.EscapedPath(), why, strings.Join(show, ", "))
	}
	return nil, fmt.Errorf("%s://%s%s is not granted (grants.http: %s)", u.Scheme, u.Host, u.EscapedPath(), strings.Join(show, ", "))
}

// do performs q. Its errors carry the errno to return: ErrnoDenied for
// what the grant refuses, ErrnoLimit, ErrnoInvalid, or ErrnoRemote for a
// failure retrying may cure.
func (c *httpClient) do(ctx context.Context, q *wire.HTTPRequest) (*wire.HTTPResponse, wire.Errno, error) {
	if !slices.Contains(httpMethods, q.Method) {
		return nil, wire.ErrnoInvalid, fmt.Errorf("method %q: want one of %s", q.Method, strings.Join(httpMethods, ", "))
	}
	u, err := c.checkURL(q.URL)
	if err != nil {
		return nil, wire.ErrnoDenied, err
	}
	if len(q.Body) > MaxHTTPRequestBody {
		return nil, wire.ErrnoLimit, fmt.Errorf("request body of %d bytes exceeds %d", len(q.Body), MaxHTTPRequestBody)
	}
	if len(q.Header) > maxHTTPHeaders {
		return nil, wire.ErrnoLimit, fmt.Errorf("%d headers exceed %d", len(q.Header), maxHTTPHeaders)
	}
	timeout := DefaultHTTPTimeout
	if q.TimeoutMS > 0 {
		timeout = min(time.Duration(q.TimeoutMS)*time.Millisecond, MaxHTTPTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, q.Method, u.String(), http.NoBody)
	if err != nil {
		return nil, wire.ErrnoInvalid, err
	}
	if len(q.Body) > 0 {
		// A pooled copy (httpbody.go): the transport may still read
		// the body after Do returns.
		bb := c.copyBody(q.Body)
		defer bb.release()
		req.Body, req.ContentLength = bb.newBody(), int64(len(bb.b))
		req.GetBody = func() (io.ReadCloser, error) { return bb.newBody(), nil }
	}
	req.Header.Set("User-Agent", c.ua)
	for _, h := range q.Header {
		name := http.CanonicalHeaderKey(h.Name)
		if !validHeaderName(name) {
			return nil, wire.ErrnoInvalid, fmt.Errorf("header name %q is not a valid token", h.Name)
		}
		if reservedHeaders[name] && !(name == "Authorization" && h.Secret != "") {
			if name == "Authorization" {
				return nil, wire.ErrnoDenied, errors.New("header Authorization may only come from a secret (name it in the header's secret)")
			}
			return nil, wire.ErrnoDenied, fmt.Errorf("header %s is set by the host", name)
		}
		value := h.Value
		if h.Secret != "" {
			if !slices.Contains(c.grants.Secrets, h.Secret) {
				return nil, wire.ErrnoDenied, fmt.Errorf("header %s: secret %q is not granted (add it to grants.secrets)", name, h.Secret)
			}
			s, ok := c.secrets[h.Secret]
			if !ok {
				return nil, wire.ErrnoDenied, fmt.Errorf("header %s: no secret %q in [secrets]", name, h.Secret)
			}
			value += s.Reveal()
			if !validHeaderValue(value) {
				// Never echo a secret.
				return nil, wire.ErrnoInvalid, fmt.Errorf("header %s: the value with secret %q has control characters", name, h.Secret)
			}
		} else if !validHeaderValue(value) {
			return nil, wire.ErrnoInvalid, fmt.Errorf("header %s: value has control characters", name)
		}
		if name == "User-Agent" {
			req.Header.Set(name, value)
			continue
		}
		req.Header.Add(name, value)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		var d *deniedAddr
		if errors.As(err, &d) {
			return nil, wire.ErrnoDenied, d
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() == context.DeadlineExceeded {
			return nil, wire.ErrnoRemote, fmt.Errorf("%s %s: timeout after %s", q.Method, u.Redacted(), timeout)
		}
		return nil, wire.ErrnoRemote, fmt.Errorf("%s %s: %v", q.Method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxHTTPResponseBody+1))
	if err != nil {
		return nil, wire.ErrnoRemote, fmt.Errorf("%s %s: read response: %v", q.Method, u.Redacted(), err)
	}
	r := &wire.HTTPResponse{Status: uint16(resp.StatusCode)}
	if len(body) > MaxHTTPResponseBody {
		body, r.Truncated = body[:MaxHTTPResponseBody], true
	}
	r.Body = body
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range resp.Header[k] {
			r.Header = append(r.Header, wire.HTTPHeader{Name: k, Value: v})
		}
	}
	return r, 0, nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func (c *caps) httpRequest(ctx context.Context, m api.Module, stack []uint64) {
	stack[0] = uint64(c.doHTTPRequest(ctx, m, uint32(stack[0]), uint32(stack[1])))
}

func (c *caps) doHTTPRequest(ctx context.Context, m api.Module, ptr, n uint32) int64 {
	c.httpResp = c.httpResp[:0]
	if c.http == nil {
		return c.fail(wire.ErrnoDenied, "http is not granted: add %s", grantHint(wire.CapHTTP))
	}
	if n > maxHTTPMessage {
		return c.fail(wire.ErrnoLimit, "http: request message of %d bytes exceeds %d", n, maxHTTPMessage)
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "http: request out of bounds")
	}
	q, err := wire.ParseHTTPRequest(b)
	if err != nil {
		return c.fail(wire.ErrnoInvalid, "http: malformed request message %v", err)
	}
	r, rc := c.httpDo(ctx, &q)
	if r == nil {
		return rc
	}
	c.httpResp = wire.AppendHTTPResponse(c.httpResp, r)
	return int64(len(c.httpResp))
}

// httpDo is http_request of q on the host's memory: the response, or nil
// and the errno.
func (c *caps) httpDo(ctx context.Context, q *wire.HTTPRequest) (*wire.HTTPResponse, int64) {
	if c.http == nil {
		return nil, c.fail(wire.ErrnoDenied, "http is not granted: add %s", grantHint(wire.CapHTTP))
	}
	r, errno, err := c.http.do(ctx, q)
	if err != nil {
		return nil, c.fail(errno, "http: %v", err)
	}
	return r, 0
}

func (c *caps) httpResponse(_ context.Context, m api.Module, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	out := c.httpResp
	if len(out) > int(n) {
		out = out[:n]
	}
	if !m.Memory().Write(ptr, out) {
		ret32(stack, c.fail(wire.ErrnoInvalid, "http: response buffer out of bounds"))
		return
	}
	ret32(stack, int64(len(c.httpResp)))
}
