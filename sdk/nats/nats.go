// Package nats is the nats capability: publishing to NATS JetStream
// through the [targets] tables of kind "nats" the plugin is granted
// (grants = { nats = ["events"] }), and reading back the last message of
// a subject. Importing it makes the module need the grant.
//
// The host owns the connection, one per plugin and target, and the
// credentials (the plugin never sees them). Publish sends a batch of
// messages asynchronously and waits for every acknowledgement, so a call
// costs one round trip however many messages it carries; each message
// gets its own result. A message with a MsgID is stored once per ID
// within the stream's duplicates window (2 minutes unless the stream says
// otherwise): sending a batch again after a failure does not duplicate
// what was already stored.
//
// An exactly-once sender stores its position token on a subject of its
// own after each call's data is acknowledged, and reads it back in Init
// with Last (see builtin:nats and sdk.ReportApplied).
//
// Outside Wasm (in unit tests) the calls go to in-process fake servers,
// one per target, that Fake returns.
package nats

import (
	"time"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Errors a call may wrap (test with errors.Is).
var (
	// ErrDenied: the target is not granted.
	ErrDenied error = wire.ErrnoDenied
	// ErrInvalid: a bad subject, header or stream name, or a message
	// the stream refused for what it is (retrying will not help).
	ErrInvalid error = wire.ErrnoInvalid
	// ErrLimit: too many messages or bytes, or a message larger than
	// the server's max_payload.
	ErrLimit error = wire.ErrnoLimit
	// ErrRemote: the server is unreachable, did not acknowledge in time,
	// or no stream stores the subject. Retrying later may help.
	ErrRemote error = wire.ErrnoRemote
	// ErrNotFound: Last found no such stream or message.
	ErrNotFound error = wire.ErrnoNotFound
)

// Limits of one host call; Publish splits larger batches over several
// calls.
const (
	MaxCallMessages = 10000
	MaxCallBytes    = 16 << 20
)

// Header is a message header; a name may repeat.
type Header struct{ Name, Value string }

// Msg is a message to publish.
type Msg struct {
	Subject string
	// MsgID, when set, is sent as Nats-Msg-Id: the stream stores one
	// message per ID within its duplicates window.
	MsgID  string
	Header []Header
	Data   []byte
}

// Ack is the result of publishing one message.
type Ack struct {
	Stream string
	Seq    uint64
	// Duplicate is set when the stream already held a message with the
	// same MsgID (and did not store this one again).
	Duplicate bool
	// Err is nil when the stream stored the message (or held it).
	Err error
}

// Options of a Publish call.
type Options struct {
	// Stream, when set, is the stream every message must be stored by:
	// a message another stream (or none) would store fails instead.
	Stream string
	// Timeout bounds each host call (0: the target's publish_timeout; at
	// most 5 minutes). The plugin's timeout bounds it too.
	Timeout time.Duration
}

// Publish publishes msgs to target and waits for all their
// acknowledgements. It returns one Ack per message, in order; err is set
// only when a call failed as a whole (a denied target, a malformed
// request), and then acks holds the results of the calls made before.
// Messages from one sender are stored in the order given.
func Publish(target string, msgs []Msg, o Options) ([]Ack, error) {
	acks := make([]Ack, 0, len(msgs))
	q := wire.NATSPublish{Target: target, Stream: o.Stream, TimeoutMS: timeoutMS(o.Timeout)}
	var hdrs []wire.NATSHeader // the call's headers, in one array
	for start := 0; start < len(msgs); {
		end, size, nh := start, 0, 0
		for end < len(msgs) && end-start < MaxCallMessages {
			m := &msgs[end]
			n := 16 + len(m.Subject) + len(m.MsgID) + len(m.Data)
			for _, h := range m.Header {
				n += 8 + len(h.Name) + len(h.Value)
			}
			if end > start && size+n > MaxCallBytes {
				break
			}
			size += n
			nh += len(m.Header)
			end++
		}
		if cap(q.Msgs) < end-start {
			q.Msgs = make([]wire.NATSMsg, 0, end-start)
		}
		if cap(hdrs) < nh {
			hdrs = make([]wire.NATSHeader, 0, nh)
		}
		q.Msgs, hdrs = q.Msgs[:0], hdrs[:0]
		for i := start; i < end; i++ {
			m := &msgs[i]
			wm := wire.NATSMsg{Subject: m.Subject, MsgID: m.MsgID, Data: m.Data}
			if len(m.Header) > 0 {
				h := len(hdrs)
				for _, x := range m.Header {
					hdrs = append(hdrs, wire.NATSHeader{Name: x.Name, Value: x.Value})
				}
				wm.Header = hdrs[h:len(hdrs):len(hdrs)]
			}
			q.Msgs = append(q.Msgs, wm)
		}
		got, err := publish(&q)
		if err != nil {
			return acks, err
		}
		for i, a := range got {
			ack := Ack{Stream: a.Stream, Seq: a.Seq, Duplicate: a.Duplicate}
			if a.Errno != 0 {
				ack.Err = ackError(msgs[start+i].Subject, a)
			}
			acks = append(acks, ack)
		}
		start = end
	}
	return acks, nil
}

// FirstError returns the first failed Ack's error, nil when every
// message was stored.
func FirstError(acks []Ack) error {
	for _, a := range acks {
		if a.Err != nil {
			return a.Err
		}
	}
	return nil
}

// Stored is a message read back from a stream.
type Stored struct {
	Subject string
	Seq     uint64
	Time    time.Time
	Header  []Header
	Data    []byte
}

// Get returns the first value of the named header ("" when none).
func (s *Stored) Get(name string) string {
	for _, h := range s.Header {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// Last returns the last message stream holds on subject (stream "" finds
// the stream storing subject). It fails with ErrNotFound when there is
// no such stream or message.
func Last(target, stream, subject string) (*Stored, error) {
	m, err := last(&wire.NATSLast{Target: target, Stream: stream, Subject: subject})
	if err != nil {
		return nil, err
	}
	s := &Stored{Subject: m.Subject, Seq: m.Seq, Time: time.Unix(0, m.TimeNS), Data: m.Data}
	for _, h := range m.Header {
		s.Header = append(s.Header, Header{Name: h.Name, Value: h.Value})
	}
	return s, nil
}

// Stream describes a stream for EnsureStream.
type Stream struct {
	Name     string
	Subjects []string // may hold wildcards: puma.*.*, puma.>
	// Duplicates is the window within which a MsgID is stored once (0:
	// the server's default, 2 minutes).
	Duplicates time.Duration
}

// EnsureStream creates the stream on target unless a stream of that name
// exists (an existing stream is left unchanged, whatever its subjects).
func EnsureStream(target string, s Stream) error {
	return ensureStream(&wire.NATSStream{Target: target, Name: s.Name, Subjects: s.Subjects,
		DuplicatesMS: uint32(min(s.Duplicates, 1<<31*time.Millisecond) / time.Millisecond)})
}

func timeoutMS(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	return uint32(max(1, min(d, time.Hour)/time.Millisecond))
}

// ackError is the error of a message the host reports failed.
func ackError(subject string, a wire.NATSAck) error {
	return &AckError{Subject: subject, Errno: a.Errno, Msg: a.Error}
}

// AckError is a message the stream did not store.
type AckError struct {
	Subject string
	Errno   wire.Errno
	Msg     string
}

func (e *AckError) Error() string { return "nats: publish to " + e.Subject + ": " + e.Msg }

func (e *AckError) Unwrap() error { return e.Errno }
