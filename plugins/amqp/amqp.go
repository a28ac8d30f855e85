// Package amqp is the builtin:amqp sender: it publishes each change to a
// RabbitMQ exchange as one message, and acknowledges a call's batches once
// the broker confirmed every message of them.
//
//	[secrets]
//	rabbit_password_env = "PUMA_RABBIT_PASSWORD"
//
//	[targets.rabbit]
//	kind = "amqp"
//	url = "amqp://rabbit.internal:5672/cdc"     # amqps:// for TLS; the path is the vhost
//	user = "puma"
//	password_secret = "rabbit_password"
//
//	[[task.sender]]
//	plugin = "builtin:amqp"
//	  [task.sender.config]
//	  target = "rabbit"
//	  exchange = "cdc"
//	  routing_key = "{db}.{table}"         # the default; {op} is the change's op
//	  format = "envelope"                  # or "row"
//	  declare = { exchange_type = "topic", queue = "cdc-all", binding_key = "#" }
//	  timeout = "30s"
//
// cmd/puma grants builtin:amqp the target its config names.
//
// The body is the change's JSON envelope (format "envelope", see README's
// "The JSON envelope"; its options key_change, decimal, time, binary and
// envelope apply), or only the row (format "row": the after image, the
// before image of a delete, as the envelope's after object; DDL and
// TRUNCATE, which have no row, are not published). Each message carries
// content type application/json, persistent delivery mode, the headers
// op (c, u, d, t, ddl), db, table and position (the change's binary-log
// file:offset), and the message ID "<tx.id>:<tx.seq>", with ":<tx.part>"
// for a row a handler emitted: the same change always gets the same ID,
// so consumers drop what they have seen. Under key_change =
// "delete_create" an update of the key becomes two messages, ":d" and
// ":c" appended to their ID.
//
// Messages are published mandatory on a channel in confirm mode: one no
// queue takes, or one the broker refuses, fails the call with a retryable
// error, as does a lost connection; Puma publishes the batches again with
// backoff (max_failures, on_error). With declare, the exchange (when
// exchange_type is set) and the queue bound to it are declared durable
// before the first publish.
//
// Delivery is at least once, never exactly once: RabbitMQ cannot commit a
// publish together with Puma's position, so a batch published before a
// crash, or before a failure later in its call, is published again.
// exactly_once = true is refused. Within a queue, messages keep the
// binary log's order; a redelivery repeats a suffix of what was
// published, each message with its ID unchanged.
package amqp

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pumacdc/puma/plugins/internal/sinkcfg"
	"github.com/pumacdc/puma/plugins/internal/tmpl"
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/amqp"
	"github.com/pumacdc/puma/sdk/envelope"
)

type declareConfig struct {
	ExchangeType string `json:"exchange_type"`
	Queue        string `json:"queue"`
	BindingKey   string `json:"binding_key"`
}

type config struct {
	Target      string         `json:"target"`
	Exchange    string         `json:"exchange"`
	RoutingKey  *string        `json:"routing_key"`
	Format      string         `json:"format"`
	Declare     *declareConfig `json:"declare"`
	Timeout     string         `json:"timeout"`
	ExactlyOnce bool           `json:"exactly_once"`
	envelope.Config
}

type sender struct {
	cfg      config
	key      tmpl.Template // the routing key: {db}, {table}, {op}
	rows     bool
	enc      envelope.Encoder
	pub      amqp.Publisher
	declare  *amqp.Declaration
	declared bool

	body, id, rk []byte
	header       [4]amqp.Header
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
	var errs []error
	if c.ExactlyOnce {
		errs = append(errs, errors.New("config: exactly_once: builtin:amqp delivers at least once: RabbitMQ cannot commit a publish together with the position it reaches, so after a crash or a failed call a change may be published again; consumers drop duplicates by message ID (<tx.id>:<tx.seq>[:<tx.part>]). Remove exactly_once"))
	}
	row, flags, more := sinkcfg.Check("amqp", c.Target, c.Format, &c.Config, sinkcfg.Refusals{
		Markers:    "builtin:amqp publishes one message per change, and BEGIN/END markers belong to no change; each envelope's transaction field names its transaction",
		Tombstones: "tombstones serve Kafka's log compaction, which RabbitMQ does not have",
	})
	errs = append(errs, more...)
	s.rows, s.enc.Flags = row, flags
	key := "{db}.{table}"
	if c.RoutingKey != nil {
		key = *c.RoutingKey
	}
	var err error
	if s.key, err = tmpl.Parse("routing_key", key, "db", "table", "op"); err != nil {
		errs = append(errs, err)
	}
	if d := c.Declare; d != nil {
		if d.ExchangeType != "" && c.Exchange == "" {
			errs = append(errs, errors.New("config: declare.exchange_type: the default exchange (exchange = \"\") exists already; name an exchange to declare"))
		}
		if d.ExchangeType == "" && d.Queue == "" {
			errs = append(errs, errors.New("config: declare: set exchange_type, queue or both"))
		}
		switch d.ExchangeType {
		case "", "direct", "fanout", "topic", "headers":
		default:
			errs = append(errs, fmt.Errorf("config: declare.exchange_type %q: want direct, fanout, topic or headers", d.ExchangeType))
		}
		if d.BindingKey == "" && d.ExchangeType == "topic" {
			d.BindingKey = "#"
		}
		s.declare = &amqp.Declaration{Exchange: c.Exchange, Kind: d.ExchangeType, Queue: d.Queue, BindingKey: d.BindingKey}
	}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("config: timeout %q: want a duration such as \"30s\"", c.Timeout))
		}
		s.pub.Timeout = d
	}
	s.pub.Target = c.Target
	return errors.Join(errs...)
}

func (s *sender) routingKey(dst []byte, r *sdk.Row, op string) []byte {
	return s.key.Append(dst, func(dst []byte, f int) []byte {
		switch f {
		case 0:
			return append(dst, r.DB()...)
		case 1:
			return append(dst, r.TableName()...)
		}
		return append(dst, op...)
	})
}

func (s *sender) send(b *sdk.Batch) error {
	if err := s.publish(b); err != nil {
		s.pub.Reset()
		return fail(err)
	}
	return nil
}

func (s *sender) flush() error { return fail(s.pub.Publish()) }

// fail makes an error retrying cannot cure fatal.
func fail(err error) error {
	if errors.Is(err, amqp.ErrDenied) || errors.Is(err, amqp.ErrInvalid) || errors.Is(err, amqp.ErrLimit) {
		return sdk.Fatal(err)
	}
	return err
}

func (s *sender) publish(b *sdk.Batch) error {
	if b.Len() == 0 || !b.HasTx() {
		return nil
	}
	if s.declare != nil && !s.declared {
		if err := amqp.Declare(s.cfg.Target, *s.declare); err != nil {
			return err
		}
		s.declared = true
	}
	var lines []byte
	if !s.rows {
		lines = s.enc.Encode(b)
	}
	tx := b.Tx()
	for i := range b.Len() {
		r := b.Row(i)
		n := 1
		if !s.rows {
			n = s.enc.Envelopes(r)
		}
		for k := range n {
			op := r.Op().String()
			if n == 2 { // an update of the key, as a delete and a create
				op = [2]string{"d", "c"}[k]
			}
			if s.rows {
				t := r.Table()
				if t == nil || r.Op() == sdk.OpDDL || r.Op() == sdk.OpTruncate {
					continue
				}
				img := r.After()
				if r.Op() == sdk.OpDelete {
					img = r.Before()
				}
				s.body = envelope.AppendRow(s.body[:0], t, img, s.enc.Flags)
			} else {
				end := bytes.IndexByte(lines, '\n')
				if end < 0 {
					return sdk.Fatal(fmt.Errorf("amqp: the envelopes of batch %d end before change %d", b.Seq(), i))
				}
				s.body, lines = lines[:end], lines[end+1:]
			}
			s.id = append(s.id[:0], tx.ID...)
			s.id = append(s.id, ':')
			s.id = strconv.AppendUint(s.id, uint64(r.Seq()), 10)
			if p := r.Part(); p > 0 {
				s.id = append(s.id, ':')
				s.id = strconv.AppendUint(s.id, uint64(p), 10)
			}
			if n == 2 {
				s.id = append(s.id, ':')
				s.id = append(s.id, op...)
			}
			s.rk = s.routingKey(s.rk[:0], r, op)
			pos := r.File() + ":" + strconv.FormatUint(uint64(r.Pos()), 10)
			s.header = [4]amqp.Header{{Name: "op", Value: op}, {Name: "db", Value: r.DB()}, {Name: "table", Value: r.TableName()}, {Name: "position", Value: pos}}
			err := s.pub.Add(&amqp.Message{
				Exchange: s.cfg.Exchange, RoutingKey: string(s.rk), MessageID: string(s.id),
				ContentType: "application/json", Header: s.header[:], Body: s.body,
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}
