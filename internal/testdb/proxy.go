package testdb

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a server whose connections a test can
// cut, to make the network fail under a client.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	cuts   int
	// cutOn, when set, is what a client sends that makes the proxy cut.
	cutOn []byte
	wg    sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards to target until the
// test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testdb: proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every open connection through the proxy; new connections are
// still accepted.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.cuts++
}

// CutOn makes the proxy cut, once, when a client next sends stmt: the
// statement never reaches the server and every open connection is closed,
// as by Cut. It places a failure at one step of a client's conversation,
// such as a query run while connecting, which timed cuts hit only by
// chance.
func (p *Proxy) CutOn(stmt string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutOn = []byte(stmt)
}

// Cuts returns how often the proxy cut, by Cut or CutOn.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// Conns returns how many client connections are open.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(c, s, io.Copy) })
		p.wg.Go(func() { p.pipe(s, c, p.watch) })
	}
}

func (p *Proxy) pipe(dst, src net.Conn, forward func(io.Writer, io.Reader) (int64, error)) {
	// However the copy ends (EOF, a cut, a reset), both sides close.
	_, _ = forward(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// watch copies what a client sends to the server until the client sends
// the statement CutOn waits for; then it cuts instead of forwarding it.
func (p *Proxy) watch(dst io.Writer, src io.Reader) (int64, error) {
	var n int64
	buf := make([]byte, 32<<10)
	// tail keeps the end of the previous read, for a statement split
	// between two reads.
	var tail []byte
	for {
		m, err := src.Read(buf)
		if m > 0 {
			if p.trips(&tail, buf[:m]) {
				p.Cut()
				return n, nil
			}
			w, werr := dst.Write(buf[:m])
			n += int64(w)
			if werr != nil {
				return n, werr
			}
		}
		if err != nil {
			return n, err
		}
	}
}

// trips reports whether data, read after tail, holds the statement CutOn
// waits for, and disarms it if so.
func (p *Proxy) trips(tail *[]byte, data []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cutOn == nil {
		*tail = (*tail)[:0]
		return false
	}
	seen := append(*tail, data...)
	if bytes.Contains(seen, p.cutOn) {
		p.cutOn = nil
		return true
	}
	*tail = append((*tail)[:0], seen[max(0, len(seen)-len(p.cutOn)+1):]...)
	return false
}

func (p *Proxy) close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}
