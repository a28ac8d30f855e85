// Package redis is the builtin:redis sender: it appends each change to a
// Redis stream as one entry, through the redis capability, pipelining
// every entry of a call in one round trip.
//
//	[targets.cache]
//	kind = "redis"
//	addr = "redis.internal:6379"
//	password_secret = "redis_pw"
//
//	[[task.sender]]
//	plugin = "builtin:redis"
//	  [task.sender.config]
//	  target = "cache"
//	  stream = "puma:{db}:{table}"   # the default
//	  maxlen = 1000000               # trim to about this many entries; 0 (default) never trims
//	  format = "envelope"            # or "row"
//	  exactly_once = true
//	  timeout = "10s"                # per call; default: the target's timeout
//
// cmd/puma grants builtin:redis the target its config names.
//
// Each entry has the fields op ("c", "u", "d", "t", "ddl"), db, table,
// key (the JSON object of the key columns, null when the change has no
// row), value (the change's JSON envelope, see README's "The JSON
// envelope", or with format "row" the row's JSON object: the after image,
// the before image for a delete, null for a TRUNCATE or DDL), position
// ("<binlog file>:<offset>" of the change's event) and id ("<tx id>:<seq>:<part>",
// the same when a change is delivered again). The stream's name is the
// stream template with {db}, {table}, {task} and {plugin} replaced.
//
// Without exactly_once, the entries of a call are sent pipelined and the
// call succeeds once Redis has them: at least once, a retried call may
// append entries again (consumers can drop them by id). With
// exactly_once, each call is one MULTI/EXEC holding every entry and a SET
// of the position key (puma:position:<task>:<plugin> unless position_key
// says otherwise); Init reads that key and reports it to Puma, which
// skips what it holds: no entry is appended twice, across crashes of
// Puma or Redis (with appendfsync always). A call of more than
// 100000 entries or 64 MiB cannot be one MULTI/EXEC and fails.
package redis

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/plugins/internal/sinkcfg"
	"github.com/pumacdc/puma/plugins/internal/tmpl"
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/envelope"
	"github.com/pumacdc/puma/sdk/redis"
)

type config struct {
	Target      string `json:"target"`
	Stream      string `json:"stream"`
	MaxLen      uint64 `json:"maxlen"`
	Format      string `json:"format"`
	ExactlyOnce bool   `json:"exactly_once"`
	PositionKey string `json:"position_key"`
	Timeout     string `json:"timeout"`
	envelope.Config
}

type sender struct {
	cfg    config
	enc    envelope.Encoder
	stream tmpl.Template // {db}, {table}, {task}, {plugin}
	// streams caches the stream name of each table, names of DDL rows
	// (which have no table) by "db\x00table".
	streams map[*sdk.Table]string
	byName  map[string]string
	posKey  string
	batch   redis.Batch
	// buf holds the fields of the call's entries until Exec.
	buf      []byte
	entries  []entry
	position string
}

// entry is one XADD: its stream and its fields, as offsets into buf
// (which grows while the call's entries are built).
type entry struct {
	stream string
	start  int
	ends   [7]int
}

var fieldNames = [7]string{"op", "db", "table", "key", "value", "position", "id"}

var s sender

// Plugin returns the plugin's functions, for sdk.Register.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Init: s.init, Sender: s.send, Flush: s.flush}
}

func (s *sender) init(raw []byte) error {
	*s = sender{streams: map[*sdk.Table]string{}, byName: map[string]string{}}
	if err := sdk.DecodeConfig(raw, &s.cfg); err != nil {
		return err
	}
	c := &s.cfg
	// One entry per change: a tombstone or a delete and a create for one
	// change are Kafka's, and would leave entries without their own row.
	row, flags, errs := sinkcfg.Check("redis", c.Target, c.Format, &c.Config, sinkcfg.Refusals{
		Markers:      "not for Redis streams (entries carry their transaction in id and the envelope)",
		Tombstones:   "not for Redis streams (a stream entry is never compacted away)",
		DeleteCreate: "not for Redis streams (one entry per change; its key field and the envelope's before image show the old key)",
	})
	if c.Format = "envelope"; row {
		c.Format = "row"
	}
	s.enc.Flags = flags
	if c.Stream == "" {
		c.Stream = "puma:{db}:{table}"
	}
	var err error
	if s.stream, err = tmpl.Parse("stream", c.Stream, "db", "table", "task", "plugin"); err != nil {
		errs = append(errs, err)
	}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf(`config: timeout %q: want a positive duration such as "5s"`, c.Timeout))
		}
		s.batch.Timeout = d
	}
	if c.PositionKey != "" && !c.ExactlyOnce {
		errs = append(errs, errors.New("config: position_key is set without exactly_once = true"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.batch.Target, s.batch.Atomic = c.Target, c.ExactlyOnce
	if !c.ExactlyOnce {
		return nil
	}
	s.posKey = c.PositionKey
	if s.posKey == "" {
		s.posKey = "puma:position:" + sdk.Task() + ":" + sdk.Name()
	}
	// The position Redis holds is what the last successful MULTI/EXEC
	// wrote; an unreachable server fails Init, and Puma starts the
	// instance again later.
	tok, _, err := redis.Get(c.Target, s.posKey)
	if err != nil {
		return fmt.Errorf("read position key %q: %w", s.posKey, err)
	}
	return sdk.ReportApplied(string(tok))
}

func (s *sender) streamOf(r *sdk.Row) string {
	t := r.Table()
	if t != nil {
		if name, ok := s.streams[t]; ok {
			return name
		}
	} else if name, ok := s.byName[r.DB()+"\x00"+r.TableName()]; ok {
		return name
	}
	name := string(s.stream.Append(nil, func(dst []byte, f int) []byte {
		switch f {
		case 0:
			return append(dst, r.DB()...)
		case 1:
			return append(dst, r.TableName()...)
		case 2:
			return append(dst, sdk.Task()...)
		}
		return append(dst, sdk.Name()...)
	}))
	if t != nil {
		s.streams[t] = name
	} else {
		s.byName[r.DB()+"\x00"+r.TableName()] = name
	}
	return name
}

// send builds the batch's entries; flush sends them, with the position.
func (s *sender) send(b *sdk.Batch) error {
	if tok, ok := b.Position(); ok {
		s.position = tok
	}
	if b.Len() == 0 {
		return nil
	}
	var lines []byte
	if s.cfg.Format == "envelope" {
		lines = s.enc.Encode(b)
	}
	tx := b.Tx()
	for i := range b.Len() {
		r := b.Row(i)
		e := entry{stream: s.streamOf(r), start: len(s.buf)}
		s.buf = append(s.buf, r.Op().String()...)
		e.ends[0] = len(s.buf)
		s.buf = append(s.buf, r.DB()...)
		e.ends[1] = len(s.buf)
		s.buf = append(s.buf, r.TableName()...)
		e.ends[2] = len(s.buf)
		s.buf = appendKey(s.buf, r)
		e.ends[3] = len(s.buf)
		if lines != nil {
			n := bytes.IndexByte(lines, '\n')
			if n < 0 {
				return sdk.Fatal(fmt.Errorf("redis: the envelope of change %d of batch %d is missing", i, b.Seq()))
			}
			s.buf, lines = append(s.buf, lines[:n]...), lines[n+1:]
		} else {
			s.buf = appendRow(s.buf, r)
		}
		e.ends[4] = len(s.buf)
		s.buf = append(s.buf, r.File()...)
		s.buf = append(s.buf, ':')
		s.buf = strconv.AppendUint(s.buf, uint64(r.Pos()), 10)
		e.ends[5] = len(s.buf)
		s.buf = append(s.buf, tx.ID...)
		s.buf = append(s.buf, ':')
		s.buf = strconv.AppendUint(s.buf, uint64(r.Seq()), 10)
		s.buf = append(s.buf, ':')
		s.buf = strconv.AppendUint(s.buf, uint64(r.Part()), 10)
		e.ends[6] = len(s.buf)
		s.entries = append(s.entries, e)
	}
	return nil
}

func (s *sender) flush() error {
	defer s.reset()
	if len(s.entries) == 0 && (s.position == "" || !s.cfg.ExactlyOnce) {
		return nil
	}
	var fields [7]redis.Field
	for _, e := range s.entries {
		start := e.start
		for j, end := range e.ends {
			fields[j] = redis.Field{Name: fieldNames[j], Value: s.buf[start:end:end]}
			start = end
		}
		s.batch.XAdd(e.stream, s.cfg.MaxLen, fields[:]...)
	}
	if s.cfg.ExactlyOnce && s.position != "" {
		s.batch.Set(s.posKey, []byte(s.position))
	}
	_, err := redis.Exec(&s.batch)
	switch {
	case errors.Is(err, redis.ErrDenied), errors.Is(err, redis.ErrLimit), errors.Is(err, redis.ErrInvalid):
		return sdk.Fatal(err)
	case err != nil:
		return err
	}
	return nil
}

// reset forgets the call's entries, sent or not: a call that failed is
// sent again whole.
func (s *sender) reset() {
	s.batch.Reset()
	s.buf = s.buf[:0]
	s.entries = s.entries[:0]
	s.position = ""
}

// appendKey writes the JSON object of r's key columns, from the after
// image (the before image for a delete); null when r has no row.
func appendKey(dst []byte, r *sdk.Row) []byte {
	t, img := r.Table(), image(r)
	if t == nil || !img.Present() {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	first := true
	for _, i := range t.Key {
		v := img.At(i)
		if v.IsAbsent() {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = wire.AppendJSONString(dst, t.Columns[i].Name)
		dst = append(dst, ':')
		dst = envelope.AppendValue(dst, v)
	}
	return append(dst, '}')
}

// appendRow writes r's row as a JSON object (absent columns left out);
// null when r has no row.
func appendRow(dst []byte, r *sdk.Row) []byte {
	t, img := r.Table(), image(r)
	if t == nil || !img.Present() {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	first := true
	for i := range img.Len() {
		v := img.At(i)
		if v.IsAbsent() {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = wire.AppendJSONString(dst, t.Columns[i].Name)
		dst = append(dst, ':')
		dst = envelope.AppendValue(dst, v)
	}
	return append(dst, '}')
}

func image(r *sdk.Row) sdk.Image {
	if r.Op() == sdk.OpDelete {
		return r.Before()
	}
	return r.After()
}
