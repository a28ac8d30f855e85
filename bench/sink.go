package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// httpSink is the HTTP server a variant's builtin:http sender posts to. The
// harness runs one for each run of such a variant, in its own process, so
// that neither its CPU nor its memory is counted as the variant's (a real
// receiver runs elsewhere too). It listens on a free loopback port, answers
// 204 at once, and counts the envelopes of the NDJSON bodies it receives
// (one a line), each request once: a request sent again with the same
// Idempotency-Key is counted in resent, not in rows. It reads each body
// into a reused buffer of its length, as a receiver built for throughput
// would.
type httpSink struct {
	ln  net.Listener
	srv *http.Server

	mu       sync.Mutex
	rows     uint64
	requests uint64
	resent   uint64
	keys     map[string]struct{}
	first    []byte // the first body that carried rows
	err      error  // the first request refused
}

func newHTTPSink() (*httpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &httpSink{ln: ln, keys: map[string]struct{}{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// URL is where to post.
func (s *httpSink) URL() string { return "http://" + s.ln.Addr().String() + "/puma" }

// bodies holds the buffers the sink reads bodies into.
var bodies = sync.Pool{New: func() any { return new([]byte) }}

// readBody reads r's body into a pooled buffer of its Content-Length
// (put it back with bodies.Put when done with the body). io.ReadAll
// grows its buffer from 512 bytes by copying: 2–3 ms of the receiver's
// CPU for each MiB, which on two cores slowed the sender it answers.
func readBody(r *http.Request) ([]byte, *[]byte, error) {
	bp := bodies.Get().(*[]byte)
	if r.ContentLength < 0 || r.ContentLength > 64<<20 {
		b, err := io.ReadAll(r.Body)
		return b, bp, err
	}
	if int64(cap(*bp)) < r.ContentLength {
		*bp = make([]byte, r.ContentLength)
	}
	b := (*bp)[:r.ContentLength]
	if _, err := io.ReadFull(r.Body, b); err != nil {
		return nil, bp, err
	}
	return b, bp, nil
}

func (s *httpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, bp, err := readBody(r)
	defer bodies.Put(bp)
	if err == nil && r.Method != http.MethodPost {
		err = errors.New("sink: method " + r.Method + ", want POST")
	}
	if err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
		// Not a retryable status: the sender fails the run.
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n := uint64(bytes.Count(body, []byte{'\n'}))
	key := r.Header.Get("Idempotency-Key")
	s.mu.Lock()
	s.requests++
	if _, seen := s.keys[key]; seen && key != "" {
		s.resent++
	} else {
		s.keys[key] = struct{}{}
		s.rows += n
		if s.first == nil && n > 0 {
			s.first = bytes.Clone(body)
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// sinkCounts is what a sink received.
type sinkCounts struct {
	Rows, Requests, Resent uint64
	// First is the first body that carried rows.
	First []byte
	// Err is the first request the sink refused.
	Err error
}

func (s *httpSink) counts() sinkCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sinkCounts{Rows: s.rows, Requests: s.requests, Resent: s.resent, First: s.first, Err: s.err}
}

// Close stops the server; requests under way finish first.
func (s *httpSink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
