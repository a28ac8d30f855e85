//go:build !wasip1

package nats

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

// FakeServer stands in for a JetStream server outside Wasm: streams with
// subjects (wildcards included), message IDs stored once (for ever: the
// fake has no duplicates window), and the last message of a subject. It
// is safe for concurrent use.
type FakeServer struct {
	mu      sync.Mutex
	streams map[string]*fakeStream
	// down makes every publish fail as an unreachable server would.
	down bool
}

type fakeStream struct {
	cfg  Stream
	msgs []Stored
	ids  map[string]uint64
}

var (
	fakesMu sync.Mutex
	fakes   = map[string]*FakeServer{}
)

// Fake returns the fake server of target, making it on first use: a
// target a test never asked for is not granted. Streams must exist (made
// with AddStream or EnsureStream) before a publish can store a message.
func Fake(target string) *FakeServer {
	fakesMu.Lock()
	defer fakesMu.Unlock()
	f, ok := fakes[target]
	if !ok {
		f = &FakeServer{streams: map[string]*fakeStream{}}
		fakes[target] = f
	}
	return f
}

// ResetFakes forgets every fake server.
func ResetFakes() {
	fakesMu.Lock()
	defer fakesMu.Unlock()
	clear(fakes)
}

func fakeOf(op, target string) (*FakeServer, error) {
	fakesMu.Lock()
	defer fakesMu.Unlock()
	f, ok := fakes[target]
	if !ok {
		return nil, host.Err(op, wire.ErrnoDenied, "target "+target+" is not granted (call nats.Fake(\""+target+"\") in the test)")
	}
	return f, nil
}

// AddStream creates a stream (replacing one of the same name).
func (f *FakeServer) AddStream(s Stream) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams[s.Name] = &fakeStream{cfg: s, ids: map[string]uint64{}}
}

// SetDown makes the server unreachable (every publish fails with
// ErrRemote) or reachable again.
func (f *FakeServer) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// Messages returns a copy of what stream holds, in order.
func (f *FakeServer) Messages(stream string) []Stored {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.streams[stream]
	if !ok {
		return nil
	}
	return slices.Clone(s.msgs)
}

// Streams lists the streams' names, sorted.
func (f *FakeServer) Streams() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.streams))
}

// subjectMatch reports whether subject lies under pattern (* one token,
// > the rest).
func subjectMatch(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || tok != "*" && tok != s[i] {
			return false
		}
	}
	return len(p) == len(s)
}

func (f *FakeServer) streamOf(subject string) *fakeStream {
	for _, name := range slices.Sorted(maps.Keys(f.streams)) {
		s := f.streams[name]
		for _, p := range s.cfg.Subjects {
			if subjectMatch(p, subject) {
				return s
			}
		}
	}
	return nil
}

func publish(q *wire.NATSPublish) ([]wire.NATSAck, error) {
	f, err := fakeOf("nats: publish to "+q.Target, q.Target)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	acks := make([]wire.NATSAck, len(q.Msgs))
	for i, m := range q.Msgs {
		s := f.streamOf(m.Subject)
		switch {
		case f.down:
			acks[i] = wire.NATSAck{Errno: wire.ErrnoRemote, Error: "nats: connection closed (fake server down)"}
		case s == nil:
			acks[i] = wire.NATSAck{Errno: wire.ErrnoRemote, Error: "nats: no responders available for request (no stream stores this subject)"}
		case q.Stream != "" && s.cfg.Name != q.Stream:
			acks[i] = wire.NATSAck{Errno: wire.ErrnoInvalid, Error: "expected stream does not match"}
		case m.MsgID != "" && s.ids[m.MsgID] != 0:
			acks[i] = wire.NATSAck{Stream: s.cfg.Name, Seq: s.ids[m.MsgID], Duplicate: true}
		default:
			st := Stored{Subject: m.Subject, Seq: uint64(len(s.msgs) + 1), Time: time.Now(), Data: append([]byte(nil), m.Data...)}
			if m.MsgID != "" {
				st.Header = append(st.Header, Header{Name: "Nats-Msg-Id", Value: m.MsgID})
				s.ids[m.MsgID] = st.Seq
			}
			for _, h := range m.Header {
				st.Header = append(st.Header, Header{Name: h.Name, Value: h.Value})
			}
			s.msgs = append(s.msgs, st)
			acks[i] = wire.NATSAck{Stream: s.cfg.Name, Seq: st.Seq}
		}
	}
	return acks, nil
}

func last(q *wire.NATSLast) (*wire.NATSStored, error) {
	op := "nats: last of " + q.Subject
	f, err := fakeOf(op, q.Target)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var s *fakeStream
	if q.Stream != "" {
		s = f.streams[q.Stream]
	} else {
		s = f.streamOf(q.Subject)
	}
	if s == nil {
		return nil, host.Err(op, wire.ErrnoNotFound, "no such stream")
	}
	for i := len(s.msgs) - 1; i >= 0; i-- {
		m := &s.msgs[i]
		if m.Subject != q.Subject {
			continue
		}
		out := &wire.NATSStored{Seq: m.Seq, TimeNS: m.Time.UnixNano(), Subject: m.Subject, Data: slices.Clone(m.Data)}
		for _, h := range m.Header {
			out.Header = append(out.Header, wire.NATSHeader{Name: h.Name, Value: h.Value})
		}
		return out, nil
	}
	return nil, host.Err(op, wire.ErrnoNotFound, "no message on "+q.Subject)
}

func ensureStream(q *wire.NATSStream) error {
	f, err := fakeOf("nats: stream "+q.Name, q.Target)
	if err != nil {
		return err
	}
	f.mu.Lock()
	_, ok := f.streams[q.Name]
	f.mu.Unlock()
	if !ok {
		f.AddStream(Stream{Name: q.Name, Subjects: slices.Clone(q.Subjects), Duplicates: time.Duration(q.DuplicatesMS) * time.Millisecond})
	}
	return nil
}
