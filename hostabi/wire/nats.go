package wire

import (
	"encoding/binary"
	"strconv"
)

// Host functions of the nats capability (in ImportModule), which reaches
// the NATS JetStream servers of the [targets] tables of kind "nats" that
// the plugin is granted. hostabi/ABI.md section 6 describes them.
const (
	// ImportNATSPublish is nats_publish(ptr, len u32) -> i64: publishes
	// the messages of the NATSPublish message at ptr asynchronously, waits
	// for every acknowledgement (or the timeout), and returns the length
	// of the NATSAcks message, one result per message, which
	// ImportNATSResult then copies; or an Errno for the whole call.
	ImportNATSPublish = "nats_publish"
	// ImportNATSLast is nats_last(ptr, len u32) -> i64: reads the last
	// message a stream holds on a subject (NATSLast) and returns the
	// length of the NATSStored message ImportNATSResult then copies, or
	// ErrnoNotFound when the stream or the message does not exist.
	ImportNATSLast = "nats_last"
	// ImportNATSStream is nats_stream(ptr, len u32) -> i32: makes sure the
	// stream of the NATSStream message exists, creating it when it does
	// not (an existing stream is left as it is). Returns 0 or an Errno.
	ImportNATSStream = "nats_stream"
	// ImportNATSResult is nats_result(ptr, cap u32) -> i32: copies at
	// most cap bytes of the result of the instance's last nats_publish or
	// nats_last and returns its full length.
	ImportNATSResult = "nats_result"
)

// CapNATS is the capability of the nats functions, and the kind of the
// targets it reaches.
const CapNATS = "nats"

func init() {
	for _, name := range []string{ImportNATSPublish, ImportNATSLast, ImportNATSStream, ImportNATSResult} {
		capabilities[name] = CapNATS
	}
}

// NATSMessageVersion is the version byte of nats request messages.
const NATSMessageVersion = 1

// NATSHeader is one header of a message; a name may repeat.
type NATSHeader struct{ Name, Value string }

// NATSMsg is one message to publish. A non-empty MsgID is sent as the
// Nats-Msg-Id header: JetStream stores a message once per ID within the
// stream's duplicates window.
type NATSMsg struct {
	Subject string
	MsgID   string
	Header  []NATSHeader
	Data    []byte
}

// NATSPublish is the message a plugin passes to ImportNATSPublish.
//
//	u8  version = 1
//	u8  u16 reserved
//	str target       name of a granted [targets] table of kind nats
//	str stream       "" or the stream every message must be stored by
//	u32 timeout in milliseconds (0: the target's publish_timeout)
//	u32 message count
//	  str subject
//	  str msg id     "" for none
//	  u16 header count
//	    str name
//	    str value
//	  str data
type NATSPublish struct {
	Target, Stream string
	TimeoutMS      uint32
	Msgs           []NATSMsg
}

// AppendNATSPublish appends the encoding of p to dst.
func AppendNATSPublish(dst []byte, p *NATSPublish) []byte {
	dst = append(dst, NATSMessageVersion, 0, 0, 0)
	dst = appendStr(dst, p.Target)
	dst = appendStr(dst, p.Stream)
	dst = binary.LittleEndian.AppendUint32(dst, p.TimeoutMS)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p.Msgs)))
	for i := range p.Msgs {
		m := &p.Msgs[i]
		dst = appendStr(dst, m.Subject)
		dst = appendStr(dst, m.MsgID)
		dst = appendNATSHeader(dst, m.Header)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(m.Data)))
		dst = append(dst, m.Data...)
	}
	return dst
}

func appendNATSHeader(dst []byte, h []NATSHeader) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(h)))
	for _, x := range h {
		dst = appendStr(dst, x.Name)
		dst = appendStr(dst, x.Value)
	}
	return dst
}

func (r *reader) natsHeader() []NATSHeader {
	n := r.u16("header count")
	var h []NATSHeader
	for i := 0; i < int(n) && r.err == nil; i++ {
		h = append(h, NATSHeader{Name: string(r.bytes("header name")), Value: string(r.bytes("header value"))})
	}
	return h
}

// natsVersion reads the version byte and the three reserved bytes.
func (r *reader) natsVersion() {
	if v := r.u8("version"); r.err == nil && v != NATSMessageVersion {
		r.off--
		r.fail("unknown message version " + strconv.Itoa(int(v)))
	}
	r.u8("reserved")
	r.u16("reserved")
}

// ParseNATSPublish decodes a publish message; its strings are copies, the
// data views b. It allocates no more messages than b can hold.
func ParseNATSPublish(b []byte) (NATSPublish, error) {
	r := reader{b: b}
	var p NATSPublish
	r.natsVersion()
	p.Target = string(r.bytes("target"))
	p.Stream = string(r.bytes("stream"))
	p.TimeoutMS = r.u32("timeout")
	n := r.u32("message count")
	// A message takes at least 14 bytes: three lengths and a header count.
	if r.err == nil && uint64(n)*14 > uint64(len(b)-r.off) {
		r.fail("message count " + strconv.Itoa(int(n)) + " exceeds what the message holds")
	}
	if r.err == nil {
		p.Msgs = make([]NATSMsg, 0, n)
	}
	for i := 0; i < int(n) && r.err == nil; i++ {
		var m NATSMsg
		m.Subject = string(r.bytes("subject"))
		m.MsgID = string(r.bytes("msg id"))
		m.Header = r.natsHeader()
		m.Data = r.bytes("data")
		p.Msgs = append(p.Msgs, m)
	}
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the messages")
	}
	return p, r.error()
}

// NATSAck is the result of publishing one message: Errno 0 when the
// stream stored it (Duplicate when it already held a message with its
// ID), else why not, in Error.
type NATSAck struct {
	Errno     Errno
	Duplicate bool
	Stream    string
	Seq       uint64
	Error     string
}

// NATSDuplicate is the ack flag of a message the stream already held.
const NATSDuplicate = 1

// AppendNATSAcks appends the NATSAcks message, one result per message in
// publish order:
//
//	u32 count
//	  i32 errno      0: stored
//	  u8  flags      1: a duplicate (the stream already held its msg id)
//	  u8  u16 reserved
//	  u64 stream sequence
//	  str stream
//	  str error      "" when stored
func AppendNATSAcks(dst []byte, acks []NATSAck) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(acks)))
	for _, a := range acks {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(a.Errno))
		var flags uint8
		if a.Duplicate {
			flags |= NATSDuplicate
		}
		dst = append(dst, flags, 0, 0, 0)
		dst = binary.LittleEndian.AppendUint64(dst, a.Seq)
		dst = appendStr(dst, a.Stream)
		dst = appendStr(dst, a.Error)
	}
	return dst
}

// ParseNATSAcks decodes what AppendNATSAcks wrote.
func ParseNATSAcks(b []byte) ([]NATSAck, error) {
	r := reader{b: b}
	n := r.u32("ack count")
	// An ack takes at least 24 bytes.
	if r.err == nil && uint64(n)*24 > uint64(len(b)-r.off) {
		r.fail("ack count " + strconv.Itoa(int(n)) + " exceeds what the message holds")
	}
	var acks []NATSAck
	if r.err == nil {
		acks = make([]NATSAck, 0, n)
	}
	for i := 0; i < int(n) && r.err == nil; i++ {
		var a NATSAck
		a.Errno = Errno(int32(r.u32("errno")))
		a.Duplicate = r.u8("flags")&NATSDuplicate != 0
		r.u8("reserved")
		r.u16("reserved")
		a.Seq = r.u64("sequence")
		a.Stream = string(r.bytes("stream"))
		a.Error = string(r.bytes("error"))
		acks = append(acks, a)
	}
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the acks")
	}
	return acks, r.error()
}

// NATSLast is the message a plugin passes to ImportNATSLast.
//
//	u8  version = 1
//	u8  u16 reserved
//	str target
//	str stream       "" to find the stream by the subject
//	str subject
//	u32 timeout in milliseconds (0: the target's publish_timeout)
type NATSLast struct {
	Target, Stream, Subject string
	TimeoutMS               uint32
}

// AppendNATSLast appends the encoding of q to dst.
func AppendNATSLast(dst []byte, q *NATSLast) []byte {
	dst = append(dst, NATSMessageVersion, 0, 0, 0)
	dst = appendStr(dst, q.Target)
	dst = appendStr(dst, q.Stream)
	dst = appendStr(dst, q.Subject)
	return binary.LittleEndian.AppendUint32(dst, q.TimeoutMS)
}

// ParseNATSLast decodes a nats_last request.
func ParseNATSLast(b []byte) (NATSLast, error) {
	r := reader{b: b}
	var q NATSLast
	r.natsVersion()
	q.Target = string(r.bytes("target"))
	q.Stream = string(r.bytes("stream"))
	q.Subject = string(r.bytes("subject"))
	q.TimeoutMS = r.u32("timeout")
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the timeout")
	}
	return q, r.error()
}

// NATSStored is a message read back from a stream, the result of
// ImportNATSLast.
//
//	u64 stream sequence
//	i64 time stored, nanoseconds since the epoch
//	str subject
//	u16 header count
//	  str name
//	  str value
//	str data
type NATSStored struct {
	Seq     uint64
	TimeNS  int64
	Subject string
	Header  []NATSHeader
	Data    []byte
}

// AppendNATSStored appends the encoding of m to dst.
func AppendNATSStored(dst []byte, m *NATSStored) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, m.Seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(m.TimeNS))
	dst = appendStr(dst, m.Subject)
	dst = appendNATSHeader(dst, m.Header)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(m.Data)))
	return append(dst, m.Data...)
}

// ParseNATSStored decodes what AppendNATSStored wrote; its strings are
// copies, the data views b.
func ParseNATSStored(b []byte) (NATSStored, error) {
	r := reader{b: b}
	var m NATSStored
	m.Seq = r.u64("sequence")
	m.TimeNS = int64(r.u64("time"))
	m.Subject = string(r.bytes("subject"))
	m.Header = r.natsHeader()
	m.Data = r.bytes("data")
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the data")
	}
	return m, r.error()
}

// NATSStream is the message a plugin passes to ImportNATSStream.
//
//	u8  version = 1
//	u8  u16 reserved
//	str target
//	str name
//	u16 subject count
//	  str subject     may hold wildcards (puma.*.*, puma.>)
//	u32 duplicates window in milliseconds (0: the server's default, 2 min)
//	u32 timeout in milliseconds (0: the target's publish_timeout)
type NATSStream struct {
	Target, Name string
	Subjects     []string
	DuplicatesMS uint32
	TimeoutMS    uint32
}

// AppendNATSStream appends the encoding of s to dst.
func AppendNATSStream(dst []byte, s *NATSStream) []byte {
	dst = append(dst, NATSMessageVersion, 0, 0, 0)
	dst = appendStr(dst, s.Target)
	dst = appendStr(dst, s.Name)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(s.Subjects)))
	for _, x := range s.Subjects {
		dst = appendStr(dst, x)
	}
	dst = binary.LittleEndian.AppendUint32(dst, s.DuplicatesMS)
	return binary.LittleEndian.AppendUint32(dst, s.TimeoutMS)
}

// ParseNATSStream decodes a nats_stream request.
func ParseNATSStream(b []byte) (NATSStream, error) {
	r := reader{b: b}
	var s NATSStream
	r.natsVersion()
	s.Target = string(r.bytes("target"))
	s.Name = string(r.bytes("name"))
	n := r.u16("subject count")
	for i := 0; i < int(n) && r.err == nil; i++ {
		s.Subjects = append(s.Subjects, string(r.bytes("subject")))
	}
	s.DuplicatesMS = r.u32("duplicates window")
	s.TimeoutMS = r.u32("timeout")
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the timeout")
	}
	return s, r.error()
}
