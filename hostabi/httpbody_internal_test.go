package hostabi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pumacdc/puma/hostabi/wire"
)

// fillServer answers 204 to a POST whose body is X-Len bytes, each X-Fill,
// and 400 otherwise: a body read after its buffer went back to the pool,
// and was refilled for another request, shows. It reads bodies through
// one buffer, so that it allocates little itself.
func fillServer(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	buf := make([]byte, 64<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fill, _ := strconv.Atoi(r.Header.Get("X-Fill"))
		want, _ := strconv.Atoi(r.Header.Get("X-Len"))
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for {
			m, err := r.Body.Read(buf)
			for _, b := range buf[:m] {
				if b != byte(fill) {
					http.Error(w, "body corrupted", http.StatusBadRequest)
					return
				}
			}
			n += m
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		if n != want {
			http.Error(w, fmt.Sprintf("%d bytes, want %d", n, want), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func fillClient(t *testing.T, srv *httptest.Server) *httpClient {
	a, err := ParseHTTPAllow(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := newHTTPClient(&Grants{HTTP: []HTTPAllow{a}, AllowPrivate: true}, nil, nil, nil, "puma-test")
	t.Cleanup(c.close)
	return c
}

func postFill(c *httpClient, url string, body []byte, fill byte) error {
	for i := range body {
		body[i] = fill
	}
	q := &wire.HTTPRequest{Method: "POST", URL: url, Body: body, Header: []wire.HTTPHeader{
		{Name: "X-Fill", Value: strconv.Itoa(int(fill))}, {Name: "X-Len", Value: strconv.Itoa(len(body))},
	}}
	r, _, err := c.do(context.Background(), q)
	if err != nil {
		return err
	}
	if r.Status != http.StatusNoContent {
		return fmt.Errorf("status %d: %s", r.Status, bytes.TrimSpace(r.Body))
	}
	return nil
}

// TestHTTPRequestBodyPooled holds the http capability to reusing its
// copies of request bodies: after a few requests, posting a 256 KiB body
// allocates far less than the body (it was a copy of the body plus a
// buffer as large for writing it, per request), and every body arrives
// whole.
func TestHTTPRequestBodyPooled(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	srv := fillServer(t)
	c := fillClient(t, srv)
	body := make([]byte, 256<<10)
	for i := range 3 {
		if err := postFill(c, srv.URL, body, byte(i)); err != nil {
			t.Fatal(err)
		}
	}
	const n = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		if err := postFill(c, srv.URL, body, byte(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perRequest := (after.TotalAlloc - before.TotalAlloc) / n
	t.Logf("%d bytes allocated per request of %d bytes (client and server)", perRequest, len(body))
	if perRequest > uint64(len(body))/4 {
		t.Errorf("%d bytes allocated per request of a %d-byte body, want under a quarter of it", perRequest, len(body))
	}
}

// TestHTTPRequestBodyConcurrent posts from several goroutines at once
// through one client (instances of a plugin share it): no body may see
// another's bytes. Run it with -race.
func TestHTTPRequestBodyConcurrent(t *testing.T) {
	srv := fillServer(t)
	c := fillClient(t, srv)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			body := make([]byte, (g+1)*7000)
			for i := range 25 {
				if err := postFill(c, srv.URL, body, byte(g*25+i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRequestBodyAfterClose checks the body's contract with the
// transport: reads after Close fail, a GetBody copy reads from the start,
// and the buffer goes back to the pool only when the last reader closed
// and the request released it.
func TestRequestBodyAfterClose(t *testing.T) {
	c := &httpClient{}
	bb := c.copyBody([]byte("hello"))
	r1, r2 := bb.newBody(), bb.newBody()
	p := make([]byte, 3)
	if n, err := r1.Read(p); n != 3 || err != nil || string(p) != "hel" {
		t.Fatalf("read %d %q %v", n, p[:n], err)
	}
	r1.Close()
	r1.Close() // twice is harmless
	if _, err := r1.Read(p); err != http.ErrBodyReadAfterClose {
		t.Errorf("read after close: %v", err)
	}
	if got, err := io.ReadAll(r2); string(got) != "hello" || err != nil {
		t.Errorf("second body read %q, %v", got, err)
	}
	bb.release() // the request's own reference
	if bb.refs.Load() != 1 {
		t.Fatalf("%d references with one body open, want 1", bb.refs.Load())
	}
	r2.Close()
	if bb.refs.Load() != 0 {
		t.Fatalf("%d references after all closed", bb.refs.Load())
	}
}

// countConn counts the writes to a connection.
type countConn struct {
	net.Conn
	writes *atomic.Int32
}

func (c countConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestHTTPRequestBodyOneWrite holds the transport to writing a large body
// in few writes: net/http hands the body to the connection's ReadFrom,
// which writes the pooled copy in one Write (it was a write per 32 KiB).
func TestHTTPRequestBodyOneWrite(t *testing.T) {
	srv := fillServer(t)
	c := fillClient(t, srv)
	var writes atomic.Int32
	tr := c.client.Transport.(*http.Transport)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return plainConn{countConn{conn.(plainConn).Conn, &writes}}, nil
	}
	body := make([]byte, 1<<20)
	for i := range 3 {
		writes.Store(0)
		if err := postFill(c, srv.URL, body, byte(i)); err != nil {
			t.Fatal(err)
		}
		// The headers, then the start of the body in the buffered
		// writer's buffer, then the rest.
		if n := writes.Load(); n > 3 {
			t.Errorf("request %d: %d writes for a body of %d bytes, want at most 3", i, n, len(body))
		}
	}
}

// TestRequestBodyReadFrom checks plainConn's ReadFrom: a body of ours,
// alone or under the transport's io.LimitedReader, is written in one
// Write up to the limit, and the rest can still be read.
func TestRequestBodyReadFrom(t *testing.T) {
	c := &httpClient{}
	bb := c.copyBody([]byte("hello, world"))
	defer bb.release()
	var out bytes.Buffer
	var writes atomic.Int32
	conn := plainConn{countConn{Conn: &bufConn{&out}, writes: &writes}}
	body := bb.newBody()
	lr := &io.LimitedReader{R: body, N: 5}
	if n, err := conn.ReadFrom(lr); n != 5 || err != nil || out.String() != "hello" || lr.N != 0 || writes.Load() != 1 {
		t.Errorf("limited: %d %v, wrote %q in %d writes, %d left", n, err, out.String(), writes.Load(), lr.N)
	}
	if n, err := conn.ReadFrom(body); n != 7 || err != nil || out.String() != "hello, world" || writes.Load() != 2 {
		t.Errorf("rest: %d %v, wrote %q in %d writes", n, err, out.String(), writes.Load())
	}
	if n, err := conn.ReadFrom(body); n != 0 || err != nil {
		t.Errorf("at the end: %d %v", n, err)
	}
	body.Close()
	if _, err := conn.ReadFrom(body); err != http.ErrBodyReadAfterClose {
		t.Errorf("after close: %v", err)
	}
	out.Reset()
	if n, err := conn.ReadFrom(strings.NewReader("other")); n != 5 || err != nil || out.String() != "other" {
		t.Errorf("another reader: %d %v %q", n, err, out.String())
	}
}

// bufConn is a net.Conn writing to a buffer.
type bufConn struct{ w io.Writer }

func (c *bufConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *bufConn) Write(p []byte) (int, error)      { return c.w.Write(p) }
func (c *bufConn) Close() error                     { return nil }
func (c *bufConn) LocalAddr() net.Addr              { return nil }
func (c *bufConn) RemoteAddr() net.Addr             { return nil }
func (c *bufConn) SetDeadline(time.Time) error      { return nil }
func (c *bufConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bufConn) SetWriteDeadline(time.Time) error { return nil }
