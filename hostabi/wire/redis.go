package wire

import (
	"encoding/binary"
	"strconv"
)

// Host functions of the redis capability (in ImportModule). hostabi/ABI.md
// section 6, "redis", describes them.
//
// The capability is a sink's, not a Redis client: a call is a batch of
// XADD, SET and GET commands only, so a plugin granted a target can append
// to streams and keep a position key there, but cannot run FLUSHALL,
// CONFIG, EVAL of its own scripts, KEYS scans or anything else the
// operator did not mean to hand it.
const (
	// ImportRedisExec is redis_exec(ptr, len u32) -> i64: runs the batch
	// of commands encoded at ptr (see RedisBatch) on the named target,
	// pipelined, and returns the length of the reply message, which
	// ImportRedisReply then copies, or an Errno.
	ImportRedisExec = "redis_exec"
	// ImportRedisReply is redis_reply(ptr, cap u32) -> i32: copies at most
	// cap bytes of the last reply message (see RedisReply) and returns its
	// full length.
	ImportRedisReply = "redis_reply"
)

// CapRedis is the capability of the functions above and the kind of the
// [targets] they reach.
const CapRedis = "redis"

// RedisOp is the command of a RedisCommand.
type RedisOp uint8

// The commands a batch may hold.
const (
	// RedisXAdd is XADD key [MAXLEN ~ n] * field value ...: appends an
	// entry with an ID the server assigns. Args are field, value pairs.
	RedisXAdd RedisOp = 1
	// RedisSet is SET key value. Args is the value.
	RedisSet RedisOp = 2
	// RedisGet is GET key. Args is empty.
	RedisGet RedisOp = 3
)

func (o RedisOp) String() string {
	switch o {
	case RedisXAdd:
		return "XADD"
	case RedisSet:
		return "SET"
	case RedisGet:
		return "GET"
	}
	return "op " + strconv.Itoa(int(o))
}

// RedisAtomic is the batch flag asking for MULTI/EXEC.
const RedisAtomic = 1

// RedisCommand is one command of a RedisBatch.
type RedisCommand struct {
	Op  RedisOp
	Key string
	// MaxLen trims an XADD's stream to about this many entries (MAXLEN ~);
	// 0 does not trim. Only XADD may set it.
	MaxLen uint64
	Args   [][]byte
}

// RedisBatch is the message a plugin passes to ImportRedisExec.
//
//	u8  version = 1
//	u8  flags: 1 atomic (MULTI/EXEC)
//	u16 reserved
//	str target          the name of a granted [targets] table of kind redis
//	u32 timeout in milliseconds (0: the host's default)
//	u32 command count
//	  u8  op            1 XADD, 2 SET, 3 GET
//	  u8  reserved
//	  u16 arg count
//	  str key
//	  u64 maxlen        XADD only (0: no trimming)
//	  str arg           arg count times
type RedisBatch struct {
	Atomic    bool
	Target    string
	TimeoutMS uint32
	Commands  []RedisCommand
}

// RedisMessageVersion is the version byte of redis batch messages.
const RedisMessageVersion = 1

// AppendRedisBatch appends the encoding of q to dst.
func AppendRedisBatch(dst []byte, q *RedisBatch) []byte {
	var flags uint8
	if q.Atomic {
		flags |= RedisAtomic
	}
	dst = append(dst, RedisMessageVersion, flags, 0, 0)
	dst = appendStr(dst, q.Target)
	dst = binary.LittleEndian.AppendUint32(dst, q.TimeoutMS)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(q.Commands)))
	for i := range q.Commands {
		c := &q.Commands[i]
		dst = append(dst, uint8(c.Op), 0)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(c.Args)))
		dst = appendStr(dst, c.Key)
		dst = binary.LittleEndian.AppendUint64(dst, c.MaxLen)
		for _, a := range c.Args {
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(a)))
			dst = append(dst, a...)
		}
	}
	return dst
}

// ParseRedisBatch decodes a batch message: the op and the arg count of
// each command must fit (XADD: field, value pairs, at least one; SET: one
// value; GET: none), and only XADD may trim. Keys are copies, args view b.
func ParseRedisBatch(b []byte) (RedisBatch, error) {
	r := reader{b: b}
	var q RedisBatch
	if v := r.u8("version"); r.err == nil && v != RedisMessageVersion {
		r.off--
		r.fail("unknown redis message version " + strconv.Itoa(int(v)))
	}
	flags := r.u8("flags")
	if r.err == nil && flags&^RedisAtomic != 0 {
		r.off--
		r.fail("unknown flags " + strconv.Itoa(int(flags)))
	}
	q.Atomic = flags&RedisAtomic != 0
	r.u16("reserved")
	q.Target = string(r.bytes("target"))
	q.TimeoutMS = r.u32("timeout")
	n := r.u32("command count")
	// Each command takes at least 16 bytes: a count the message cannot
	// hold is refused before anything is allocated for it.
	if r.err == nil && uint64(n)*16 > uint64(len(b)-r.off) {
		r.fail("command count " + strconv.FormatUint(uint64(n), 10) + " exceeds the message")
	}
	if r.err == nil {
		q.Commands = make([]RedisCommand, 0, n)
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := r.off
		c := RedisCommand{Op: RedisOp(r.u8("op"))}
		r.u8("reserved")
		argc := r.u16("arg count")
		c.Key = string(r.bytes("key"))
		c.MaxLen = r.u64("maxlen")
		for j := 0; j < int(argc) && r.err == nil; j++ {
			c.Args = append(c.Args, r.bytes("arg"))
		}
		if r.err != nil {
			break
		}
		if msg := c.check(); msg != "" {
			r.off = start
			r.fail("command " + strconv.FormatUint(uint64(i), 10) + " (" + c.Op.String() + "): " + msg)
			break
		}
		q.Commands = append(q.Commands, c)
	}
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the commands")
	}
	return q, r.error()
}

// check says what is wrong with c's shape, "" when nothing is.
func (c *RedisCommand) check() string {
	if c.Key == "" {
		return "empty key"
	}
	switch c.Op {
	case RedisXAdd:
		if len(c.Args) == 0 || len(c.Args)%2 != 0 {
			return "want field, value pairs, got " + strconv.Itoa(len(c.Args)) + " args"
		}
		return ""
	case RedisSet:
		if len(c.Args) != 1 {
			return "want one value, got " + strconv.Itoa(len(c.Args)) + " args"
		}
	case RedisGet:
		if len(c.Args) != 0 {
			return "want no args, got " + strconv.Itoa(len(c.Args))
		}
	default:
		return "unknown op (have: 1 XADD, 2 SET, 3 GET)"
	}
	if c.MaxLen != 0 {
		return "only XADD trims (maxlen)"
	}
	return ""
}

// RedisReply is the message ImportRedisReply copies out: one result per
// command, in order.
//
//	u32 result count
//	  u8  kind           1 nil (GET of a missing key), 2 value
//	  str value          kind 2 only: XADD the entry ID, SET "OK", GET the value
type RedisReply struct {
	Results []RedisResult
}

// RedisResult is one command's result.
type RedisResult struct {
	Nil   bool
	Value []byte
}

// Kinds of a RedisResult.
const (
	RedisNil   = 1
	RedisValue = 2
)

// AppendRedisReply appends the encoding of p to dst.
func AppendRedisReply(dst []byte, p *RedisReply) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p.Results)))
	for _, res := range p.Results {
		if res.Nil {
			dst = append(dst, RedisNil)
			continue
		}
		dst = append(dst, RedisValue)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(res.Value)))
		dst = append(dst, res.Value...)
	}
	return dst
}

// ParseRedisReply decodes a reply message; values view b.
func ParseRedisReply(b []byte) (RedisReply, error) {
	r := reader{b: b}
	var p RedisReply
	n := r.u32("result count")
	if r.err == nil && uint64(n) > uint64(len(b)-r.off) {
		r.fail("result count " + strconv.FormatUint(uint64(n), 10) + " exceeds the message")
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		switch k := r.u8("kind"); {
		case r.err != nil:
		case k == RedisNil:
			p.Results = append(p.Results, RedisResult{Nil: true})
		case k == RedisValue:
			p.Results = append(p.Results, RedisResult{Value: r.bytes("value")})
		default:
			r.off--
			r.fail("unknown result kind " + strconv.Itoa(int(k)))
		}
	}
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the results")
	}
	return p, r.error()
}
