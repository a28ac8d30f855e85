package wire

import (
	"encoding/binary"
	"strconv"
)

// Host functions of the amqp capability (RabbitMQ and other AMQP 0-9-1
// brokers), in ImportModule. hostabi/ABI.md section 6 describes them.
const (
	// ImportAMQPPublish is amqp_publish(ptr, len u32) -> i64: publishes the
	// messages of the AMQPPublish message at ptr to the named target, on a
	// channel in confirm mode with the mandatory flag, and returns once the
	// broker confirmed every one: the number of messages, or an Errno
	// (ErrnoRemote for a nack, a returned (unroutable) message, a lost
	// connection or a timeout).
	ImportAMQPPublish = "amqp_publish"
	// ImportAMQPDeclare is amqp_declare(ptr, len u32) -> i32: declares the
	// exchange and queue of the AMQPDeclare message at ptr (durable, as
	// the broker keeps them across restarts) and binds them.
	ImportAMQPDeclare = "amqp_declare"
)

// Limits of a publish call, which the host enforces.
const (
	// AMQPMaxMessages bounds the messages of one publish call.
	AMQPMaxMessages = 1024
	// AMQPMaxBytes bounds a publish message (bodies, headers, keys).
	AMQPMaxBytes = 16 << 20
	// AMQPMaxString bounds an exchange, routing key, message id, content
	// type, queue or header name: AMQP's short strings.
	AMQPMaxString = 255
)

// AMQPMessageVersion is the version byte of amqp messages.
const AMQPMessageVersion = 1

// AMQPTransient is the message flag for delivery mode 1 (transient): the
// broker may lose the message in a restart. Without it a message is
// persistent (delivery mode 2).
const AMQPTransient = 1

// AMQPHeader is one header (an AMQP table entry) of a message, a string.
type AMQPHeader struct{ Name, Value string }

// AMQPMessage is one message of an AMQPPublish.
type AMQPMessage struct {
	Exchange, RoutingKey string
	// MessageID and ContentType are the message's properties ("" for
	// none).
	MessageID, ContentType string
	Flags                  uint8 // AMQPTransient
	Header                 []AMQPHeader
	Body                   []byte
}

// AMQPPublish is the message a plugin passes to ImportAMQPPublish.
//
//	u8  version = 1
//	u8  u16 reserved
//	str target          the name of a granted [targets] table of kind amqp
//	u32 timeout in milliseconds (0: the target's publish_timeout)
//	u32 message count
//	  str exchange
//	  str routing key
//	  str message id
//	  str content type
//	  u8  flags: 1 transient
//	  u8  u16 reserved
//	  u16 header count
//	    str name
//	    str value
//	  str body
type AMQPPublish struct {
	Target    string
	TimeoutMS uint32
	Messages  []AMQPMessage
}

// StartAMQPPublish appends the start of a publish message without
// messages to dst, which must be empty (the message starts at dst[0]):
// AppendAMQPMessage then adds them one at a time.
func StartAMQPPublish(dst []byte, target string, timeoutMS uint32) []byte {
	dst = append(dst, AMQPMessageVersion, 0, 0, 0)
	dst = appendStr(dst, target)
	dst = binary.LittleEndian.AppendUint32(dst, timeoutMS)
	return binary.LittleEndian.AppendUint32(dst, 0)
}

// AMQPCount returns the number of messages of msg, a publish message
// StartAMQPPublish started.
func AMQPCount(msg []byte) uint32 {
	return binary.LittleEndian.Uint32(msg[amqpCountAt(msg):])
}

func amqpCountAt(msg []byte) int { return 8 + int(binary.LittleEndian.Uint32(msg[4:])) + 4 }

// AppendAMQPMessage appends m to msg, a publish message StartAMQPPublish
// started, and counts it.
func AppendAMQPMessage(msg []byte, m *AMQPMessage) []byte {
	at := amqpCountAt(msg)
	binary.LittleEndian.PutUint32(msg[at:], binary.LittleEndian.Uint32(msg[at:])+1)
	return appendAMQPMessage(msg, m)
}

func appendAMQPMessage(msg []byte, m *AMQPMessage) []byte {
	msg = appendStr(msg, m.Exchange)
	msg = appendStr(msg, m.RoutingKey)
	msg = appendStr(msg, m.MessageID)
	msg = appendStr(msg, m.ContentType)
	msg = append(msg, m.Flags, 0, 0, 0)
	msg = binary.LittleEndian.AppendUint16(msg, uint16(len(m.Header)))
	for _, h := range m.Header {
		msg = appendStr(msg, h.Name)
		msg = appendStr(msg, h.Value)
	}
	msg = binary.LittleEndian.AppendUint32(msg, uint32(len(m.Body)))
	return append(msg, m.Body...)
}

// AppendAMQPPublish appends the encoding of p to dst.
func AppendAMQPPublish(dst []byte, p *AMQPPublish) []byte {
	dst = append(dst, AMQPMessageVersion, 0, 0, 0)
	dst = appendStr(dst, p.Target)
	dst = binary.LittleEndian.AppendUint32(dst, p.TimeoutMS)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p.Messages)))
	for i := range p.Messages {
		dst = appendAMQPMessage(dst, &p.Messages[i])
	}
	return dst
}

// ParseAMQPPublish decodes a publish message; its strings are copies,
// the bodies view b.
func ParseAMQPPublish(b []byte) (AMQPPublish, error) {
	r := reader{b: b}
	var p AMQPPublish
	amqpVersion(&r)
	p.Target = string(r.bytes("target"))
	p.TimeoutMS = r.u32("timeout")
	n := r.u32("message count")
	// Every message takes at least 26 bytes: a count the rest cannot hold
	// ends the loop with an error, not an allocation.
	for i := uint32(0); i < n && r.err == nil; i++ {
		var m AMQPMessage
		m.Exchange = string(r.bytes("exchange"))
		m.RoutingKey = string(r.bytes("routing key"))
		m.MessageID = string(r.bytes("message id"))
		m.ContentType = string(r.bytes("content type"))
		m.Flags = r.u8("flags")
		if m.Flags&^AMQPTransient != 0 && r.err == nil {
			r.off--
			r.fail("unknown message flags " + strconv.Itoa(int(m.Flags)))
		}
		r.u8("reserved")
		r.u16("reserved")
		hn := r.u16("header count")
		for j := 0; j < int(hn) && r.err == nil; j++ {
			m.Header = append(m.Header, AMQPHeader{Name: string(r.bytes("header name")), Value: string(r.bytes("header value"))})
		}
		m.Body = r.bytes("body")
		if r.err == nil {
			p.Messages = append(p.Messages, m)
		}
	}
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the messages")
	}
	return p, r.error()
}

func amqpVersion(r *reader) {
	if v := r.u8("version"); r.err == nil && v != AMQPMessageVersion {
		r.off--
		r.fail("unknown message version " + strconv.Itoa(int(v)))
	}
	r.u8("reserved")
	r.u16("reserved")
}

// AMQPDeclare is the message a plugin passes to ImportAMQPDeclare.
//
//	u8  version = 1
//	u8  u16 reserved
//	str target
//	str exchange        "" for none (the default exchange)
//	str exchange kind   direct, fanout, topic or headers; "" does not declare the exchange
//	str queue           "" for none
//	str binding key     binds the queue to the exchange when both are named
type AMQPDeclare struct {
	Target            string
	Exchange, Kind    string
	Queue, BindingKey string
}

// AppendAMQPDeclare appends the encoding of d to dst.
func AppendAMQPDeclare(dst []byte, d *AMQPDeclare) []byte {
	dst = append(dst, AMQPMessageVersion, 0, 0, 0)
	dst = appendStr(dst, d.Target)
	dst = appendStr(dst, d.Exchange)
	dst = appendStr(dst, d.Kind)
	dst = appendStr(dst, d.Queue)
	return appendStr(dst, d.BindingKey)
}

// ParseAMQPDeclare decodes a declare message.
func ParseAMQPDeclare(b []byte) (AMQPDeclare, error) {
	r := reader{b: b}
	var d AMQPDeclare
	amqpVersion(&r)
	d.Target = string(r.bytes("target"))
	d.Exchange = string(r.bytes("exchange"))
	d.Kind = string(r.bytes("exchange kind"))
	d.Queue = string(r.bytes("queue"))
	d.BindingKey = string(r.bytes("binding key"))
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the binding key")
	}
	return d, r.error()
}
