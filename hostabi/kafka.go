package hostabi

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// The kafka capability: a plugin produces records to the Kafka clusters
// its grant names ([targets.NAME] kind = "kafka"), optionally inside a
// transaction, and reads back the last record of a key (the position a
// sender stored with its data). The host owns the clients and their
// settings; the plugin sees neither brokers nor credentials.

// Limits of the kafka capability.
const (
	// MaxKafkaMessage bounds a produce message; MaxKafkaRecords the
	// records in one.
	MaxKafkaMessage = 64 << 20
	MaxKafkaRecords = 100_000
	// MaxKafkaTimeout bounds the timeout a call asks for; the target's
	// request_timeout is the default and the plugin's timeout bounds the
	// call too.
	MaxKafkaTimeout = 5 * time.Minute
	// maxKafkaScan bounds the records kafka_last reads back from the end
	// of the key's partition.
	maxKafkaScan = 1 << 20
)

func init() {
	registerTargetKind(wire.CapKafka, parseKafkaTarget)
	registerHostFuncs(
		hostFunc{wire.ImportKafkaProduce, (*caps).kafkaProduce, []api.ValueType{i32, i32}, []api.ValueType{i64}},
		hostFunc{wire.ImportKafkaTxn, (*caps).kafkaTxn, []api.ValueType{i32, i32, i32}, []api.ValueType{i32}},
		hostFunc{wire.ImportKafkaLast, (*caps).kafkaLast, []api.ValueType{i32, i32}, []api.ValueType{i64}},
		hostFunc{wire.ImportKafkaResult, (*caps).kafkaResult, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	)
}

// kafkaSettings are a [targets.NAME] table of kind "kafka".
type kafkaSettings struct {
	Brokers        []string
	ClientID       string
	Compression    string
	SASL           string // "", "plain", "scram-sha-256", "scram-sha-512"
	User           string
	Password       engine.Secret
	TLS            bool
	RequestTimeout time.Duration
}

func parseKafkaTarget(s *Settings) any {
	k := kafkaSettings{
		Brokers:        s.Strings("brokers"),
		ClientID:       s.String("client_id", "puma"),
		Compression:    s.OneOf("compression", "none", "none", "gzip", "snappy", "lz4", "zstd"),
		SASL:           s.OneOf("sasl", "", "", "plain", "scram-sha-256", "scram-sha-512"),
		User:           s.String("user", ""),
		Password:       s.Secret("password_secret"),
		TLS:            s.Bool("tls", false),
		RequestTimeout: s.Duration("request_timeout", 30*time.Second),
	}
	if len(k.Brokers) == 0 && !s.failed("brokers") {
		s.Fail("brokers", `required: the seed brokers, host:port (brokers = ["kafka1:9092"])`)
	}
	for i, b := range k.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			s.Fail(fmt.Sprintf("brokers[%d]", i), "%q: want host:port", b)
		}
	}
	switch {
	case k.SASL != "" && (k.User == "" || k.Password == ""):
		s.Fail("sasl", "%s needs user and password_secret", k.SASL)
	case k.SASL == "" && (k.User != "" || s.Has("password_secret")):
		s.Fail("sasl", `user and password_secret need sasl = "plain", "scram-sha-256" or "scram-sha-512"`)
	}
	if k.RequestTimeout > MaxKafkaTimeout {
		s.Fail("request_timeout", "%s exceeds %s", k.RequestTimeout, MaxKafkaTimeout)
	}
	return k
}

// opts are the client options every client of the target shares.
func (k kafkaSettings) opts() []kgo.Opt {
	o := []kgo.Opt{
		kgo.SeedBrokers(k.Brokers...),
		kgo.ClientID(k.ClientID),
		kgo.DialTimeout(min(10*time.Second, k.RequestTimeout)),
	}
	if k.TLS {
		o = append(o, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	switch k.SASL {
	case "plain":
		o = append(o, kgo.SASL(plain.Auth{User: k.User, Pass: k.Password.Reveal()}.AsMechanism()))
	case "scram-sha-256":
		o = append(o, kgo.SASL(scram.Auth{User: k.User, Pass: k.Password.Reveal()}.AsSha256Mechanism()))
	case "scram-sha-512":
		o = append(o, kgo.SASL(scram.Auth{User: k.User, Pass: k.Password.Reveal()}.AsSha512Mechanism()))
	}
	return o
}

// producerOpts are a producer's: acks from every in-sync replica and the
// idempotent producer (kgo's defaults, stated so that no default can
// change them), the key's partition as Kafka's own clients pick it, and
// records that fail after request_timeout rather than retry forever.
func (k kafkaSettings) producerOpts() []kgo.Opt {
	var codec kgo.CompressionCodec
	switch k.Compression {
	case "none":
		codec = kgo.NoCompression()
	case "gzip":
		codec = kgo.GzipCompression()
	case "snappy":
		codec = kgo.SnappyCompression()
	case "lz4":
		codec = kgo.Lz4Compression()
	case "zstd":
		codec = kgo.ZstdCompression()
	}
	return append(k.opts(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec),
		kgo.RecordPartitioner(keyOrManual{kgo.StickyKeyPartitioner(nil)}),
		kgo.RecordDeliveryTimeout(k.RequestTimeout),
		kgo.ProduceRequestTimeout(min(10*time.Second, k.RequestTimeout)),
		kgo.ProducerLinger(0),
		// A topic not there yet is created if the brokers allow it
		// (auto.create.topics.enable), with their defaults.
		kgo.AllowAutoTopicCreation(),
	)
}

// keyOrManual partitions a record by its key, with the hash Kafka's own
// clients use (murmur2), unless the plugin named its partition: then the
// record's context carries manualPartition.
type keyOrManual struct{ key kgo.Partitioner }

type manualPartition struct{}

func (p keyOrManual) ForTopic(t string) kgo.TopicPartitioner {
	return &keyOrManualTopic{key: p.key.ForTopic(t)}
}

type keyOrManualTopic struct{ key kgo.TopicPartitioner }

func (p *keyOrManualTopic) RequiresConsistency(r *kgo.Record) bool { return true }

func (p *keyOrManualTopic) Partition(r *kgo.Record, n int) int {
	if r.Context != nil && r.Context.Value(manualPartition{}) != nil {
		return int(r.Partition) // out of range fails the record
	}
	return p.key.Partition(r, n)
}

// OnNewBatch lets records without a key stick to a partition per batch.
func (p *keyOrManualTopic) OnNewBatch() {
	if o, ok := p.key.(kgo.TopicPartitionerOnNewBatch); ok {
		o.OnNewBatch()
	}
}

// keyPartition is the partition of n the key hashes to, as producing
// places it.
func keyPartition(topic string, key []byte, n int) int32 {
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic(topic).Partition(&kgo.Record{Key: key}, n))
}

// kafkaConn is one plugin's clients of one target: a producer, and once
// the plugin begins a transaction a transactional producer with the
// plugin's stable transactional.id, which fences (and so aborts the open
// transaction of) any earlier producer of the same plugin, such as one in
// a process killed mid-transaction.
type kafkaConn struct {
	settings kafkaSettings
	txnID    string

	mu    sync.Mutex
	prod  *kgo.Client
	txn   *kgo.Client
	inTxn bool
	// owner is the instance that began the open transaction: a later
	// instance of the plugin (after a fault) finds it left open and
	// aborts it.
	owner *caps
	// txnBad is set when a record of the open transaction failed: it can
	// only be aborted.
	txnBad bool
	// txnAcked is set when a record of the open transaction was
	// acknowledged: its commit must reach the cluster (see end).
	txnAcked bool
	// endTxns counts the EndTxn requests the transactional client wrote.
	endTxns endTxnCounter
}

// reap aborts a transaction an earlier instance of the plugin left
// open: its records must never be committed by another.
func (k *kafkaConn) reap(ctx context.Context, c *caps) error {
	if !k.inTxn || k.owner == c {
		return nil
	}
	k.inTxn, k.owner = false, nil
	return k.abort(ctx)
}

func (k *kafkaConn) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.prod != nil {
		k.prod.Close()
		k.prod = nil
	}
	if k.txn != nil {
		k.txn.Close()
		k.txn = nil
	}
	return nil
}

// producer returns the client records go through: the transactional one
// while a transaction is open.
func (k *kafkaConn) producer() (*kgo.Client, error) {
	if k.inTxn {
		return k.txn, nil
	}
	if k.prod == nil {
		cl, err := kgo.NewClient(k.settings.producerOpts()...)
		if err != nil {
			return nil, err
		}
		k.prod = cl
	}
	return k.prod, nil
}

func (c *caps) kafkaConn(target string) (*kafkaConn, wire.Errno, error) {
	if c.targets == nil || len(c.grants.Targets[wire.CapKafka]) == 0 {
		return nil, wire.ErrnoDenied, fmt.Errorf("kafka is not granted: add %s", grantHint(wire.CapKafka))
	}
	cl, err := c.targets.conn(wire.CapKafka, target, func(s any) (io.Closer, error) {
		return &kafkaConn{settings: s.(kafkaSettings), txnID: "puma-" + c.task + "-" + c.plugin}, nil
	})
	if err != nil {
		return nil, wire.ErrnoDenied, err
	}
	return cl.(*kafkaConn), 0, nil
}

// kafkaTimeout is a call's timeout: the message's, else the target's.
func kafkaTimeout(ms uint32, k *kafkaConn) time.Duration {
	if ms == 0 {
		return k.settings.RequestTimeout
	}
	return min(time.Duration(ms)*time.Millisecond, MaxKafkaTimeout)
}

func (c *caps) kafkaProduce(ctx context.Context, m api.Module, stack []uint64) {
	stack[0] = uint64(c.doKafkaProduce(ctx, m, uint32(stack[0]), uint32(stack[1])))
}

func (c *caps) doKafkaProduce(ctx context.Context, m api.Module, ptr, n uint32) int64 {
	c.kafkaOut = c.kafkaOut[:0]
	if n > MaxKafkaMessage {
		return c.fail(wire.ErrnoLimit, "kafka_produce: message of %d bytes exceeds %d", n, MaxKafkaMessage)
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "kafka_produce: message out of bounds")
	}
	p, err := wire.ParseKafkaProduce(b, MaxKafkaRecords)
	if err != nil {
		if strings.Contains(err.Error(), "records exceed") {
			return c.fail(wire.ErrnoLimit, "kafka_produce: %v", err)
		}
		return c.fail(wire.ErrnoInvalid, "kafka_produce: malformed message %v", err)
	}
	k, errno, err := c.kafkaConn(p.Target)
	if err != nil {
		return c.fail(errno, "kafka_produce: %v", err)
	}
	for i := range p.Records {
		if p.Records[i].Topic == "" {
			return c.fail(wire.ErrnoInvalid, "kafka_produce: target %s: record %d has no topic", p.Target, i)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout(p.TimeoutMS, k))
	defer cancel()
	res, err := k.produce(ctx, c, p.Records)
	switch {
	case errors.Is(err, errKafkaStuck):
		// The results say which records failed; the client, holding
		// records it could not deliver, is replaced (a transactional one
		// is fenced by the next, which aborts what it left open).
		c.targets.drop(wire.CapKafka, p.Target)
	case err != nil:
		c.targets.drop(wire.CapKafka, p.Target)
		return c.fail(wire.ErrnoRemote, "kafka_produce: target %s: %v", p.Target, err)
	}
	for _, r := range res {
		if r.Errno == wire.ErrnoRemote {
			// A record the cluster did not take: if the plugin fails the
			// call for it, the destination is unavailable.
			c.markRemote()
			break
		}
	}
	c.kafkaOut = wire.AppendKafkaProduceResult(c.kafkaOut, res)
	return int64(len(c.kafkaOut))
}

// produce sends recs and waits for each to be acknowledged or to fail.
// Keys, values and headers are copied: the client may hold a record
// after a failed call returns, when guest memory is no longer ours.
func (k *kafkaConn) produce(ctx context.Context, c *caps, recs []wire.KafkaRecord) (wire.KafkaProduceResult, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reap(ctx, c); err != nil {
		return nil, err
	}
	cl, err := k.producer()
	if err != nil {
		return nil, err
	}
	manual := context.WithValue(ctx, manualPartition{}, true)
	rs := make([]*kgo.Record, len(recs))
	for i, w := range recs {
		r := &kgo.Record{Topic: w.Topic, Key: bytes.Clone(w.Key), Value: bytes.Clone(w.Value)}
		for _, h := range w.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: bytes.Clone(h.Value)})
		}
		if w.HasPartition {
			r.Partition, r.Context = w.Partition, manual
		}
		rs[i] = r
	}
	// Each record's promise reports on done; the call waits for all of
	// them or for ctx. kgo fails a buffered record on its delivery timeout
	// only once it has been written to a broker, so with every broker
	// down the wait must end here: the records left are failed, and the
	// caller drops the client, whose Close fails them in kgo too.
	type promised struct {
		i   int
		r   *kgo.Record
		err error
	}
	done := make(chan promised, len(rs))
	for i, r := range rs {
		cl.Produce(ctx, r, func(r *kgo.Record, err error) { done <- promised{i, r, err} })
	}
	out := make(wire.KafkaProduceResult, len(rs))
	got := make([]bool, len(rs))
	for n := 0; n < len(rs); n++ {
		select {
		case p := <-done:
			got[p.i] = true
			if p.err != nil {
				out[p.i] = wire.KafkaResult{Errno: kafkaErrno(p.err), Partition: -1, Offset: -1, Err: p.err.Error()}
				k.txnBad = k.txnBad || k.inTxn
				continue
			}
			k.txnAcked = k.txnAcked || k.inTxn
			out[p.i] = wire.KafkaResult{Partition: p.r.Partition, Offset: p.r.Offset}
		case <-ctx.Done():
			for i := range out {
				if !got[i] {
					out[i] = wire.KafkaResult{Errno: wire.ErrnoRemote, Partition: -1, Offset: -1, Err: "not acknowledged in time (" + context.Cause(ctx).Error() + ")"}
				}
			}
			return out, errKafkaStuck
		}
	}
	return out, nil
}

// errKafkaStuck is a produce whose records were not all acknowledged
// within the call's time: the client is dropped.
var errKafkaStuck = errors.New("records not acknowledged in time")

// kafkaErrno classes a record's failure: denied for what authorization
// refuses, invalid for what no retry changes, remote for the rest.
func kafkaErrno(err error) wire.Errno {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch {
		case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed),
			errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
			return wire.ErrnoDenied
		case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
			return wire.ErrnoLimit
		case errors.Is(err, kerr.InvalidTopicException), errors.Is(err, kerr.InvalidRecord):
			return wire.ErrnoInvalid
		}
	}
	return wire.ErrnoRemote
}

func (c *caps) kafkaTxn(ctx context.Context, m api.Module, stack []uint64) {
	ret32(stack, c.doKafkaTxn(ctx, m, uint32(stack[0]), uint32(stack[1]), uint32(stack[2])))
}

func (c *caps) doKafkaTxn(ctx context.Context, m api.Module, op, ptr, n uint32) int64 {
	name, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "kafka_txn: target name out of bounds")
	}
	target := string(name)
	k, errno, err := c.kafkaConn(target)
	if err != nil {
		return c.fail(errno, "kafka_txn: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, k.settings.RequestTimeout)
	defer cancel()
	switch op {
	case wire.KafkaBegin:
		err = k.begin(ctx, c)
	case wire.KafkaCommit:
		err = k.end(ctx, c, true)
	case wire.KafkaAbort:
		err = k.end(ctx, c, false)
	default:
		return c.fail(wire.ErrnoInvalid, "kafka_txn: unknown operation %d", op)
	}
	var te *txnStateError
	switch {
	case errors.As(err, &te):
		return c.fail(wire.ErrnoInvalid, "kafka_txn: target %s: %v", target, err)
	case err != nil:
		// The transactional client is dropped: a new one with the same
		// transactional.id fences it and aborts what it left open.
		c.targets.drop(wire.CapKafka, target)
		return c.fail(wire.ErrnoRemote, "kafka_txn: target %s: %v", target, err)
	}
	return 0
}

// txnStateError is a transaction operation out of turn (a commit with no
// transaction open, a second begin).
type txnStateError struct{ msg string }

func (e *txnStateError) Error() string { return e.msg }

func (k *kafkaConn) begin(ctx context.Context, c *caps) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reap(ctx, c); err != nil {
		return err
	}
	if k.inTxn {
		return &txnStateError{"a transaction is already open (commit or abort it first)"}
	}
	if k.txn == nil {
		cl, err := kgo.NewClient(append(k.settings.producerOpts(),
			kgo.TransactionalID(k.txnID),
			kgo.TransactionTimeout(max(k.settings.RequestTimeout, 10*time.Second)+MaxKafkaTimeout),
			kgo.MaxVersions(txnVersions()),
			kgo.WithHooks(&k.endTxns),
		)...)
		if err != nil {
			return err
		}
		k.txn = cl
	}
	if err := k.txn.BeginTransaction(); err != nil {
		return err
	}
	k.inTxn, k.owner, k.txnBad, k.txnAcked = true, c, false, false
	return nil
}

// endTxnCounter is a kgo hook counting the EndTxn requests written.
type endTxnCounter struct{ n atomic.Int64 }

var _ kgo.HookBrokerWrite = (*endTxnCounter)(nil)

func (e *endTxnCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == kmsg.EndTxn.Int16() && err == nil {
		e.n.Add(1)
	}
}

// txnVersions are the request versions of a transactional client: at
// most Produce v11 and EndTxn v4, the transaction protocol before
// KIP-890's second part, which every broker still speaks. kgo v1.22.3
// sometimes finds, at EndTransaction(TryCommit), no partition counted in
// a transaction whose records the cluster acknowledged (seen on a new
// client's first transaction to a topic, about once in a hundred runs of
// TestKafkaClusterDown under load), and returns nil. Under KIP-890's
// second part it then sends an abort in place of the commit, which
// nothing outside the client can tell from a commit; under the older
// protocol it sends nothing, which end detects by counting the EndTxn
// requests written, and reports as an error, so the transaction is sent
// again rather than lost.
func txnVersions() *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.Produce.Int16(), 11)
	v.SetMaxKeyVersion(kmsg.EndTxn.Int16(), 4)
	return v
}

// end commits or aborts the open transaction. A commit of a transaction
// one of whose records failed aborts it and says so.
func (k *kafkaConn) end(ctx context.Context, c *caps, commit bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reap(ctx, c); err != nil {
		return err
	}
	if !k.inTxn {
		return &txnStateError{"no transaction is open (begin one first)"}
	}
	k.inTxn, k.owner = false, nil
	if commit && k.txnBad {
		if err := k.abort(ctx); err != nil {
			return err
		}
		return &txnStateError{"a record of the transaction failed: it was aborted, not committed"}
	}
	if !commit {
		return k.abort(ctx)
	}
	if err := k.txn.Flush(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	sent := k.endTxns.n.Load()
	if err := k.txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if k.txnAcked && k.endTxns.n.Load() == sent {
		// kgo returned without sending the commit of a transaction whose
		// records the cluster took (see txnVersions): they are in an open
		// transaction that only an abort can end. The caller drops the
		// client; the next one's initialisation fences it and aborts the
		// transaction, and the plugin sends its records again.
		return errors.New("commit: the client ended the transaction without sending its commit to the cluster; its records were not committed")
	}
	return nil
}

func (k *kafkaConn) abort(ctx context.Context) error {
	if err := k.txn.AbortBufferedRecords(ctx); err != nil {
		return fmt.Errorf("abort: %w", err)
	}
	if err := k.txn.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("abort: %w", err)
	}
	return nil
}

func (c *caps) kafkaLast(ctx context.Context, m api.Module, stack []uint64) {
	stack[0] = uint64(c.doKafkaLast(ctx, m, uint32(stack[0]), uint32(stack[1])))
}

func (c *caps) doKafkaLast(ctx context.Context, m api.Module, ptr, n uint32) int64 {
	c.kafkaOut = c.kafkaOut[:0]
	if n > MaxPositionToken+64<<10 {
		return c.fail(wire.ErrnoLimit, "kafka_last: message of %d bytes is too long", n)
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "kafka_last: message out of bounds")
	}
	q, err := wire.ParseKafkaLast(b)
	if err != nil {
		return c.fail(wire.ErrnoInvalid, "kafka_last: malformed message %v", err)
	}
	if q.Topic == "" || len(q.Key) == 0 {
		return c.fail(wire.ErrnoInvalid, "kafka_last: want a topic and a key")
	}
	k, errno, err := c.kafkaConn(q.Target)
	if err != nil {
		return c.fail(errno, "kafka_last: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout(q.TimeoutMS, k))
	defer cancel()
	rec, err := k.last(ctx, q.Topic, q.Key)
	switch {
	case errors.Is(err, errKafkaNotFound):
		return c.fail(wire.ErrnoNotFound, "kafka_last: target %s: no record with key %q in %s", q.Target, q.Key, q.Topic)
	case err != nil:
		return c.fail(wire.ErrnoRemote, "kafka_last: target %s: %s: %v", q.Target, q.Topic, err)
	}
	c.kafkaOut = wire.AppendKafkaFound(c.kafkaOut, rec)
	return int64(len(c.kafkaOut))
}

var errKafkaNotFound = errors.New("not found")

// last finds the last committed record with key in topic: in the
// partition the key hashes to (where producing by key put it), reading
// read_committed backwards from the last stable offset in growing
// windows, so a compacted topic costs one short read and an uncompacted
// one a bounded scan (maxKafkaScan records).
func (k *kafkaConn) last(ctx context.Context, topic string, key []byte) (*wire.KafkaRecord, error) {
	cl, err := kgo.NewClient(k.settings.opts()...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	parts := ends[topic]
	if len(parts) == 0 {
		return nil, errKafkaNotFound
	}
	if e, ok := parts[-1]; ok && errors.Is(e.Err, kerr.UnknownTopicOrPartition) {
		return nil, errKafkaNotFound
	}
	p := keyPartition(topic, key, len(parts))
	end, ok := parts[p]
	if !ok {
		return nil, fmt.Errorf("partition %d of %d not listed", p, len(parts))
	}
	if end.Err != nil {
		return nil, fmt.Errorf("partition %d: %w", p, end.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	start := starts[topic][p].Offset
	if starts[topic][p].Err != nil {
		return nil, fmt.Errorf("partition %d: %w", p, starts[topic][p].Err)
	}
	for window := int64(256); ; window *= 4 {
		from := max(start, end.Offset-window)
		rec, err := k.scan(ctx, topic, p, key, from, end.Offset)
		if err != nil || rec != nil {
			return rec, err
		}
		if from == start || end.Offset-from >= maxKafkaScan {
			return nil, errKafkaNotFound
		}
	}
}

// scan reads partition p of topic from offset from up to end (exclusive),
// read_committed, and returns the last record with key.
func (k *kafkaConn) scan(ctx context.Context, topic string, p int32, key []byte, from, end int64) (*wire.KafkaRecord, error) {
	if from >= end {
		return nil, nil
	}
	cl, err := kgo.NewClient(append(k.settings.opts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records (commit and abort markers) are seen, so the
		// read knows when it reached end even if a marker is last.
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(500*time.Millisecond),
	)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var found *wire.KafkaRecord
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read partition %d from offset %d to %d: %w", p, from, end, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, fmt.Errorf("read partition %d: %w", p, ferr)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end-1 {
				done = true
			}
			if r.Offset >= end || r.Attrs.IsControl() || !bytes.Equal(r.Key, key) {
				return
			}
			found = &wire.KafkaRecord{Topic: topic, Key: r.Key, Value: r.Value, Partition: r.Partition, Offset: r.Offset}
			if found.Key == nil {
				found.Key = []byte{}
			}
			for _, h := range r.Headers {
				found.Headers = append(found.Headers, wire.KafkaHeader{Key: h.Key, Value: h.Value})
			}
		})
		if done {
			return found, nil
		}
	}
}

func (c *caps) kafkaResult(_ context.Context, m api.Module, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	out := c.kafkaOut
	if len(out) > int(n) {
		out = out[:n]
	}
	if !m.Memory().Write(ptr, out) {
		ret32(stack, c.fail(wire.ErrnoInvalid, "kafka_result: buffer out of bounds"))
		return
	}
	ret32(stack, int64(len(c.kafkaOut)))
}
