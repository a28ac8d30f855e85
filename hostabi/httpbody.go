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

// plainConn hides the connection's io.ReaderFrom. Writing a request body,
// net/http's buffered writer hands the body to the connection's ReadFrom
// when it holds nothing, and for a body that is neither a file nor a
// socket the connection falls back to io.Copy with a fresh buffer the
// size of the body, per request; without it the writer copies through its
// own buffer.
type plainConn struct{ net.Conn }
