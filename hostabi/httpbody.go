package hostabi

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// A request's body is a copy of the guest's: the transport may read it,
// and close it, after Do returned (RoundTrip's contract), when the guest's
// memory is no longer ours to read. The copies are pooled per client: a
// copy goes back to the pool once Do returned and every body reading it
// (the first, and any GetBody made for a retry on a stale connection) is
// closed, so a sender posting one batch after another makes no garbage of
// its bodies.

// bodyBuf is one pooled copy of a request body.
type bodyBuf struct {
	b    []byte
	refs atomic.Int32 // Do itself, and each body not yet closed
	pool *sync.Pool
}

// release drops one reference; the last returns b to its pool.
func (bb *bodyBuf) release() {
	if bb.refs.Add(-1) == 0 {
		bb.pool.Put(bb)
	}
}

// newBody returns a reader of bb from its start, holding a reference
// until it is closed.
func (bb *bodyBuf) newBody() io.ReadCloser {
	bb.refs.Add(1)
	return &requestBody{bb: bb}
}

// requestBody reads a bodyBuf. Read and Close may come from different
// goroutines (the transport closes a body to abort a write): a read holds
// the lock while it copies, so no read touches the buffer once Close
// handed it back.
type requestBody struct {
	mu  sync.Mutex
	bb  *bodyBuf
	off int
}

func (r *requestBody) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bb == nil {
		return 0, http.ErrBodyReadAfterClose
	}
	if r.off >= len(r.bb.b) {
		return 0, io.EOF
	}
	n := copy(p, r.bb.b[r.off:])
	r.off += n
	return n, nil
}

// WriteTo writes what is left of the body to w in one Write.
func (r *requestBody) WriteTo(w io.Writer) (int64, error) { return r.writeTo(w, -1) }

// writeTo writes what is left of the body, at most limit bytes (all when
// limit is negative), to w in one Write. It holds a reference to the
// buffer, not the lock, while it writes: Close, from the transport
// aborting the request, does not wait for a write to a stalled peer, and
// the buffer cannot go back to the pool under the write.
func (r *requestBody) writeTo(w io.Writer, limit int64) (int64, error) {
	r.mu.Lock()
	bb := r.bb
	if bb == nil {
		r.mu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	}
	rest := bb.b[r.off:]
	if limit >= 0 && int64(len(rest)) > limit {
		rest = rest[:limit]
	}
	bb.refs.Add(1)
	r.mu.Unlock()
	defer bb.release()
	if len(rest) == 0 {
		return 0, nil
	}
	n, err := w.Write(rest)
	r.mu.Lock()
	r.off += n
	r.mu.Unlock()
	return int64(n), err
}

func (r *requestBody) Close() error {
	r.mu.Lock()
	bb := r.bb
	r.bb = nil
	r.mu.Unlock()
	if bb != nil {
		bb.release()
	}
	return nil
}

// copyBody returns a pooled copy of body, referenced once (by the
// caller, who releases it once Do returned).
func (c *httpClient) copyBody(body []byte) *bodyBuf {
	bb, _ := c.bodies.Get().(*bodyBuf)
	if bb == nil {
		bb = &bodyBuf{pool: &c.bodies}
	}
	bb.b = append(bb.b[:0], body...)
	bb.refs.Store(1)
	return bb
}

// plainConn is the connection the transport writes to. Writing a
// request body, net/http's buffered writer fills its 4 KiB buffer after
// the headers, then hands the rest of the body, wrapped in an
// io.LimitedReader of its Content-Length, to the connection's ReadFrom.
// net.TCPConn's would copy a body that is neither a file nor a socket
// through a fresh buffer the size of the body, per request, and io.Copy
// through one of 32 KiB, a write each; plainConn's writes a body of ours
// straight from its pooled copy, in one Write (which the runtime
// completes however many send calls the socket takes), and anything else
// with io.Copy.
type plainConn struct{ net.Conn }

func (c plainConn) ReadFrom(r io.Reader) (int64, error) {
	switch b := r.(type) {
	case *requestBody:
		return b.WriteTo(c.Conn)
	case *io.LimitedReader:
		if body, ok := b.R.(*requestBody); ok {
			n, err := body.writeTo(c.Conn, b.N)
			b.N -= n
			return n, err
		}
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
