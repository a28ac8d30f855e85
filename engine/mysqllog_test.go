package engine

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"
	"github.com/klauspost/compress/zstd"
)

// mysqlLog writes a MySQL 8 binary log event by event, byte for byte in
// the formats MySQL documents (libbinlogevents, "Binary Log Formats" in
// MySQL's source documentation), as a source sends it to a replica: a
// format description declaring CRC32 checksums, PREVIOUS_GTIDS, then
// transactions. No MySQL server can run where the tests run, so the
// MySQL-only paths of the reader are tested on logs written here.
//
// Events are written at increasing positions from 4 (after the file's
// magic), each header's log_pos the end of its event, as MySQL does.
type mysqlLog struct {
	file     string
	serverID uint32
	ts       uint32 // header timestamp of the events written next
	pos      uint32 // end of the last event
	events   [][]byte
	// inPayload collects the events of a compressed transaction, which
	// carry no checksum and no position.
	inPayload *[][]byte
}

// Binary-log event types (MySQL's Log_event_type).
const (
	evQuery            = 2
	evRotate           = 4
	evFormat           = 15
	evXID              = 16
	evTableMap         = 19
	evWriteRows        = 30
	evUpdateRows       = 31
	evDeleteRows       = 32
	evGTID             = 33
	evAnonymousGTID    = 34
	evPreviousGTIDs    = 35
	evPartialUpdate    = 39
	evTransactionPay   = 40
	evGTIDTagged       = 42
	mysqlServerVersion = "8.4.3"
)

// newMySQLLog starts the log of file as read from its start: the format
// description and the PREVIOUS_GTIDS event with the set executed before
// the file, given as uuid → [start, end) intervals.
func newMySQLLog(file string, serverID, ts uint32, previous map[uuid.UUID][][2]uint64) *mysqlLog {
	l := &mysqlLog{file: file, serverID: serverID, ts: ts, pos: 4}
	// FORMAT_DESCRIPTION: binlog version, server version (50 bytes), create
	// time, common header length, the post-header length of every event
	// type, the checksum algorithm (1 = CRC32).
	var b []byte
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 50)...)
	copy(b[2:], mysqlServerVersion)
	b = binary.LittleEndian.AppendUint32(b, ts)
	b = append(b, replication.EventHeaderSize)
	b = append(b, mysqlPostHeaderLengths...)
	b = append(b, 1)
	l.event(evFormat, b)

	// PREVIOUS_GTIDS: the number of UUIDs, then for each its intervals.
	sids := make([]uuid.UUID, 0, len(previous))
	for sid := range previous {
		sids = append(sids, sid)
	}
	slices.SortFunc(sids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	b = binary.LittleEndian.AppendUint64(nil, uint64(len(sids)))
	for _, sid := range sids {
		b = append(b, sid[:]...)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(previous[sid])))
		for _, iv := range previous[sid] {
			b = binary.LittleEndian.AppendUint64(b, iv[0])
			b = binary.LittleEndian.AppendUint64(b, iv[1])
		}
	}
	l.event(evPreviousGTIDs, b)
	return l
}

// mysqlPostHeaderLengths are MySQL 8.4's post-header lengths, event types
// 1 to 42: among them TABLE_MAP's 8 (6-byte table ids) and the rows
// events' 10 (version 2, with extra data).
var mysqlPostHeaderLengths = []byte{
	56, 13, 0, 8, 0, 18, 0, 4, 4, 4, // START_V3 … APPEND_BLOCK, EXEC_LOAD
	4, 18, 0, 0, 98, 0, 4, 26, 8, 0, // DELETE_FILE … TABLE_MAP, PRE_GA_WRITE_ROWS
	0, 0, 8, 8, 8, 2, 0, 0, 0, 10, // PRE_GA_UPDATE … WRITE_ROWS v2
	10, 10, 42, 42, 0, 18, 52, 0, 10, 40, // UPDATE_ROWS v2 … TRANSACTION_PAYLOAD
	0, 42, // HEARTBEAT_V2, GTID_TAGGED
}

// event appends an event of type typ with body b: the 19-byte common
// header (timestamp, type, server id, event size, end position, flags),
// the body and its CRC32. Inside a compressed transaction it is collected
// for the payload instead, without checksum or position.
func (l *mysqlLog) event(typ byte, b []byte) {
	if l.inPayload != nil {
		size := uint32(replication.EventHeaderSize + len(b))
		*l.inPayload = append(*l.inPayload, append(l.header(typ, size, 0), b...))
		return
	}
	size := uint32(replication.EventHeaderSize + len(b) + replication.BinlogChecksumLength)
	l.pos += size
	ev := append(l.header(typ, size, l.pos), b...)
	l.events = append(l.events, binary.LittleEndian.AppendUint32(ev, crc32.ChecksumIEEE(ev)))
}

func (l *mysqlLog) header(typ byte, size, end uint32) []byte {
	h := binary.LittleEndian.AppendUint32(make([]byte, 0, 64), l.ts)
	h = append(h, typ)
	h = binary.LittleEndian.AppendUint32(h, l.serverID)
	h = binary.LittleEndian.AppendUint32(h, size)
	h = binary.LittleEndian.AppendUint32(h, end)
	return binary.LittleEndian.AppendUint16(h, 0)
}

// gtidInfo is what a GTID event says of its transaction besides the GTID.
type gtidInfo struct {
	lastCommitted, seq int64
	// immediate and original commit timestamps, microseconds since the
	// epoch (original = immediate on the server that ran it first).
	immediate, original uint64
	length              uint64 // transaction length in bytes
}

// gtid writes a GTID_LOG_EVENT (sid:gno) or, with a zero sid, an
// ANONYMOUS_GTID_LOG_EVENT (gtid_mode=OFF): flags, sid, gno, the logical
// clock, the commit timestamps (7 bytes each, the original one present
// when the top bit of the immediate one is set), the transaction length
// and the server versions.
func (l *mysqlLog) gtid(sid uuid.UUID, gno int64, g gtidInfo) {
	typ := byte(evGTID)
	if sid == (uuid.UUID{}) {
		typ = evAnonymousGTID
	}
	b := []byte{1} // may_have_sbr_stmts off: rbr_only
	b = append(b, sid[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(gno))
	b = append(b, 2) // logical timestamp type code
	b = binary.LittleEndian.AppendUint64(b, uint64(g.lastCommitted))
	b = binary.LittleEndian.AppendUint64(b, uint64(g.seq))
	imm := g.immediate
	if g.original != g.immediate {
		imm |= 1 << 55
	}
	b = appendUint56(b, imm)
	if g.original != g.immediate {
		b = appendUint56(b, g.original)
	}
	b = appendLenEnc(b, g.length)
	b = binary.LittleEndian.AppendUint32(b, 80403)
	l.event(typ, b)
}

// taggedGTID writes a GTID_TAGGED_LOG_EVENT (MySQL 8.3 and later,
// GTID_NEXT='uuid:tag:gno'), a mysql::serialization message: version,
// format size, last non-ignorable field, then each field as its id and
// its value in the serialization's variable-length encodings.
func (l *mysqlLog) taggedGTID(sid uuid.UUID, tag string, gno int64, g gtidInfo) {
	var f []byte
	field := func(id byte, v []byte) { f = append(append(f, id<<1), v...) }
	field(0, serialFixed([]byte{1}))
	field(1, serialFixed(sid[:]))
	field(2, serialInt(gno))
	field(3, append([]byte{byte(len(tag)) << 1}, tag...))
	field(4, serialInt(g.lastCommitted))
	field(5, serialInt(g.seq))
	field(6, serialUint(g.immediate))
	field(7, serialUint(g.original))
	field(8, serialUint(g.length))
	field(9, serialUint(80403))
	size := 3 + len(f)
	if size >= 128 {
		panic("tagged GTID message too long for a one-byte size")
	}
	l.event(evGTIDTagged, append([]byte{0, byte(size) << 1, 9 << 1}, f...))
}

// serialUint is the serialization's variable-length unsigned integer: the
// number of trailing one bits of the first byte, plus one, is its length
// in bytes; the value follows those bits, little-endian.
func serialUint(v uint64) []byte {
	for n := 1; n <= 8; n++ {
		if v < 1<<(7*n) {
			x := v<<n | (1<<(n-1) - 1)
			return binary.LittleEndian.AppendUint64(nil, x)[:n]
		}
	}
	panic("serialUint: value too large for this writer")
}

// serialInt is the signed variant: the sign in the lowest value bit.
func serialInt(v int64) []byte {
	if v < 0 {
		return serialUint(uint64(-(v+1))<<1 | 1)
	}
	return serialUint(uint64(v) << 1)
}

// serialFixed is a fixed-length integer (the UUID's bytes): a byte below
// 0x80 as itself shifted left, a higher one as two bytes.
func serialFixed(v []byte) []byte {
	var b []byte
	for _, c := range v {
		switch {
		case c < 0x80:
			b = append(b, c<<1)
		case c < 0xc0:
			b = append(b, (c-0x80)<<2|1, 2)
		default:
			b = append(b, (c-0xc0)<<2|1, 3)
		}
	}
	return b
}

// query writes a QUERY_EVENT: thread id, execution time, default database
// length, error code, status variables (none), database, NUL, statement.
func (l *mysqlLog) query(db, stmt string) {
	b := binary.LittleEndian.AppendUint32(nil, 7)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, byte(len(db)))
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = append(b, db...)
	b = append(b, 0)
	l.event(evQuery, append(b, stmt...))
}

// xid writes the XID_EVENT that commits a transaction.
func (l *mysqlLog) xid(id uint64) {
	l.event(evXID, binary.LittleEndian.AppendUint64(nil, id))
}

// rotate writes the ROTATE_EVENT that ends the file: the next file's
// name, starting at 4.
func (l *mysqlLog) rotate(next string) {
	b := binary.LittleEndian.AppendUint64(nil, 4)
	l.event(evRotate, append(b, next...))
}

// compressed writes the events body writes as one
// TRANSACTION_PAYLOAD_EVENT (binlog_transaction_compression=ON): its
// fields (payload size, compression type 0 = zstd, uncompressed size),
// the end mark, then the zstd frame of the events.
func (l *mysqlLog) compressed(t testing.TB, body func()) {
	t.Helper()
	var inner [][]byte
	l.inPayload = &inner
	body()
	l.inPayload = nil
	raw := bytes.Join(inner, nil)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	payload := enc.EncodeAll(raw, nil)
	enc.Close()
	var b []byte
	field := func(typ byte, v uint64) {
		x := binary.LittleEndian.AppendUint64(nil, v)
		n := 8
		for n > 1 && x[n-1] == 0 {
			n--
		}
		b = append(append(b, typ, byte(n)), x[:n]...)
	}
	field(1, uint64(len(payload)))
	field(2, 0)
	field(3, uint64(len(raw)))
	b = append(b, 0)
	l.event(evTransactionPay, append(b, payload...))
}

// mysqlColumn is a column of a table in the log: its binary-log type and
// metadata, and what binlog_row_metadata=FULL logs of it.
type mysqlColumn struct {
	name      string
	typ       byte
	meta      []byte // type metadata as logged
	nullable  bool
	unsigned  bool
	collation uint64 // character columns
}

// mysqlTable is a table whose TABLE_MAP the log carries, with full
// metadata.
type mysqlTable struct {
	id       uint64
	db, name string
	cols     []mysqlColumn
	key      []int
}

// tableMap writes t's TABLE_MAP_EVENT: table id (6 bytes), flags, names,
// column types, metadata, the nullability bitmap, then the optional
// metadata binlog_row_metadata=FULL adds: signedness, column charsets,
// column names and the primary key.
func (l *mysqlLog) tableMap(t *mysqlTable) {
	b := appendUint48(nil, t.id)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = append(append(append(b, byte(len(t.db))), t.db...), 0)
	b = append(append(append(b, byte(len(t.name))), t.name...), 0)
	b = appendLenEnc(b, uint64(len(t.cols)))
	var meta []byte
	nulls := make([]byte, (len(t.cols)+7)/8)
	var signedness, charsets, names, key []byte
	numeric := 0
	for i, c := range t.cols {
		b = append(b, c.typ)
		meta = append(meta, c.meta...)
		if c.nullable {
			nulls[i/8] |= 1 << (i % 8)
		}
		switch c.typ {
		case 1, 2, 3, 8, 9, 246: // TINY, SHORT, LONG, LONGLONG, INT24, NEWDECIMAL
			if len(signedness) <= numeric/8 {
				signedness = append(signedness, 0)
			}
			if c.unsigned {
				signedness[numeric/8] |= 0x80 >> (numeric % 8)
			}
			numeric++
		case 15, 253, 254, 252: // VARCHAR, VAR_STRING, STRING, BLOB
			charsets = appendLenEnc(charsets, c.collation)
		}
		names = append(append(names, byte(len(c.name))), c.name...)
	}
	for _, k := range t.key {
		key = appendLenEnc(key, uint64(k))
	}
	b = appendLenEnc(b, uint64(len(meta)))
	b = append(append(b, meta...), nulls...)
	opt := func(typ byte, v []byte) {
		if v != nil {
			b = append(appendLenEnc(append(b, typ), uint64(len(v))), v...)
		}
	}
	opt(1, signedness)
	opt(3, charsets)
	opt(4, names)
	opt(8, key)
	l.event(evTableMap, b)
}

// rows writes a rows event (v2) of t: table id, flags (STMT_END_F), the
// extra-data length (2: none), the column count, the columns-present
// bitmaps (all columns: binlog_row_image=FULL), then each row image as a
// null bitmap and its values. An update's images come in before/after
// pairs. PARTIAL_UPDATE_ROWS_EVENT after images start with the
// binlog_row_value_options (1 = PARTIAL_JSON) and the partial bitmap of
// the JSON columns, given by partial.
func (l *mysqlLog) rows(typ byte, t *mysqlTable, images [][]any, partial []byte) {
	n := len(t.cols)
	b := appendUint48(nil, t.id)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = appendLenEnc(b, uint64(n))
	all := make([]byte, (n+7)/8)
	for i := range n {
		all[i/8] |= 1 << (i % 8)
	}
	update := typ == evUpdateRows || typ == evPartialUpdate
	b = append(b, all...)
	if update {
		b = append(b, all...)
	}
	for i, img := range images {
		if typ == evPartialUpdate && i%2 == 1 {
			b = append(appendLenEnc(b, 1), partial...)
		}
		nulls := make([]byte, (n+7)/8)
		var vals []byte
		for j, v := range img {
			if v == nil {
				nulls[j/8] |= 1 << (j % 8)
				continue
			}
			vals = append(vals, v.([]byte)...)
		}
		b = append(append(b, nulls...), vals...)
	}
	l.event(typ, b)
}

// Value encodings of rows events.

func longlong(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

// varchar is a VARCHAR value of a column of at most 255 bytes: a one-byte
// length, then the bytes.
func varchar(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// jsonColumn is a JSON column's value: its length (4 bytes, the column's
// metadata) and the binary JSON.
func jsonColumn(binJSON []byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(binJSON))), binJSON...)
}

// jsonDiff is a partial JSON value (PARTIAL_JSON): the diff's operation
// (0 = replace), its path and the new value in binary JSON.
func jsonDiff(path string, binJSON []byte) []byte {
	b := appendLenEnc([]byte{0}, uint64(len(path)))
	b = append(b, path...)
	b = appendLenEnc(b, uint64(len(binJSON)))
	return jsonColumn(append(b, binJSON...))
}

// jsonKV is an object member, for binJSON.
type jsonKV struct {
	key string
	val any
}

// binJSON encodes v in MySQL's binary JSON (json_binary.h): a type byte,
// then the value. Objects ([]jsonKV) and arrays ([]any) are the small
// forms: element count, byte size, key entries (offset, length), value
// entries (type and offset, or the value itself for literals and 16-bit
// integers), keys, values; offsets count from the element count. Strings
// are a 7-bit variable length and the bytes.
func binJSON(v any) []byte {
	typ, body := jsonValue(v)
	return append([]byte{typ}, body...)
}

func jsonValue(v any) (byte, []byte) {
	switch x := v.(type) {
	case nil:
		return 0x04, []byte{0}
	case bool:
		if x {
			return 0x04, []byte{1}
		}
		return 0x04, []byte{2}
	case int:
		return 0x05, binary.LittleEndian.AppendUint16(nil, uint16(int16(x)))
	case string:
		var b []byte
		for n := len(x); ; n >>= 7 {
			if n < 0x80 {
				b = append(b, byte(n))
				break
			}
			b = append(b, byte(n&0x7f|0x80))
		}
		return 0x0c, append(b, x...)
	case []jsonKV:
		kvs := slices.Clone(x)
		// MySQL sorts keys by length, then bytes.
		slices.SortFunc(kvs, func(a, b jsonKV) int {
			if len(a.key) != len(b.key) {
				return len(a.key) - len(b.key)
			}
			return bytes.Compare([]byte(a.key), []byte(b.key))
		})
		keys := make([]string, len(kvs))
		vals := make([]any, len(kvs))
		for i, kv := range kvs {
			keys[i], vals[i] = kv.key, kv.val
		}
		return 0x00, jsonContainer(keys, vals)
	case []any:
		return 0x02, jsonContainer(nil, x)
	}
	panic("binJSON: unsupported value")
}

func jsonContainer(keys []string, vals []any) []byte {
	n := len(vals)
	header := 4 + len(keys)*4 + n*3
	var keyArea, valArea []byte
	for _, k := range keys {
		keyArea = append(keyArea, k...)
	}
	entries := make([]byte, 0, n*3)
	for _, v := range vals {
		typ, body := jsonValue(v)
		switch typ {
		case 0x04, 0x05:
			entries = append(entries, typ)
			entries = append(entries, append(body, 0)[:2]...)
		default:
			entries = append(entries, typ)
			entries = binary.LittleEndian.AppendUint16(entries, uint16(header+len(keyArea)+len(valArea)))
			valArea = append(valArea, body...)
		}
	}
	b := binary.LittleEndian.AppendUint16(nil, uint16(n))
	b = binary.LittleEndian.AppendUint16(b, uint16(header+len(keyArea)+len(valArea)))
	off := header
	for _, k := range keys {
		b = binary.LittleEndian.AppendUint16(b, uint16(off))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(k)))
		off += len(k)
	}
	b = append(b, entries...)
	return append(append(b, keyArea...), valArea...)
}

func appendLenEnc(b []byte, v uint64) []byte {
	switch {
	case v < 251:
		return append(b, byte(v))
	case v < 1<<16:
		return binary.LittleEndian.AppendUint16(append(b, 0xfc), uint16(v))
	case v < 1<<24:
		return append(b, 0xfd, byte(v), byte(v>>8), byte(v>>16))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xfe), v)
}

func appendUint48(b []byte, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(b, v)[:len(b)+6]
}

func appendUint56(b []byte, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(b, v)[:len(b)+7]
}
