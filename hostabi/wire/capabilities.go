package wire

import (
	"encoding/binary"
	"strconv"
)

// Host functions of the http, secrets and kv capabilities (in
// ImportModule). hostabi/ABI.md section 6 describes them.
const (
	// ImportHTTPRequest is http_request(ptr, len u32) -> i64: performs the
	// HTTP request encoded at ptr (see HTTPRequest) and returns the length
	// of the response message, which ImportHTTPResponse then copies, or an
	// Errno. The host owns the connection: it checks the URL against the
	// grant, resolves the name, checks every address, and dials one of
	// them itself.
	ImportHTTPRequest = "http_request"
	// ImportHTTPResponse is http_response(ptr, cap u32) -> i32: copies at
	// most cap bytes of the last response message (see HTTPResponse) and
	// returns its full length.
	ImportHTTPResponse = "http_response"

	// ImportSecretHMAC is secret_hmac(alg u32, name_ptr, name_len u32,
	// data_ptr, data_len u32, out_ptr, out_cap u32) -> i32: writes the HMAC
	// of the data keyed with the named secret and returns its length. The
	// plugin never sees the key.
	ImportSecretHMAC = "secret_hmac"
	// ImportSecretHMACBatch is secret_hmac_batch(alg u32, name_ptr,
	// name_len u32, data_ptr, data_len u32, out_ptr, out_cap u32) -> i32:
	// secret_hmac for many values in one call. The data is a str (u32
	// length, bytes) per value, back to back; the host writes their MACs
	// in the same order, back to back, as hex digits when alg has
	// HMACHex, and returns the bytes written.
	ImportSecretHMACBatch = "secret_hmac_batch"

	// ImportKVGet is kv_get(key_ptr, key_len u32, out_ptr, out_cap u32) ->
	// i64: copies at most out_cap bytes of the key's value and returns its
	// full length, or ErrnoNotFound.
	ImportKVGet = "kv_get"
	// ImportKVPut is kv_put(key_ptr, key_len u32, val_ptr, val_len u32) ->
	// i32: sets the key's value.
	ImportKVPut = "kv_put"
	// ImportKVDelete is kv_delete(key_ptr, key_len u32) -> i32: removes the
	// key (removing a missing key succeeds).
	ImportKVDelete = "kv_delete"
)

// Capabilities of the host functions above, and the names of their grants.
const (
	CapHTTP    = "http"
	CapSecrets = "secrets"
	CapKV      = "kv"
	// CapAMQP is the amqp capability, and the kind of its [targets].
	CapAMQP = "amqp"
)

// capabilities maps every host function to its capability ("" for the
// functions every plugin may import).
var capabilities = map[string]string{
	ImportLog:             "",
	ImportLastError:       "",
	ImportSafepoint:       "",
	ImportEnvelope:        "",
	ImportGroupBatch:      "",
	ImportAppliedPosition: "",
	ImportCommitPosition:  "",
	ImportFileOpen:        CapFiles,
	ImportFileWrite:       CapFiles,
	ImportFileSync:        CapFiles,
	ImportFileSize:        CapFiles,
	ImportFileTruncate:    CapFiles,
	ImportFileRotate:      CapFiles,
	ImportFileClose:       CapFiles,
	ImportStdoutWrite:     CapStdout,
	ImportHTTPRequest:     CapHTTP,
	ImportHTTPResponse:    CapHTTP,
	ImportSecretHMAC:      CapSecrets,
	ImportSecretHMACBatch: CapSecrets,
	ImportKVGet:           CapKV,
	ImportKVPut:           CapKV,
	ImportKVDelete:        CapKV,
	ImportSQLCall:         CapSQL,
	ImportSQLResult:       CapSQL,
	ImportRedisExec:       CapRedis,
	ImportRedisReply:      CapRedis,
	ImportKafkaProduce:    CapKafka,
	ImportKafkaTxn:        CapKafka,
	ImportKafkaLast:       CapKafka,
	ImportKafkaResult:     CapKafka,
	ImportAMQPPublish:     CapAMQP,
	ImportAMQPDeclare:     CapAMQP,
}

// More host function error codes.
const (
	// ErrnoNotFound: kv_get found no such key.
	ErrnoNotFound Errno = -5
	// ErrnoLimit: a size or time limit of the capability was exceeded (a
	// request body, a kv value, the kv store).
	ErrnoLimit Errno = -6
	// ErrnoRemote: the remote end failed (connection refused, reset, TLS
	// verification, timeout): retrying later may succeed.
	ErrnoRemote Errno = -7
)

// HMAC algorithms for ImportSecretHMAC and ImportSecretHMACBatch.
const (
	HMACSHA256 = 1
	HMACSHA512 = 2
	// HMACHex, or'ed into the algorithm of ImportSecretHMACBatch, asks for
	// each MAC as lower-case hex digits (twice its bytes).
	HMACHex = 0x100
)

// HTTPHeader is one header of a request or a response. In a request, a
// non-empty Secret names a secret granted to the plugin: the host sends
// Value followed by the secret's value ("Bearer " + token), and the plugin
// never sees it.
type HTTPHeader struct {
	Name, Value, Secret string
}

// HTTPRequest is the message a plugin passes to ImportHTTPRequest.
//
//	u8  version = 1
//	u8  u16 reserved
//	str method
//	str url
//	u32 timeout in milliseconds (0: the host's default)
//	u16 header count
//	  str name
//	  str value
//	  str secret        "" or the name of a granted secret appended to value
//	u16 reserved
//	str body
type HTTPRequest struct {
	Method, URL string
	TimeoutMS   uint32
	Header      []HTTPHeader
	Body        []byte
}

// HTTPMessageVersion is the version byte of HTTP request messages.
const HTTPMessageVersion = 1

// HTTPMaxBody bounds a request's body, which the host enforces.
const HTTPMaxBody = 16 << 20

// AppendHTTPRequest appends the encoding of r to dst.
func AppendHTTPRequest(dst []byte, r *HTTPRequest) []byte {
	dst = append(dst, HTTPMessageVersion, 0, 0, 0)
	dst = appendStr(dst, r.Method)
	dst = appendStr(dst, r.URL)
	dst = binary.LittleEndian.AppendUint32(dst, r.TimeoutMS)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(r.Header)))
	for _, h := range r.Header {
		dst = appendStr(dst, h.Name)
		dst = appendStr(dst, h.Value)
		dst = appendStr(dst, h.Secret)
	}
	dst = append(dst, 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Body)))
	return append(dst, r.Body...)
}

// ParseHTTPRequest decodes a request message; its strings are copies, the
// body views b.
func ParseHTTPRequest(b []byte) (HTTPRequest, error) {
	r := reader{b: b}
	var q HTTPRequest
	if v := r.u8("version"); r.err == nil && v != HTTPMessageVersion {
		r.off--
		r.fail("unknown request version " + strconv.Itoa(int(v)))
	}
	r.u8("reserved")
	r.u16("reserved")
	q.Method = string(r.bytes("method"))
	q.URL = string(r.bytes("url"))
	q.TimeoutMS = r.u32("timeout")
	n := r.u16("header count")
	for i := 0; i < int(n) && r.err == nil; i++ {
		h := HTTPHeader{Name: string(r.bytes("header name")), Value: string(r.bytes("header value")), Secret: string(r.bytes("header secret"))}
		q.Header = append(q.Header, h)
	}
	r.u16("reserved")
	q.Body = r.bytes("body")
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the body")
	}
	return q, r.error()
}

// HTTPResponse is the message ImportHTTPResponse copies out.
//
//	u16 status
//	u8  flags: 1 the body was cut at the host's limit
//	u8  reserved
//	u16 header count
//	  str name
//	  str value
//	str body
type HTTPResponse struct {
	Status    uint16
	Truncated bool
	Header    []HTTPHeader // Secret is unused
	Body      []byte
}

// HTTPBodyTruncated is the response flag for a body cut at the limit.
const HTTPBodyTruncated = 1

// AppendHTTPResponse appends the encoding of r to dst.
func AppendHTTPResponse(dst []byte, r *HTTPResponse) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, r.Status)
	var flags uint8
	if r.Truncated {
		flags |= HTTPBodyTruncated
	}
	dst = append(dst, flags, 0)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(r.Header)))
	for _, h := range r.Header {
		dst = appendStr(dst, h.Name)
		dst = appendStr(dst, h.Value)
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Body)))
	return append(dst, r.Body...)
}

// ParseHTTPResponse decodes a response message; its strings are copies,
// the body views b.
func ParseHTTPResponse(b []byte) (HTTPResponse, error) {
	r := reader{b: b}
	var p HTTPResponse
	p.Status = r.u16("status")
	p.Truncated = r.u8("flags")&HTTPBodyTruncated != 0
	r.u8("reserved")
	n := r.u16("header count")
	for i := 0; i < int(n) && r.err == nil; i++ {
		p.Header = append(p.Header, HTTPHeader{Name: string(r.bytes("header name")), Value: string(r.bytes("header value"))})
	}
	p.Body = r.bytes("body")
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the body")
	}
	return p, r.error()
}

// EncodeKV encodes a key-value state deterministically: u32 count, then
// str key, str value per entry, keys in increasing order. keys must be
// sorted.
func EncodeKV(keys []string, get func(string) []byte) []byte {
	n := 4
	for _, k := range keys {
		n += 8 + len(k) + len(get(k))
	}
	dst := make([]byte, 0, n)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(keys)))
	for _, k := range keys {
		dst = appendStr(dst, k)
		v := get(k)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

// DecodeKV decodes what EncodeKV wrote, calling put for each entry (the
// value views b).
func DecodeKV(b []byte, put func(key string, value []byte)) error {
	r := reader{b: b}
	n := r.u32("entry count")
	for i := uint32(0); i < n && r.err == nil; i++ {
		k := r.bytes("key")
		v := r.bytes("value")
		if r.err == nil {
			put(string(k), v)
		}
	}
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the entries")
	}
	return r.error()
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}
