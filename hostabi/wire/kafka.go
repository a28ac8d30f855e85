package wire

import (
	"encoding/binary"
	"strconv"
)

// Host functions of the kafka capability (in ImportModule): records
// produced to, and read back from, the Kafka clusters of the plugin's
// kafka grant (grants = { kafka = ["events"] }, each name a [targets]
// table of kind "kafka"). hostabi/ABI.md section 6 describes them. The
// host owns the clients: one producer per plugin and target, acks from
// every in-sync replica, idempotent; a transactional one with the stable
// transactional.id "puma-<task>-<plugin>" once the plugin begins a
// transaction.
const (
	// ImportKafkaProduce is kafka_produce(ptr, len u32) -> i64: produces
	// the records of the message at ptr (see KafkaProduce), into the open
	// transaction if the plugin began one on that target, and returns
	// once every record is acknowledged or failed: the length of the
	// result message (see KafkaProduceResult, copied by
	// ImportKafkaResult), which says how each record fared, or an Errno
	// for the call as a whole.
	ImportKafkaProduce = "kafka_produce"
	// ImportKafkaTxn is kafka_txn(op u32, target_ptr, target_len u32) ->
	// i32: begins, commits or aborts (KafkaBegin, KafkaCommit,
	// KafkaAbort) the plugin's transaction on the named target. Returns 0
	// or an Errno; a commit that fails leaves nothing of the transaction
	// visible to read_committed consumers.
	ImportKafkaTxn = "kafka_txn"
	// ImportKafkaLast is kafka_last(ptr, len u32) -> i64: finds the last
	// committed record with a key in a topic (see KafkaLast), reading
	// read_committed, and returns the length of the result message (see
	// KafkaRecord, copied by ImportKafkaResult), or ErrnoNotFound.
	ImportKafkaLast = "kafka_last"
	// ImportKafkaResult is kafka_result(ptr, cap u32) -> i32: copies at
	// most cap bytes of the last kafka_produce or kafka_last result and
	// returns its full length.
	ImportKafkaResult = "kafka_result"
)

// CapKafka is the capability of the kafka functions and the kind of the
// targets they reach.
const CapKafka = "kafka"

// Operations of ImportKafkaTxn.
const (
	KafkaBegin  = 1
	KafkaCommit = 2
	KafkaAbort  = 3
)

// KafkaMessageVersion is the version byte of kafka request messages.
const KafkaMessageVersion = 1

// Record flags.
const (
	// KafkaKeyNull: the record has no key (null, not empty); it goes to
	// any partition unless it names one.
	KafkaKeyNull = 1
	// KafkaValueNull: the record has no value (a tombstone: compaction
	// removes the key).
	KafkaValueNull = 2
	// KafkaPartition: the record goes to the partition it names rather
	// than the one its key hashes to.
	KafkaPartition = 4
)

// KafkaHeader is one header of a record.
type KafkaHeader struct {
	Key   string
	Value []byte
}

// KafkaRecord is one record to produce, or the one kafka_last found.
//
//	u8  flags: KafkaKeyNull | KafkaValueNull | KafkaPartition
//	u8  u16 reserved
//	i32 partition       with KafkaPartition (produce), where it was found (last)
//	i64 offset          0 when producing, where it was found (last)
//	str topic
//	str key
//	str value
//	u16 header count
//	  str key
//	  str value
type KafkaRecord struct {
	Topic      string
	Key, Value []byte // nil: null (KafkaKeyNull, KafkaValueNull)
	Headers    []KafkaHeader
	// Partition is where the record goes when HasPartition is set; in a
	// kafka_last result, where it was found, with Offset.
	Partition    int32
	HasPartition bool
	Offset       int64
}

// KafkaProduce is the message a plugin passes to ImportKafkaProduce.
//
//	u8  version = 1
//	u8  u16 reserved
//	str target          the name of a [targets] table in the kafka grant
//	u32 timeout in milliseconds (0: the target's request_timeout)
//	u32 record count
//	  record (KafkaRecord)
type KafkaProduce struct {
	Target    string
	TimeoutMS uint32
	Records   []KafkaRecord
}

// KafkaLast is the message a plugin passes to ImportKafkaLast.
//
//	u8  version = 1
//	u8  u16 reserved
//	str target
//	u32 timeout in milliseconds (0: the target's request_timeout)
//	str topic
//	str key
type KafkaLast struct {
	Target    string
	TimeoutMS uint32
	Topic     string
	Key       []byte
}

// KafkaResult is how one record of a KafkaProduce fared.
//
//	i32 errno           0, or the record's Errno (ErrnoRemote: retry may help)
//	i32 partition
//	i64 offset
//	str error           "" or what failed
type KafkaResult struct {
	Errno     Errno
	Partition int32
	Offset    int64
	Err       string
}

// KafkaProduceResult is the message ImportKafkaResult copies after a
// produce: u32 count, then a KafkaResult per record, in the order of the
// records.
type KafkaProduceResult []KafkaResult

func appendKafkaRecord(dst []byte, r *KafkaRecord) []byte {
	var flags uint8
	if r.Key == nil {
		flags |= KafkaKeyNull
	}
	if r.Value == nil {
		flags |= KafkaValueNull
	}
	if r.HasPartition {
		flags |= KafkaPartition
	}
	dst = append(dst, flags, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(r.Partition))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Offset))
	dst = appendStr(dst, r.Topic)
	dst = appendStr(dst, string(r.Key))
	dst = appendStr(dst, string(r.Value))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendStr(dst, h.Key)
		dst = appendStr(dst, string(h.Value))
	}
	return dst
}

func (r *reader) kafkaRecord() KafkaRecord {
	var k KafkaRecord
	flags := r.u8("record flags")
	if r.err == nil && flags&^(KafkaKeyNull|KafkaValueNull|KafkaPartition) != 0 {
		r.off--
		r.fail("unknown record flags " + strconv.Itoa(int(flags)))
	}
	r.u8("reserved")
	r.u16("reserved")
	k.Partition = int32(r.u32("partition"))
	k.Offset = int64(r.u64("offset"))
	k.HasPartition = flags&KafkaPartition != 0
	k.Topic = string(r.bytes("topic"))
	k.Key = r.bytes("key")
	k.Value = r.bytes("value")
	if flags&KafkaKeyNull != 0 {
		k.Key = nil
	} else if k.Key == nil {
		k.Key = []byte{}
	}
	if flags&KafkaValueNull != 0 {
		k.Value = nil
	} else if k.Value == nil {
		k.Value = []byte{}
	}
	n := r.u16("header count")
	for i := 0; i < int(n) && r.err == nil; i++ {
		h := KafkaHeader{Key: string(r.bytes("header key")), Value: r.bytes("header value")}
		if h.Value == nil {
			h.Value = []byte{}
		}
		k.Headers = append(k.Headers, h)
	}
	return k
}

func appendKafkaHead(dst []byte, target string, timeoutMS uint32) []byte {
	dst = append(dst, KafkaMessageVersion, 0, 0, 0)
	dst = appendStr(dst, target)
	return binary.LittleEndian.AppendUint32(dst, timeoutMS)
}

func (r *reader) kafkaHead() (target string, timeoutMS uint32) {
	if v := r.u8("version"); r.err == nil && v != KafkaMessageVersion {
		r.off--
		r.fail("unknown kafka message version " + strconv.Itoa(int(v)))
	}
	r.u8("reserved")
	r.u16("reserved")
	target = string(r.bytes("target"))
	return target, r.u32("timeout")
}

func (r *reader) end(what string) {
	if r.err == nil && r.off != len(r.b) {
		r.fail("trailing bytes after the " + what)
	}
}

// AppendKafkaProduce appends the encoding of p to dst.
func AppendKafkaProduce(dst []byte, p *KafkaProduce) []byte {
	dst = appendKafkaHead(dst, p.Target, p.TimeoutMS)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p.Records)))
	for i := range p.Records {
		dst = appendKafkaRecord(dst, &p.Records[i])
	}
	return dst
}

// ParseKafkaProduce decodes a produce message; keys, values and header
// values view b. It refuses more than maxRecords records before reading
// them.
func ParseKafkaProduce(b []byte, maxRecords int) (KafkaProduce, error) {
	r := reader{b: b}
	var p KafkaProduce
	p.Target, p.TimeoutMS = r.kafkaHead()
	n := r.u32("record count")
	if r.err == nil && uint64(n) > uint64(maxRecords) {
		r.off -= 4
		r.fail(strconv.FormatUint(uint64(n), 10) + " records exceed " + strconv.Itoa(maxRecords))
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		p.Records = append(p.Records, r.kafkaRecord())
	}
	r.end("records")
	return p, r.error()
}

// AppendKafkaLast appends the encoding of q to dst.
func AppendKafkaLast(dst []byte, q *KafkaLast) []byte {
	dst = appendKafkaHead(dst, q.Target, q.TimeoutMS)
	dst = appendStr(dst, q.Topic)
	return appendStr(dst, string(q.Key))
}

// ParseKafkaLast decodes a kafka_last message; the key views b.
func ParseKafkaLast(b []byte) (KafkaLast, error) {
	r := reader{b: b}
	var q KafkaLast
	q.Target, q.TimeoutMS = r.kafkaHead()
	q.Topic = string(r.bytes("topic"))
	q.Key = r.bytes("key")
	r.end("key")
	return q, r.error()
}

// AppendKafkaFound appends the encoding of the record kafka_last found.
func AppendKafkaFound(dst []byte, k *KafkaRecord) []byte { return appendKafkaRecord(dst, k) }

// ParseKafkaFound decodes what AppendKafkaFound wrote; key and value view
// b.
func ParseKafkaFound(b []byte) (KafkaRecord, error) {
	r := reader{b: b}
	k := r.kafkaRecord()
	r.end("record")
	return k, r.error()
}

// AppendKafkaProduceResult appends the encoding of res to dst.
func AppendKafkaProduceResult(dst []byte, res KafkaProduceResult) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(res)))
	for _, x := range res {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(x.Errno))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(x.Partition))
		dst = binary.LittleEndian.AppendUint64(dst, uint64(x.Offset))
		dst = appendStr(dst, x.Err)
	}
	return dst
}

// ParseKafkaProduceResult decodes a produce result of want records.
func ParseKafkaProduceResult(b []byte, want int) (KafkaProduceResult, error) {
	r := reader{b: b}
	n := r.u32("result count")
	if r.err == nil && uint64(n) != uint64(want) {
		r.off -= 4
		r.fail(strconv.FormatUint(uint64(n), 10) + " results for " + strconv.Itoa(want) + " records")
	}
	var res KafkaProduceResult
	for i := uint32(0); i < n && r.err == nil; i++ {
		res = append(res, KafkaResult{
			Errno:     Errno(int32(r.u32("errno"))),
			Partition: int32(r.u32("partition")),
			Offset:    int64(r.u64("offset")),
			Err:       string(r.bytes("error")),
		})
	}
	r.end("results")
	return res, r.error()
}
