// Package kafka is the builtin:kafka sender: each change becomes one Kafka
// record, in a topic named after its table, keyed by the row's key, so
// that every change of a row lands in one partition, in order.
//
//	[targets.events]
//	kind = "kafka"
//	brokers = ["kafka1:9092", "kafka2:9092"]
//
//	[[task.sender]]
//	plugin = "builtin:kafka"
//	  [task.sender.config]
//	  target = "events"
//	  topic = "puma.{db}.{table}"
//	  exactly_once = true
//
// cmd/puma grants builtin:kafka the target its config names.
//
// Config: target (required: a [targets] table of kind "kafka"); topic (a
// template; {db} and {table} are replaced, default "puma.{db}.{table}");
// key_column (key the records by this column instead of the table's
// key); format ("envelope", the default: the JSON envelope of README's
// "The JSON envelope", with its options key_change, tombstones, decimal,
// time, binary and envelope; or "row": the row after the change as a JSON
// object, and a tombstone for a delete); exactly_once (default false);
// positions_topic (default "puma.positions").
//
// The key is the JSON object of the key columns, {"id":42}, from the
// image after the change (before it for a delete); a tombstone has the
// key of the delete it follows. Every record carries the headers op (c,
// u, d, t), db, table, position (binlog file:pos of the change), tx.id
// and tx.seq (the transaction's id and the change's number in it,
// "<seq>/<part>" for the parts a handler's Emit made of one change: the
// same change read again has the same pair, for consumers that
// deduplicate). DDL statements are not sent.
//
// Each call's records are produced together and acknowledged by every
// in-sync replica before the call returns (at least once: a retry after
// a failure may write some records twice). With exactly_once, each call
// is one Kafka transaction holding its records and, in positions_topic,
// the record keyed "<task>/<plugin>" whose value is the position of its
// last commit; Init reads that record back (read_committed) and the host
// skips what it includes. Consumers reading read_committed then see every
// change exactly once. The positions topic should be compacted.
package kafka

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pumacdc/puma/plugins/internal/sinkcfg"
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/envelope"
	"github.com/pumacdc/puma/sdk/kafka"
)

type config struct {
	Target         string `json:"target"`
	Topic          string `json:"topic"`
	KeyColumn      string `json:"key_column"`
	Format         string `json:"format"`
	ExactlyOnce    bool   `json:"exactly_once"`
	PositionsTopic string `json:"positions_topic"`
	envelope.Config
}

type sender struct {
	cfg    config
	client *kafka.Client
	enc    envelope.Encoder
	row    bool
	// topics caches each table's topic.
	topics map[*sdk.Table]string
	// recs are the records of the call so far, pos the position token of
	// its last commit (exactly_once).
	recs []kafka.Record
	pos  string
	// posKey is the key of the positions record, "<task>/<plugin>".
	posKey []byte
}

var s sender

// Plugin returns the plugin's functions, for sdk.Register.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Init: s.init, Sender: s.send, Flush: s.flush}
}

func (s *sender) init(raw []byte) error {
	*s = sender{topics: map[*sdk.Table]string{}}
	if err := sdk.DecodeConfig(raw, &s.cfg); err != nil {
		return err
	}
	c := &s.cfg
	row, flags, errs := sinkcfg.Check("kafka", c.Target, c.Format, &c.Config, sinkcfg.Refusals{
		Markers: "Kafka records carry changes only (the headers tx.id and tx.seq say which transaction)",
	})
	s.row, s.enc.Flags = row, flags
	if c.Topic == "" {
		c.Topic = "puma.{db}.{table}"
	}
	if t := strings.NewReplacer("{db}", "db", "{table}", "table").Replace(c.Topic); !validTopic(t) {
		errs = append(errs, fmt.Errorf("config: topic %q: want letters, digits, '.', '_', '-' and the fields {db} and {table}", c.Topic))
	}
	if c.PositionsTopic == "" {
		c.PositionsTopic = "puma.positions"
	}
	if !validTopic(c.PositionsTopic) {
		errs = append(errs, fmt.Errorf("config: positions_topic %q: want letters, digits, '.', '_' and '-'", c.PositionsTopic))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.client = kafka.Target(c.Target)
	if !c.ExactlyOnce {
		return nil
	}
	s.posKey = []byte(sdk.Task() + "/" + sdk.Name())
	f, ok, err := s.client.Last(c.PositionsTopic, s.posKey)
	if err != nil {
		return fmt.Errorf("read the applied position (%s, key %s): %w", c.PositionsTopic, s.posKey, err)
	}
	if !ok {
		return sdk.ReportApplied("")
	}
	return sdk.ReportApplied(string(f.Value))
}

// validTopic reports whether t is a legal Kafka topic name.
func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, c := range []byte(t) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (s *sender) topic(t *sdk.Table) (string, error) {
	if name, ok := s.topics[t]; ok {
		return name, nil
	}
	name := strings.NewReplacer("{db}", t.DB, "{table}", t.Name).Replace(s.cfg.Topic)
	if !validTopic(name) {
		return "", fmt.Errorf("kafka: table %s.%s makes topic %q, not a legal Kafka topic name (letters, digits, '.', '_', '-'; at most 249)", t.DB, t.Name, name)
	}
	s.topics[t] = name
	return name, nil
}

// key returns the record key of an image: the JSON object of the key
// columns (or key_column), nil when the image is absent or the table has
// no key.
func (s *sender) key(t *sdk.Table, img sdk.Image) ([]byte, error) {
	if !img.Present() {
		return nil, nil
	}
	cols := t.Key
	if s.cfg.KeyColumn != "" {
		i := t.Index(s.cfg.KeyColumn)
		if i < 0 {
			return nil, fmt.Errorf("kafka: key_column %q: table %s.%s has no such column", s.cfg.KeyColumn, t.DB, t.Name)
		}
		cols = []int{i}
	}
	if len(cols) == 0 {
		return nil, nil
	}
	k := []byte{'{'}
	for j, i := range cols {
		if j > 0 {
			k = append(k, ',')
		}
		k = strconv.AppendQuote(k, t.Columns[i].Name)
		k = append(k, ':')
		k = envelope.AppendValue(k, img.At(i))
	}
	return append(k, '}'), nil
}

// rowValue renders an image as a JSON object of its present columns.
func rowValue(t *sdk.Table, img sdk.Image) []byte {
	v := []byte{'{'}
	first := true
	for i := range t.Columns {
		x := img.At(i)
		if x.IsAbsent() {
			continue
		}
		if !first {
			v = append(v, ',')
		}
		first = false
		v = strconv.AppendQuote(v, t.Columns[i].Name)
		v = append(v, ':')
		v = envelope.AppendValue(v, x)
	}
	return append(v, '}')
}

func headers(r *sdk.Row, op byte, tx *sdk.Tx) []kafka.Header {
	t := r.Table()
	return []kafka.Header{
		{Key: "op", Value: []byte(sdk.Op(op).String())},
		{Key: "db", Value: []byte(t.DB)},
		{Key: "table", Value: []byte(t.Name)},
		{Key: "position", Value: fmt.Appendf(nil, "%s:%d", r.File(), r.Pos())},
		{Key: "tx.id", Value: []byte(tx.ID)},
		{Key: "tx.seq", Value: txSeq(r)},
	}
}

// txSeq is the change's number in its transaction, and after a "/" the
// part a handler's Emit made of it, if any.
func txSeq(r *sdk.Row) []byte {
	v := strconv.AppendUint(nil, uint64(r.Seq()), 10)
	if r.Part() > 0 {
		v = append(v, '/')
		v = strconv.AppendUint(v, uint64(r.Part()), 10)
	}
	return v
}

// send turns b's changes into records, which flush produces.
func (s *sender) send(b *sdk.Batch) error {
	if s.cfg.ExactlyOnce {
		if tok, ok := b.Position(); ok {
			s.pos = tok
		}
	}
	if !b.HasTx() || b.Len() == 0 {
		return nil
	}
	if s.row {
		return s.rows(b)
	}
	return s.envelopes(b)
}

func (s *sender) rows(b *sdk.Batch) error {
	tx := b.Tx()
	for i := range b.Len() {
		r := b.Row(i)
		t := r.Table()
		if r.Op() == sdk.OpDDL || t == nil {
			continue
		}
		topic, err := s.topic(t)
		if err != nil {
			return sdk.Fatal(err)
		}
		rec := kafka.Record{Topic: topic, Headers: headers(r, byte(r.Op()), &tx)}
		img := r.After()
		if r.Op() == sdk.OpDelete {
			img = r.Before()
		}
		if rec.Key, err = s.key(t, img); err != nil {
			return sdk.Fatal(err)
		}
		if r.Op() != sdk.OpDelete && r.After().Present() {
			rec.Value = rowValue(t, r.After())
		}
		s.recs = append(s.recs, rec)
	}
	return nil
}

// envelopes splits the batch's envelopes, one per line, into records:
// a row gives one envelope, or with key_change = "delete_create" a
// delete and a create when its key changed, and with tombstones a null
// after each delete.
func (s *sender) envelopes(b *sdk.Batch) error {
	lines := s.enc.Encode(b)
	tx := b.Tx()
	next := func() ([]byte, error) {
		i := bytes.IndexByte(lines, '\n')
		if i < 0 {
			return nil, sdk.Fatal(errors.New("kafka: fewer envelopes than changes"))
		}
		line := bytes.Clone(lines[:i])
		lines = lines[i+1:]
		return line, nil
	}
	tombstones := s.cfg.Tombstones
	deleteCreate := s.cfg.KeyChange == "delete_create"
	for i := range b.Len() {
		r := b.Row(i)
		t := r.Table()
		if r.Op() == sdk.OpDDL || t == nil {
			if _, err := next(); err != nil {
				return err
			}
			continue
		}
		topic, err := s.topic(t)
		if err != nil {
			return sdk.Fatal(err)
		}
		before, err := s.key(t, r.Before())
		if err != nil {
			return sdk.Fatal(err)
		}
		after, err := s.key(t, r.After())
		if err != nil {
			return sdk.Fatal(err)
		}
		emit := func(op sdk.Op, key []byte) error {
			v, err := next()
			if err != nil {
				return err
			}
			s.recs = append(s.recs, kafka.Record{Topic: topic, Key: key, Value: v, Headers: headers(r, byte(op), &tx)})
			if op == sdk.OpDelete && tombstones {
				if _, err := next(); err != nil { // the line null
					return err
				}
				s.recs = append(s.recs, kafka.Record{Topic: topic, Key: key, Headers: headers(r, byte(op), &tx)})
			}
			return nil
		}
		switch op := r.Op(); {
		case op == sdk.OpDelete:
			err = emit(op, before)
		case op == sdk.OpUpdate && deleteCreate && envelope.KeyChanged(t, r.Before(), r.After()):
			if err = emit(sdk.OpDelete, before); err == nil {
				err = emit(sdk.OpInsert, after)
			}
		default:
			err = emit(op, after)
		}
		if err != nil {
			return err
		}
	}
	if len(lines) != 0 {
		return sdk.Fatal(errors.New("kafka: more envelopes than changes"))
	}
	return nil
}

// flush produces the call's records: with exactly_once in one
// transaction with the position of its last commit.
func (s *sender) flush() error {
	recs, pos := s.recs, s.pos
	s.recs, s.pos = s.recs[:0], ""
	if !s.cfg.ExactlyOnce {
		if len(recs) == 0 {
			return nil
		}
		_, err := s.client.Produce(recs...)
		return classify(err)
	}
	if len(recs) == 0 && pos == "" {
		return nil
	}
	if pos != "" {
		recs = append(recs, kafka.Record{Topic: s.cfg.PositionsTopic, Key: s.posKey, Value: []byte(pos)})
	}
	if err := s.client.Begin(); err != nil {
		return classify(err)
	}
	if _, err := s.client.Produce(recs...); err != nil {
		s.client.Abort()
		return classify(err)
	}
	return classify(s.client.Commit())
}

// classify makes the errors no retry can cure fatal.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kafka.ErrDenied), errors.Is(err, kafka.ErrLimit):
		return sdk.Fatal(err)
	}
	return err
}
