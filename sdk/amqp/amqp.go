// Package amqp is the amqp capability: publishing to RabbitMQ (or another
// AMQP 0-9-1 broker) named by a [targets.NAME] table of kind "amqp" that
// the plugin is granted (grants = { amqp = ["rabbit"] }). Importing it
// makes the module need the grant.
//
// The host owns the connection: the plugin names the target, never sees
// its address or password, and hands the host a batch of messages. The
// host publishes them on a channel in confirm mode, each with the
// mandatory flag, and Publish returns once the broker confirmed every
// one. A message the broker refuses (nack) or returns because no queue
// takes it (unroutable) fails the call, as does a lost connection or a
// timeout; the broker may then hold some of the batch, so a sender that
// retries delivers at least once, never exactly once (RabbitMQ cannot
// commit a publish together with anything else). Give each message an ID
// that stays the same when it is published again, so that consumers can
// drop the duplicates.
//
// Outside Wasm (in unit tests) the capability calls the functions set
// with sdktest.AMQP.
package amqp

import (
	"strconv"
	"time"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

// Errors a call may wrap (test with errors.Is).
var (
	// ErrDenied: the target is not granted. Retrying will not help.
	ErrDenied error = wire.ErrnoDenied
	// ErrInvalid: the host refuses the message (a name longer than 255
	// bytes, an unknown exchange kind). Retrying will not help.
	ErrInvalid error = wire.ErrnoInvalid
	// ErrLimit: the batch exceeds the host's limits.
	ErrLimit error = wire.ErrnoLimit
	// ErrRemote: the connection failed or timed out, or the broker
	// refused or returned a message. Retrying later may help.
	ErrRemote error = wire.ErrnoRemote
)

// Limits of one Publish: Add publishes what the Publisher holds before a
// message that would exceed them.
const (
	MaxMessages = wire.AMQPMaxMessages
	MaxBytes    = wire.AMQPMaxBytes
)

// Header is a message header; the host sends its value as an AMQP
// string.
type Header struct{ Name, Value string }

// Message is a message to publish.
type Message struct {
	// Exchange is the exchange to publish to ("" is the default exchange,
	// which routes by queue name); RoutingKey its routing key.
	Exchange, RoutingKey string
	// MessageID and ContentType are the message's properties.
	MessageID, ContentType string
	// Transient publishes with delivery mode 1, which the broker may lose
	// in a restart; by default messages are persistent (mode 2).
	Transient bool
	Header    []Header
	Body      []byte
}

// Publisher collects messages for one target and publishes them in one
// call. It is not safe for concurrent use (a plugin instance never is).
type Publisher struct {
	// Target names the [targets] table to publish to.
	Target string
	// Timeout bounds each Publish (0: the target's publish_timeout; the
	// host caps it at 5 minutes, and the plugin's timeout bounds the
	// call too).
	Timeout time.Duration

	msg []byte
}

// Len returns the number of messages waiting for Publish.
func (p *Publisher) Len() int {
	if len(p.msg) == 0 {
		return 0
	}
	return int(wire.AMQPCount(p.msg))
}

// Add adds m to the messages the next Publish sends; the Publisher copies
// m. When m would take the batch over MaxMessages or MaxBytes, Add first
// publishes what it holds, and returns that Publish's error (m is then
// not added).
func (p *Publisher) Add(m *Message) error {
	size := 26 + len(m.Exchange) + len(m.RoutingKey) + len(m.MessageID) + len(m.ContentType) + len(m.Body)
	for _, h := range m.Header {
		size += 8 + len(h.Name) + len(h.Value)
	}
	if size+p.start() > MaxBytes {
		return &host.Error{Op: "amqp: publish to " + p.Target, Errno: wire.ErrnoLimit, Msg: "a message of " + strconv.Itoa(size) + " bytes exceeds the limit of a publish"}
	}
	if n := p.Len(); n > 0 && (n >= MaxMessages || len(p.msg)+size > MaxBytes) {
		if err := p.Publish(); err != nil {
			return err
		}
	}
	if len(p.msg) == 0 {
		p.msg = wire.StartAMQPPublish(p.msg[:0], p.Target, timeoutMS(p.Timeout))
	}
	w := wire.AMQPMessage{Exchange: m.Exchange, RoutingKey: m.RoutingKey, MessageID: m.MessageID, ContentType: m.ContentType, Body: m.Body}
	if m.Transient {
		w.Flags = wire.AMQPTransient
	}
	if len(m.Header) > 0 {
		w.Header = make([]wire.AMQPHeader, len(m.Header))
		for i, h := range m.Header {
			w.Header[i] = wire.AMQPHeader(h)
		}
	}
	p.msg = wire.AppendAMQPMessage(p.msg, &w)
	return nil
}

func (p *Publisher) start() int { return 16 + len(p.Target) }

// Publish publishes the messages added since the last Publish and returns
// once the broker confirmed them all; it forgets them whatever the
// outcome. It does nothing when there are none.
func (p *Publisher) Publish() error {
	if p.Len() == 0 {
		return nil
	}
	err := publish(p.Target, p.msg)
	p.msg = p.msg[:0]
	return err
}

// Reset forgets the messages added since the last Publish.
func (p *Publisher) Reset() { p.msg = p.msg[:0] }

func timeoutMS(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	return uint32(max(1, min(d, time.Hour)/time.Millisecond))
}

// Declaration is what Declare makes sure exists on the broker, durable.
type Declaration struct {
	// Exchange is declared when Kind (direct, fanout, topic or headers)
	// is set.
	Exchange, Kind string
	// Queue is declared when named, and bound to Exchange with
	// BindingKey when both are named.
	Queue, BindingKey string
}

// Declare declares what d names on the target (durable exchange and
// queue, and the binding): declaring what exists with the same settings
// changes nothing. The host does it once per connection.
func Declare(target string, d Declaration) error {
	return declare(wire.AppendAMQPDeclare(nil, &wire.AMQPDeclare{Target: target, Exchange: d.Exchange, Kind: d.Kind, Queue: d.Queue, BindingKey: d.BindingKey}))
}
