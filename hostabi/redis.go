package hostabi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// The redis capability: a plugin granted a [targets] table of kind redis
// hands the host a batch of XADD, SET and GET commands, which the host
// sends pipelined (in MULTI/EXEC when the batch asks for it) and answers
// with one result per command. The command set is what a sink needs and
// no more (ABI.md, "redis"): a plugin cannot flush the database, change
// its configuration, or run scripts of its own there.

// Limits of the redis capability.
const (
	// MaxRedisMessage bounds a batch message (keys and values with it).
	MaxRedisMessage = 64 << 20
	// MaxRedisCommands bounds the commands of one batch.
	MaxRedisCommands = 100_000
	// MaxRedisReply bounds a reply message: the values GET returns, with
	// the entry IDs XADD does.
	MaxRedisReply = 16 << 20
	// DefaultRedisTimeout bounds a call whose message and target ask for
	// no other; MaxRedisTimeout bounds any. The plugin's own timeout
	// bounds the call too, whichever ends first.
	DefaultRedisTimeout = 10 * time.Second
	MaxRedisTimeout     = 5 * time.Minute
)

// redisSettings are a [targets.NAME] table of kind redis.
type redisSettings struct {
	Addr        string
	DB          int
	Username    string
	Password    engine.Secret
	TLS         bool
	ServerName  string
	KeyPrefix   string
	DialTimeout time.Duration
	Timeout     time.Duration
}

func init() {
	registerTargetKind(wire.CapRedis, func(s *Settings) any {
		r := redisSettings{
			Addr:        s.Required("addr", `the server's host:port ("redis.internal:6379")`),
			DB:          int(s.Int("db", 0, 0, 1<<16)),
			Username:    s.String("username", ""),
			Password:    s.Secret("password_secret"),
			TLS:         s.Bool("tls", false),
			ServerName:  s.String("tls_server_name", ""),
			KeyPrefix:   s.String("key_prefix", ""),
			DialTimeout: s.Duration("dial_timeout", 5*time.Second),
			Timeout:     s.Duration("timeout", DefaultRedisTimeout),
		}
		if r.Addr != "" {
			if _, port, err := net.SplitHostPort(r.Addr); err != nil || port == "" {
				s.Fail("addr", "%q: want host:port", r.Addr)
			}
		}
		if r.ServerName != "" && !r.TLS {
			s.Fail("tls_server_name", "set without tls = true")
		}
		if r.Timeout > MaxRedisTimeout {
			s.Fail("timeout", "%s exceeds %s", r.Timeout, MaxRedisTimeout)
		}
		return r
	})
	registerHostFuncs(
		hostFunc{wire.ImportRedisExec, (*caps).redisExec, []api.ValueType{i32, i32}, []api.ValueType{i64}},
		hostFunc{wire.ImportRedisReply, (*caps).redisReplyFn, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	)
	// go-redis prints its own complaints (failed dials) on stderr; Puma
	// reports the failed call instead, so they go to the debug log.
	redis.SetLogger(redisLogger{})
}

type redisLogger struct{}

func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if slog.Default().Enabled(ctx, slog.LevelDebug) {
		slog.Default().DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
	}
}

// redisConn is one plugin's client of one redis target.
type redisConn struct {
	c        *redis.Client
	settings redisSettings
}

func (r *redisConn) Close() error { return r.c.Close() }

func dialRedis(settings any) (io.Closer, error) {
	s := settings.(redisSettings)
	opts := &redis.Options{
		Addr:         s.Addr,
		DB:           s.DB,
		Username:     s.Username,
		Password:     s.Password.Reveal(),
		DialTimeout:  s.DialTimeout,
		ReadTimeout:  s.Timeout,
		WriteTimeout: s.Timeout,
		// The deadline of the call (its message's timeout, the plugin's)
		// bounds the commands too.
		ContextTimeoutEnabled: true,
		// Never send a command again on its own: an XADD whose reply was
		// lost may have been applied, and sending it again would add the
		// entry twice. The plugin decides (an exactly-once sender reads
		// its position back first).
		MaxRetries:    -1,
		DialerRetries: 1,
		PoolSize:      4,
		// CLIENT SETINFO is not needed and some servers refuse it.
		DisableIdentity: true,
	}
	if s.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
		if opts.TLSConfig.ServerName == "" {
			opts.TLSConfig.ServerName, _, _ = net.SplitHostPort(s.Addr)
		}
	}
	return &redisConn{c: redis.NewClient(opts), settings: s}, nil
}

func (c *caps) redisExec(ctx context.Context, m api.Module, stack []uint64) {
	stack[0] = uint64(c.doRedisExec(ctx, m, uint32(stack[0]), uint32(stack[1])))
}

func (c *caps) doRedisExec(ctx context.Context, m api.Module, ptr, n uint32) int64 {
	c.redisReply = c.redisReply[:0]
	if c.targets == nil || len(c.grants.Targets[wire.CapRedis]) == 0 {
		return c.fail(wire.ErrnoDenied, "redis is not granted: add %s", grantHint(wire.CapRedis))
	}
	if n > MaxRedisMessage {
		return c.fail(wire.ErrnoLimit, "redis: batch message of %d bytes exceeds %d", n, MaxRedisMessage)
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "redis: batch out of bounds")
	}
	q, err := wire.ParseRedisBatch(b)
	if err != nil {
		return c.fail(wire.ErrnoInvalid, "redis: malformed batch message %v", err)
	}
	if len(q.Commands) > MaxRedisCommands {
		return c.fail(wire.ErrnoLimit, "redis: %d commands exceed %d", len(q.Commands), MaxRedisCommands)
	}
	conn, err := c.targets.conn(wire.CapRedis, q.Target, dialRedis)
	if err != nil {
		return c.fail(wire.ErrnoDenied, "redis: %v", err)
	}
	rc := conn.(*redisConn)
	r, errno, err := rc.exec(ctx, &q)
	if err != nil {
		return c.fail(errno, "redis: target %q: %v", q.Target, err)
	}
	c.redisReply = wire.AppendRedisReply(c.redisReply, r)
	return int64(len(c.redisReply))
}

// exec runs q on r's server. Its errors carry the errno to return.
func (r *redisConn) exec(ctx context.Context, q *wire.RedisBatch) (*wire.RedisReply, wire.Errno, error) {
	if p := r.settings.KeyPrefix; p != "" {
		for i, cmd := range q.Commands {
			if !strings.HasPrefix(cmd.Key, p) {
				return nil, wire.ErrnoDenied, fmt.Errorf("command %d (%s): key %q lies outside the target's key_prefix %q", i, cmd.Op, cmd.Key, p)
			}
		}
	}
	if len(q.Commands) == 0 {
		return &wire.RedisReply{}, 0, nil
	}
	timeout := r.settings.Timeout
	if q.TimeoutMS > 0 {
		timeout = min(time.Duration(q.TimeoutMS)*time.Millisecond, MaxRedisTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var p redis.Pipeliner
	if q.Atomic {
		p = r.c.TxPipeline()
	} else {
		p = r.c.Pipeline()
	}
	cmds := make([]redis.Cmder, len(q.Commands))
	for i, cmd := range q.Commands {
		switch cmd.Op {
		case wire.RedisXAdd:
			// The values are copied: the pipeline writes them after the
			// guest's memory may have moved.
			vals := make([]any, len(cmd.Args))
			for j, a := range cmd.Args {
				vals[j] = string(a)
			}
			cmds[i] = p.XAdd(ctx, &redis.XAddArgs{Stream: cmd.Key, MaxLen: int64(min(cmd.MaxLen, 1<<62)), Approx: cmd.MaxLen > 0, Values: vals})
		case wire.RedisSet:
			cmds[i] = p.Set(ctx, cmd.Key, string(cmd.Args[0]), 0)
		case wire.RedisGet:
			cmds[i] = p.Get(ctx, cmd.Key)
		}
	}
	_, execErr := p.Exec(ctx)
	reply := &wire.RedisReply{Results: make([]wire.RedisResult, len(cmds))}
	size := 4
	applied := 0
	for i, cmd := range cmds {
		err := cmd.Err()
		if err == redis.Nil {
			reply.Results[i].Nil = true
			size++
			continue
		}
		if err != nil {
			continue
		}
		applied++
		var v string
		switch cmd := cmd.(type) {
		case *redis.StringCmd:
			v = cmd.Val()
		case *redis.StatusCmd:
			v = cmd.Val()
		}
		size += 5 + len(v)
		if size > MaxRedisReply {
			return nil, wire.ErrnoLimit, fmt.Errorf("reply of more than %d bytes (command %d, %s %q)", MaxRedisReply, i, q.Commands[i].Op, q.Commands[i].Key)
		}
		reply.Results[i].Value = []byte(v)
	}
	if execErr == nil || execErr == redis.Nil {
		return reply, 0, nil
	}
	// Name the first failed command; say what the server kept, since
	// Redis undoes nothing a pipeline or an EXEC applied.
	at := -1
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil && err != redis.Nil {
			at = i
			break
		}
	}
	errno := redisErrno(ctx, execErr)
	what := execErr.Error()
	if ctx.Err() == context.DeadlineExceeded {
		what = fmt.Sprintf("timeout after %s", timeout)
	}
	if at >= 0 {
		what = fmt.Sprintf("command %d (%s %q): %s", at, q.Commands[at].Op, q.Commands[at].Key, what)
	}
	switch {
	case applied > 0 && q.Atomic:
		what += fmt.Sprintf("; the transaction's other %d commands were applied (Redis does not roll back a failed command of an EXEC)", applied)
	case applied > 0:
		what += fmt.Sprintf("; %d other commands were applied", applied)
	}
	return nil, errno, errors.New(what)
}

// redisErrno classifies a failed command: a server that is loading,
// read-only, out of memory or busy, and any network failure or timeout,
// may answer later (ErrnoRemote); refused credentials are ErrnoDenied;
// any other error reply (WRONGTYPE, a key holding something else) is
// ErrnoInvalid, which retrying will not cure.
func redisErrno(ctx context.Context, err error) wire.Errno {
	var rerr redis.Error
	if !errors.As(err, &rerr) || ctx.Err() != nil {
		return wire.ErrnoRemote
	}
	msg := rerr.Error()
	for _, p := range []string{"LOADING", "READONLY", "OOM", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN", "MOVED", "ASK", "EXECABORT"} {
		if strings.HasPrefix(msg, p+" ") {
			return wire.ErrnoRemote
		}
	}
	for _, p := range []string{"NOAUTH", "WRONGPASS", "NOPERM"} {
		if strings.HasPrefix(msg, p+" ") {
			return wire.ErrnoDenied
		}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return wire.ErrnoRemote
	}
	return wire.ErrnoInvalid
}

func (c *caps) redisReplyFn(_ context.Context, m api.Module, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	out := c.redisReply
	if len(out) > int(n) {
		out = out[:n]
	}
	if !m.Memory().Write(ptr, out) {
		ret32(stack, c.fail(wire.ErrnoInvalid, "redis: reply buffer out of bounds"))
		return
	}
	ret32(stack, int64(len(c.redisReply)))
}
