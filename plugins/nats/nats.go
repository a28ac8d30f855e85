// Package nats is the builtin:nats sender: it publishes each change as a
// message to NATS JetStream, on a subject made from its database and
// table, and acknowledges a call's batches once the stream has
// acknowledged every message.
//
//	[targets.events]
//	kind = "nats"
//	url = "nats://127.0.0.1:4222"
//
//	[[task.sender]]
//	plugin = "builtin:nats"
//	  [task.sender.config]
//	  target = "events"
//	  subject = "puma.{db}.{table}"       # {db}, {table}, {op}
//	  stream = "PUMA"
//	  create_stream = true                # subjects: the template's, and the position's
//	  duplicate_window = "10m"            # of a stream it creates
//	  exactly_once = true
//	  format = "envelope"                 # or "row"
//	  timeout = "10s"
//
// cmd/puma grants builtin:nats the target its config names.
//
// Each message's data is the change's JSON envelope (README's "The JSON
// envelope"; its decimal, time, binary and envelope options apply), or
// with format = "row" the row alone (the after image, the before image
// for a delete). Headers: Puma-Op (c, u, d, t, ddl), Puma-DB, Puma-Table,
// Puma-Position (the change's binlog file:pos), and Nats-Msg-Id, the
// change's idempotency key "<tx id>:<seq>:<part>": JetStream stores a
// message once per ID within the stream's duplicates window, so a batch
// sent again after a failure is not stored twice.
//
// With exactly_once, each message also carries Puma-Commit, the position
// token of its transaction's commit, and after every call's messages are
// acknowledged the sender publishes the token of the call's last commit
// on its position subject (position_subject, default
// "<first token of subject>.position.<task>.<plugin>", which the stream
// must store). Init reads that subject's last message back and reports
// it (sdk.ReportApplied): after a crash Puma skips what the stream
// already holds, however long ago it was published. RATIONALE.md
// explains why the two together deliver each change exactly once.
package nats

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/plugins/internal/sinkcfg"
	"github.com/pumacdc/puma/plugins/internal/tmpl"
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/envelope"
	"github.com/pumacdc/puma/sdk/nats"
)

type config struct {
	Target          string `json:"target"`
	Subject         string `json:"subject"`
	Stream          string `json:"stream"`
	CreateStream    bool   `json:"create_stream"`
	DuplicateWindow string `json:"duplicate_window"`
	ExactlyOnce     bool   `json:"exactly_once"`
	PositionSubject string `json:"position_subject"`
	Format          string `json:"format"`
	Timeout         string `json:"timeout"`
	envelope.Config
}

// Header names.
const (
	HeaderOp       = "Puma-Op"
	HeaderDB       = "Puma-DB"
	HeaderTable    = "Puma-Table"
	HeaderPosition = "Puma-Position"
	HeaderCommit   = "Puma-Commit"
)

type sender struct {
	cfg     config
	subject tmpl.Template // the subject template: {db}, {table}, {op}
	row     bool          // format = "row"
	opts    nats.Options
	enc     envelope.Encoder
	flags   wire.EnvelopeFlags
	// pending are the call's messages; uncommitted counts those at its
	// end whose transaction's commit has not been seen yet.
	pending     []nats.Msg
	uncommitted int
	// position is the token of the call's last commit, "" when none.
	position string
	// data and headers back the call's messages' Data and Header, so
	// that a change costs no allocation of its own: each message's share
	// is capped, and a buffer that grows leaves the shares already made
	// in the array they were written to. flush reuses them.
	data    []byte
	headers []nats.Header
	// ids holds a send's message IDs, positions and the databases of
	// DDL changes (a view of the batch, which ends with it) until they
	// become one string; ends has three offsets a message.
	ids  []byte
	ends []int
	// last caches the subject of the last change's table and op:
	// consecutive changes mostly share them.
	last struct {
		table   *sdk.Table
		op      sdk.Op
		subject string
	}
}

var s sender

// Plugin returns the plugin's functions, for sdk.Register.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Init: s.init, Sender: s.send, Flush: s.flush}
}

func (s *sender) init(raw []byte) error {
	*s = sender{}
	if err := sdk.DecodeConfig(raw, &s.cfg); err != nil {
		return err
	}
	c := &s.cfg
	const one = "builtin:nats publishes one message per change"
	var errs []error
	s.row, s.flags, errs = sinkcfg.Check("nats", c.Target, c.Format, &c.Config, sinkcfg.Refusals{
		Markers: one, Tombstones: one, DeleteCreate: one,
	})
	s.enc.Flags = s.flags
	if c.Subject == "" {
		c.Subject = "puma.{db}.{table}"
	}
	var err error
	if s.subject, err = parseSubject(c.Subject); err != nil {
		errs = append(errs, err)
	}
	if c.Timeout != "" {
		if s.opts.Timeout, err = time.ParseDuration(c.Timeout); err != nil || s.opts.Timeout <= 0 {
			errs = append(errs, fmt.Errorf("config: timeout %q: want a duration such as \"10s\"", c.Timeout))
		}
	}
	var window time.Duration
	if c.DuplicateWindow != "" {
		if !c.CreateStream {
			errs = append(errs, errors.New("config: duplicate_window applies to a stream create_stream makes: set the window of an existing stream on the stream"))
		}
		if window, err = time.ParseDuration(c.DuplicateWindow); err != nil || window <= 0 {
			errs = append(errs, fmt.Errorf("config: duplicate_window %q: want a duration such as \"10m\"", c.DuplicateWindow))
		}
	}
	if (c.CreateStream || c.ExactlyOnce) && c.Stream == "" {
		errs = append(errs, errors.New("config: stream is required with create_stream and exactly_once"))
	}
	if c.PositionSubject != "" && !c.ExactlyOnce {
		errs = append(errs, errors.New("config: position_subject needs exactly_once = true"))
	}
	if c.ExactlyOnce && c.PositionSubject == "" {
		c.PositionSubject = s.prefix() + ".position." + token(sdk.Task()) + "." + token(sdk.Name())
	}
	if c.PositionSubject != "" && (strings.ContainsAny(c.PositionSubject, "*> \t") || strings.Contains(c.PositionSubject, "..")) {
		errs = append(errs, fmt.Errorf("config: position_subject %q: want a subject without wildcards or white space", c.PositionSubject))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.opts.Stream = c.Stream
	if c.CreateStream {
		subjects := []string{s.wildcard()}
		if c.PositionSubject != "" {
			subjects = append(subjects, c.PositionSubject)
		}
		if err := nats.EnsureStream(c.Target, nats.Stream{Name: c.Stream, Subjects: subjects, Duplicates: window}); err != nil {
			return fatalUnlessRemote(err)
		}
	}
	if !c.ExactlyOnce {
		return nil
	}
	tok := ""
	m, err := nats.Last(c.Target, c.Stream, c.PositionSubject)
	switch {
	case errors.Is(err, nats.ErrNotFound):
	case err != nil:
		return fatalUnlessRemote(fmt.Errorf("read the applied position from %s: %w", c.PositionSubject, err))
	default:
		tok = string(m.Data)
	}
	return sdk.ReportApplied(tok)
}

// fatalUnlessRemote marks err fatal unless retrying may cure it.
func fatalUnlessRemote(err error) error {
	if errors.Is(err, nats.ErrRemote) {
		return err
	}
	return sdk.Fatal(err)
}

// parseSubject parses a subject template: dot-separated tokens, none
// empty, without wildcards or white space, with the fields {db}, {table}
// and {op}.
func parseSubject(t string) (tmpl.Template, error) {
	parsed, err := tmpl.Parse("subject", t, "db", "table", "op")
	if err != nil {
		return parsed, err
	}
	for _, tok := range strings.Split(t, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t") {
			return parsed, fmt.Errorf("config: subject %q: want dot-separated tokens, none empty, without wildcards or white space", t)
		}
	}
	return parsed, nil
}

// prefix is the subject template's first token when it is literal, else
// "puma".
func (s *sender) prefix() string {
	first, _, _ := strings.Cut(s.cfg.Subject, ".")
	if first == "" || strings.Contains(first, "{") {
		return "puma"
	}
	return first
}

// wildcard is the subject template with each token holding a
// placeholder made a "*": the subjects a stream must store.
func (s *sender) wildcard() string {
	toks := strings.Split(s.cfg.Subject, ".")
	for i, t := range toks {
		if strings.Contains(t, "{") {
			toks[i] = "*"
		}
	}
	return strings.Join(toks, ".")
}

// token makes v one subject token: dots, wildcards and white space
// become "_", and an empty value is "_".
func token(v string) string {
	if v == "" {
		return "_"
	}
	if !strings.ContainsAny(v, ".*> \t\r\n") {
		return v
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, v)
}

func (s *sender) subjectOf(r *sdk.Row) string {
	l := &s.last
	t := r.Table()
	if t != nil && l.table == t && l.op == r.Op() {
		return l.subject
	}
	subject := string(s.subject.Append(nil, func(dst []byte, f int) []byte {
		switch f {
		case 0:
			return append(dst, token(r.DB())...)
		case 1:
			return append(dst, token(r.TableName())...)
		}
		return append(dst, token(r.Op().String())...)
	}))
	if t != nil {
		l.table, l.op, l.subject = t, r.Op(), subject
	}
	return subject
}

// appendMsgID appends the change's idempotency key: the same change read
// again gets the same ID.
func appendMsgID(b []byte, tx string, r *sdk.Row) []byte {
	b = append(b, tx...)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(r.Seq()), 10)
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(r.Part()), 10)
}

// send turns b's changes into messages; flush publishes them. The
// batch's views are copied: they end with the batch.
func (s *sender) send(b *sdk.Batch) error {
	if b.HasTx() && b.Len() > 0 {
		if err := s.messages(b); err != nil {
			return err
		}
	}
	if !s.cfg.ExactlyOnce {
		return nil
	}
	if tok, ok := b.Position(); ok {
		// The token reaches every message of its transaction, which the
		// host hands over whole within one call, into the header slot
		// messages reserved for it.
		for i := len(s.pending) - s.uncommitted; i < len(s.pending); i++ {
			s.pending[i].Header = append(s.pending[i].Header, nats.Header{Name: HeaderCommit, Value: tok})
		}
		s.position = tok
	}
	if _, ok := b.Commit(); ok {
		s.uncommitted = 0
	}
	return nil
}

// messages appends a message for each of b's changes to pending.
func (s *sender) messages(b *sdk.Batch) error {
	var all, lines []byte
	if !s.row {
		all = s.enc.Encode(b)
		lines = all
	}
	nh := 4
	if s.cfg.ExactlyOnce {
		nh++ // Puma-Commit
	}
	tx := b.Tx().ID
	first := len(s.pending)
	s.ids, s.ends = s.ids[:0], s.ends[:0]
	for i := range b.Len() {
		r := b.Row(i)
		start := len(s.data)
		if s.row {
			img := r.After()
			if r.Op() == sdk.OpDelete {
				img = r.Before()
			}
			if t := r.Table(); t != nil && img.Present() {
				s.data = envelope.AppendRow(s.data, t, img, s.flags)
			}
		} else {
			n := bytes.IndexByte(lines, '\n')
			if n < 0 {
				return s.miscounted(all, b, first)
			}
			s.data, lines = append(s.data, lines[:n]...), lines[n+1:]
		}
		h := len(s.headers)
		s.headers = append(s.headers,
			nats.Header{Name: HeaderOp, Value: r.Op().String()},
			nats.Header{Name: HeaderDB, Value: r.DB()},
			nats.Header{Name: HeaderTable, Value: r.TableName()},
			nats.Header{Name: HeaderPosition})
		if nh > 4 {
			s.headers = append(s.headers, nats.Header{})
		}
		end := len(s.data)
		s.pending = append(s.pending, nats.Msg{
			Subject: s.subjectOf(r),
			Header:  s.headers[h : h+4 : h+nh],
			Data:    s.data[start:end:end],
		})
		s.ids = appendMsgID(s.ids, tx, r)
		s.ends = append(s.ends, len(s.ids))
		s.ids = append(s.ids, r.File()...)
		s.ids = append(s.ids, ':')
		s.ids = strconv.AppendUint(s.ids, uint64(r.Pos()), 10)
		s.ends = append(s.ends, len(s.ids))
		if r.Table() == nil {
			s.ids = append(s.ids, r.DB()...)
		}
		s.ends = append(s.ends, len(s.ids))
		s.uncommitted++
	}
	if len(lines) > 0 {
		return s.miscounted(all, b, first)
	}
	// One string for the batch's IDs, positions and DDL databases.
	ids, start := string(s.ids), 0
	for i := range s.pending[first:] {
		m := &s.pending[first+i]
		id, pos, db := s.ends[3*i], s.ends[3*i+1], s.ends[3*i+2]
		m.MsgID, m.Header[3].Value = ids[start:id], ids[id:pos]
		if db > pos {
			m.Header[1].Value = ids[pos:db]
		}
		start = db
	}
	return nil
}

// miscounted drops the messages of b made so far, from pending[first:],
// and reports that the host's rendering all does not hold one envelope
// per change.
func (s *sender) miscounted(all []byte, b *sdk.Batch, first int) error {
	s.uncommitted -= len(s.pending) - first
	s.pending = s.pending[:first]
	n := bytes.Count(all, []byte{'\n'})
	if len(all) > 0 && all[len(all)-1] != '\n' {
		n++
	}
	return sdk.Fatal(fmt.Errorf("nats: %d envelopes for %d changes", n, b.Len()))
}

// flush publishes the call's messages and waits for every
// acknowledgement; with exactly_once it then publishes the position of
// the call's last commit, only once all the data is stored.
func (s *sender) flush() error {
	msgs, position := s.pending, s.position
	s.pending, s.position, s.uncommitted = s.pending[:0], "", 0
	s.data, s.headers = s.data[:0], s.headers[:0]
	if len(msgs) > 0 {
		acks, err := nats.Publish(s.cfg.Target, msgs, s.opts)
		if err != nil {
			return fatalUnlessRemote(err)
		}
		if err := nats.FirstError(acks); err != nil {
			return fatalUnlessRemote(err)
		}
	}
	if position == "" {
		return nil
	}
	acks, err := nats.Publish(s.cfg.Target, []nats.Msg{{Subject: s.cfg.PositionSubject, Data: []byte(position)}}, s.opts)
	if err == nil {
		err = nats.FirstError(acks)
	}
	if err != nil {
		return fatalUnlessRemote(fmt.Errorf("store the position on %s: %w", s.cfg.PositionSubject, err))
	}
	return nil
}
