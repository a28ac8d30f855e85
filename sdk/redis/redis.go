// Package redis is the redis capability: batches of commands to the Redis
// targets the plugin's grants name (grants = { redis = ["cache"] }, with
// [targets.cache] kind = "redis" in puma.toml), run by the host.
// Importing it makes the module need the grant.
//
// The host owns the connection (address, credentials, TLS come from the
// target's table; the plugin only names the target) and runs only what a
// sink needs: XADD (with MAXLEN ~ trimming), SET and GET. A batch is sent
// pipelined, in one round trip; an Atomic batch is wrapped in MULTI/EXEC,
// so no other client sees part of it and a crash keeps all of it or none
// (with the server's append-only file fsynced). A command failing inside
// an EXEC (a key holding another type) does not undo the others: Redis
// has no rollback.
//
// The host never sends a command again on its own: a call that fails
// with ErrRemote may or may not have been applied. An exactly-once sender
// keeps its position in the same atomic batch and reads it back (Get)
// before it sends again.
//
// Outside Wasm (in unit tests) batches go to the in-memory stores set up
// with sdktest.Redis.
package redis

import (
	"time"
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Errors a call may wrap (test with errors.Is).
var (
	// ErrDenied: the target is not granted, a key lies outside the
	// target's key_prefix, or the server refused the credentials.
	// Retrying will not help.
	ErrDenied error = wire.ErrnoDenied
	// ErrRemote: the connection failed or timed out, or the server is
	// loading, read-only or out of memory. Retrying later may help; what
	// the call applied is unknown.
	ErrRemote error = wire.ErrnoRemote
	// ErrLimit: the batch or its reply is too large.
	ErrLimit error = wire.ErrnoLimit
	// ErrInvalid: the server refused a command (WRONGTYPE: the key holds
	// something else). Retrying will not help.
	ErrInvalid error = wire.ErrnoInvalid
)

// Field is one field of a stream entry.
type Field struct {
	Name  string
	Value []byte
}

// Batch is the commands of one call to one target. The zero value is an
// empty non-atomic batch; Reset empties it for reuse, keeping its memory.
// It is not safe for concurrent use.
type Batch struct {
	// Target names a granted [targets] table of kind redis.
	Target string
	// Atomic sends the commands in MULTI/EXEC.
	Atomic bool
	// Timeout bounds the call (0: the target's timeout, 10 s unless it
	// sets one; at most 5 min). The plugin's timeout bounds it too.
	Timeout time.Duration

	cmds []wire.RedisCommand
	// args backs the commands' Args, so that an entry allocates nothing
	// of its own: each command's share is capped, and when args grows
	// the shares already made stay in the array they were written to.
	args [][]byte
}

// XAdd appends an entry with fields to stream, with an ID the server
// assigns, trimming the stream to about maxLen entries (MAXLEN ~; 0 does
// not trim). The fields' values are kept until Exec: do not change them
// before. It returns the command's index in the reply, whose value is the
// new entry's ID.
func (b *Batch) XAdd(stream string, maxLen uint64, fields ...Field) int {
	start := len(b.args)
	for _, f := range fields {
		b.args = append(b.args, view(f.Name), f.Value)
	}
	end := len(b.args)
	return b.add(wire.RedisCommand{Op: wire.RedisXAdd, Key: stream, MaxLen: maxLen, Args: b.args[start:end:end]})
}

// view returns s's bytes without copying them: a field name is only read
// (encoded into the call's message), and a sender names the fields of
// every entry, so a copy each would be most of XAdd's cost.
func view(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Set sets key to value. It returns the command's index.
func (b *Batch) Set(key string, value []byte) int {
	return b.add(wire.RedisCommand{Op: wire.RedisSet, Key: key, Args: [][]byte{value}})
}

// Get reads key. It returns the command's index; the reply's value is
// missing (ok false) when the key does not exist.
func (b *Batch) Get(key string) int {
	return b.add(wire.RedisCommand{Op: wire.RedisGet, Key: key})
}

func (b *Batch) add(c wire.RedisCommand) int {
	b.cmds = append(b.cmds, c)
	return len(b.cmds) - 1
}

// Len returns the number of commands.
func (b *Batch) Len() int { return len(b.cmds) }

// Reset removes the commands, keeping Target, Atomic and Timeout.
func (b *Batch) Reset() {
	clear(b.cmds)
	b.cmds = b.cmds[:0]
	clear(b.args)
	b.args = b.args[:0]
}

// Reply is the result of each command of a batch, by index. It is valid
// until the next Exec.
type Reply struct {
	results []wire.RedisResult
}

// Len returns the number of results.
func (r *Reply) Len() int { return len(r.results) }

// Value returns command i's result: an XADD's entry ID, a SET's "OK", a
// GET's value; ok is false for a GET of a missing key.
func (r *Reply) Value(i int) (v []byte, ok bool) {
	res := r.results[i]
	return res.Value, !res.Nil
}

// Exec runs b's commands, pipelined, and returns their results. On error
// nothing is returned: with ErrRemote the commands may or may not have
// been applied, and otherwise those before the failing one were (the
// error names it).
func Exec(b *Batch) (*Reply, error) {
	q := wire.RedisBatch{Atomic: b.Atomic, Target: b.Target, Commands: b.cmds}
	if b.Timeout > 0 {
		q.TimeoutMS = uint32(max(1, min(b.Timeout, time.Hour)/time.Millisecond))
	}
	p, err := exec(&q)
	if err != nil {
		return nil, err
	}
	return &Reply{results: p.Results}, nil
}

// Get reads key from target in a call of its own: value, and whether the
// key exists.
func Get(target, key string) (value []byte, ok bool, err error) {
	b := Batch{Target: target}
	b.Get(key)
	r, err := Exec(&b)
	if err != nil {
		return nil, false, err
	}
	v, ok := r.Value(0)
	return v, ok, nil
}

// op names a call in its errors; the host's message names the target.
const op = "redis"
