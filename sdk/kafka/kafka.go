// Package kafka is the kafka capability: records produced to the Kafka
// clusters the plugin's grant names (grants = { kafka = ["events"] }, each
// a [targets.NAME] table of kind "kafka" in puma.toml), and read back.
// Importing it makes the module need the grant.
//
// The host owns the clients: the brokers, TLS, SASL credentials and
// compression are the target's settings, which the plugin never sees.
// Every record is acknowledged by all in-sync replicas, through an
// idempotent producer, and goes to the partition its key hashes to (as
// Kafka's own clients place it) unless it names one: records with the same
// key keep their order.
//
// A transaction (Begin, Produce…, Commit or Abort) makes records visible
// to read_committed consumers all at once or not at all. Its
// transactional.id is the plugin's own, "puma-<task>-<plugin>": a new
// instance, even in a new process after a crash, fences the old one and
// aborts what it left open.
//
// Outside Wasm (in unit tests) the calls go to the in-memory cluster that
// sdktest.Kafka sets up.
package kafka

import (
	"errors"
	"fmt"
	"time"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Errors a call or a record may wrap (test with errors.Is).
var (
	// ErrDenied: the target is not granted, or the cluster refused
	// authorization. Retrying will not help.
	ErrDenied error = wire.ErrnoDenied
	// ErrRemote: the cluster failed or timed out; retrying later may help.
	ErrRemote error = wire.ErrnoRemote
	// ErrLimit: the call or a record is too large.
	ErrLimit error = wire.ErrnoLimit
	// ErrInvalid: a malformed call, or a transaction operation out of
	// turn (Commit with none open).
	ErrInvalid error = wire.ErrnoInvalid
)

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is a record to produce.
type Record struct {
	Topic string
	// Key is nil for a record without a key (not the same as empty);
	// Value is nil for a tombstone.
	Key, Value []byte
	Headers    []Header
	// Partition is where the record goes when Manual is set; otherwise
	// the key chooses it.
	Partition int32
	Manual    bool
}

// Result is how one produced record fared: where it was written, or its
// error.
type Result struct {
	Partition int32
	Offset    int64
	Err       error
}

// Found is the record Last found.
type Found struct {
	Key, Value []byte
	Headers    []Header
	Partition  int32
	Offset     int64
}

// Client reaches one target. Its zero Timeout means the target's
// request_timeout; the plugin's timeout bounds every call too.
type Client struct {
	target  string
	Timeout time.Duration
}

// Target returns a client of the target named name in puma.toml.
func Target(name string) *Client { return &Client{target: name} }

// Name returns the target's name.
func (c *Client) Name() string { return c.target }

func (c *Client) timeoutMS() uint32 {
	if c.Timeout <= 0 {
		return 0
	}
	return uint32(max(1, min(c.Timeout, time.Hour)/time.Millisecond))
}

// RecordError is a Produce that left some records unwritten.
type RecordError struct {
	Target string
	Failed int // records that failed
	Total  int
	// First is the first failure, at Index.
	Index int
	First error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("kafka: %s: %d of %d records failed; record %d: %v", e.Target, e.Failed, e.Total, e.Index, e.First)
}

func (e *RecordError) Unwrap() error { return e.First }

// Produce sends recs and returns once every one of them is acknowledged
// or failed, with a Result per record in order. The error is nil when all
// were written, a *RecordError when some failed, or the call's own.
func (c *Client) Produce(recs ...Record) ([]Result, error) {
	p := wire.KafkaProduce{Target: c.target, TimeoutMS: c.timeoutMS(), Records: make([]wire.KafkaRecord, len(recs))}
	for i, r := range recs {
		w := wire.KafkaRecord{Topic: r.Topic, Key: r.Key, Value: r.Value, Partition: r.Partition, HasPartition: r.Manual}
		for _, h := range r.Headers {
			w.Headers = append(w.Headers, wire.KafkaHeader{Key: h.Key, Value: h.Value})
		}
		p.Records[i] = w
	}
	res, err := produce(&p)
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(res))
	var re *RecordError
	for i, x := range res {
		out[i] = Result{Partition: x.Partition, Offset: x.Offset}
		if x.Errno == 0 {
			continue
		}
		out[i].Err = &hostError{op: "kafka: record " + fmt.Sprint(i), errno: x.Errno, msg: x.Err}
		if re == nil {
			re = &RecordError{Target: c.target, Total: len(res), Index: i, First: out[i].Err}
		}
		re.Failed++
	}
	if re != nil {
		return out, re
	}
	return out, nil
}

// Begin opens a transaction on the target: records produced until Commit
// or Abort belong to it.
func (c *Client) Begin() error { return txn(c.target, wire.KafkaBegin) }

// Commit makes the transaction's records visible. It fails, aborting the
// transaction, if any of its records failed.
func (c *Client) Commit() error { return txn(c.target, wire.KafkaCommit) }

// Abort drops the transaction's records.
func (c *Client) Abort() error { return txn(c.target, wire.KafkaAbort) }

// Last returns the last committed record with key in topic, from the
// partition the key hashes to (so it finds a record produced by key, not
// one sent to a chosen partition): in a compacted topic, the key's
// current value. ok is false when there is none, or no such topic.
func (c *Client) Last(topic string, key []byte) (f Found, ok bool, err error) {
	if len(key) == 0 {
		return f, false, errors.New("kafka: Last needs a key")
	}
	r, ok, err := last(&wire.KafkaLast{Target: c.target, TimeoutMS: c.timeoutMS(), Topic: topic, Key: key})
	if err != nil || !ok {
		return f, false, err
	}
	f = Found{Key: r.Key, Value: r.Value, Partition: r.Partition, Offset: r.Offset}
	for _, h := range r.Headers {
		f.Headers = append(f.Headers, Header(h))
	}
	return f, true, nil
}

// hostError is a record's failure as the host reported it.
type hostError struct {
	op    string
	errno wire.Errno
	msg   string
}

func (e *hostError) Error() string { return e.op + ": " + e.msg }
func (e *hostError) Unwrap() error { return e.errno }
