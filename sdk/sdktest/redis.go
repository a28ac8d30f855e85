//go:build !wasip1

package sdktest

import (
	"fmt"
	"strconv"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

// RedisStore is an in-memory stand-in for one Redis target of the redis
// capability (sdk/redis), for a plugin's unit tests: it holds streams
// and strings, runs XADD, SET and GET as the server does (an atomic batch
// all or nothing, a pipelined one command by command, XADD to a string
// key failing as WRONGTYPE) and can be told to fail calls as an
// unreachable server does. End-to-end behaviour against a real server is
// tested with the host.
type RedisStore struct {
	// Streams are the entries of each stream, oldest first.
	Streams map[string][]RedisEntry
	// Strings are the values SET wrote.
	Strings map[string]string
	// Down fails every call with ErrRemote, applying nothing.
	Down bool
	// LoseReply applies the next call, then fails it with ErrRemote, as a
	// server whose reply is lost after it applied the batch; it is reset
	// after that call.
	LoseReply bool
	// Calls counts the calls, Atomic those asking for MULTI/EXEC.
	Calls, Atomic int

	nextID uint64
}

// RedisEntry is one stream entry.
type RedisEntry struct {
	ID string
	// Fields are field, value, field, value, ... as XADD gave them.
	Fields []string
}

// Field returns the value of the entry's field name ("" when absent).
func (e RedisEntry) Field(name string) string {
	for i := 0; i+1 < len(e.Fields); i += 2 {
		if e.Fields[i] == name {
			return e.Fields[i+1]
		}
	}
	return ""
}

// Redis grants the plugin the redis target called name and returns its
// store, empty. It replaces any store of that name.
func Redis(name string) *RedisStore {
	s := &RedisStore{Streams: map[string][]RedisEntry{}, Strings: map[string]string{}}
	host.Redis[name] = s.exec
	return s
}

// ResetRedis revokes every redis target.
func ResetRedis() { clear(host.Redis) }

func (s *RedisStore) exec(q *wire.RedisBatch) (*wire.RedisReply, error) {
	s.Calls++
	if q.Atomic {
		s.Atomic++
	}
	op := "redis"
	if s.Down {
		return nil, host.Err(op, wire.ErrnoRemote, fmt.Sprintf("target %q: dial tcp: connection refused", q.Target))
	}
	// An EXEC does not roll back either: a WRONGTYPE in an atomic batch
	// leaves its other commands applied.
	r := &wire.RedisReply{Results: make([]wire.RedisResult, len(q.Commands))}
	var failed error
	for i, c := range q.Commands {
		switch c.Op {
		case wire.RedisXAdd:
			if _, ok := s.Strings[c.Key]; ok {
				if failed == nil {
					failed = host.Err(op, wire.ErrnoInvalid, fmt.Sprintf("target %q: command %d (XADD %q): WRONGTYPE Operation against a key holding the wrong kind of value", q.Target, i, c.Key))
				}
				if !q.Atomic {
					return nil, failed
				}
				continue
			}
			s.nextID++
			e := RedisEntry{ID: strconv.FormatUint(s.nextID, 10) + "-0"}
			for _, a := range c.Args {
				e.Fields = append(e.Fields, string(a))
			}
			st := append(s.Streams[c.Key], e)
			if c.MaxLen > 0 && uint64(len(st)) > c.MaxLen {
				st = append([]RedisEntry(nil), st[uint64(len(st))-c.MaxLen:]...)
			}
			s.Streams[c.Key] = st
			r.Results[i].Value = []byte(e.ID)
		case wire.RedisSet:
			delete(s.Streams, c.Key)
			s.Strings[c.Key] = string(c.Args[0])
			r.Results[i].Value = []byte("OK")
		case wire.RedisGet:
			v, ok := s.Strings[c.Key]
			if _, stream := s.Streams[c.Key]; stream {
				if failed == nil {
					failed = host.Err(op, wire.ErrnoInvalid, fmt.Sprintf("target %q: command %d (GET %q): WRONGTYPE Operation against a key holding the wrong kind of value", q.Target, i, c.Key))
				}
				if !q.Atomic {
					return nil, failed
				}
				continue
			}
			r.Results[i] = wire.RedisResult{Nil: !ok, Value: []byte(v)}
			if !ok {
				r.Results[i].Value = nil
			}
		}
	}
	if failed != nil {
		return nil, failed
	}
	if s.LoseReply {
		s.LoseReply = false
		return nil, host.Err(op, wire.ErrnoRemote, fmt.Sprintf("target %q: read tcp: i/o timeout", q.Target))
	}
	return r, nil
}
