// Package http is the builtin:http sender: it POSTs the batches of each
// call to a URL as JSON change envelopes (the envelope builtin:jsonl
// writes), with an Idempotency-Key header naming what the request carries,
// and acknowledges the call once the server answered every request with a
// success status.
//
//	[secrets]
//	hook_token_env = "PUMA_HOOK_TOKEN"
//	hook_hmac_env = "PUMA_HOOK_HMAC"
//
//	[[task.sender]]
//	plugin = "builtin:http"
//	  [task.sender.config]
//	  url = "https://hooks.example.com/puma"
//	  format = "array"                    # or "ndjson"
//	  request = "call"                    # or "batch": one request per batch
//	  max_body = 1048576                  # bytes; at most 16 MiB
//	  markers = false
//	  headers = { "X-Team" = "data" }
//	  secret_headers = { Authorization = { secret = "hook_token", prefix = "Bearer " } }
//	  hmac = { secret = "hook_hmac", header = "X-Puma-Signature", prefix = "sha256=" }
//	  success = [200, 201, 202, 204]      # default: any 2xx
//	  retry = [408, 425, 429, 500, 502, 503, 504]   # default: 408, 425, 429 and any 5xx
//	  timeout = "10s"
//
// cmd/puma grants builtin:http the URL of its config and the secrets it
// names; a URL on loopback or a private network also needs
// grants = { allow_private = true }.
//
// The body is a JSON array of envelopes (format "array", Content-Type
// application/json) or one envelope per line (format "ndjson",
// application/x-ndjson); with markers, BEGIN and END objects frame
// each transaction. The envelope's options (key_change, tombstones,
// decimal, time, binary, envelope; see README's "The JSON envelope")
// apply; a tombstone is null, in the array or on its own line, right
// after the delete whose puma.key it clears.
//
// With request = "call" (the default) a call's batches (with group
// commit, the batches of many transactions) go in one request, in order:
// one array, or the lines one after the other. A body that would grow
// past max_body (default 1 MiB) is sent as it stands and the next batch
// starts another request; a request always carries whole batches, so a
// batch larger than max_body goes alone, and one larger than 16 MiB (the
// http capability's limit) is a fatal error. With request = "batch"
// each batch is a request of its own.
//
// A batch's key is "<tx id>:<first seq>-<last seq>" of its changes
// ("<tx id>:begin", ":commit" or ":begin-commit" for a batch of markers
// only); the Idempotency-Key of a request is its batch's key, or for a
// request of several batches "<first batch's key>..<last batch's key>".
// A call sent again (after an error) makes the same requests under the
// same keys. After a restart the same changes may come grouped in other
// calls, under other keys: a receiver de-duplicating exactly does so by
// each envelope's (tx.id, tx.seq, tx.part), or uses request = "batch",
// whose keys a restart does not change. idempotency_header renames the
// header, "" drops it.
//
// Every request must succeed for the call to be acknowledged. A status
// listed in retry, a failed connection or a timeout is a retryable error:
// Puma sends the call again with backoff (max_failures, on_error). Any
// other status is a fatal error (the server refused the data; sending it
// again would get the same answer). With hmac, the header carries prefix
// + the hex HMAC-SHA256 of the body keyed with the secret, computed by
// the host.
package http

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/envelope"
	"github.com/pumacdc/puma/sdk/http"
	"github.com/pumacdc/puma/sdk/secrets"
)

type secretHeader struct {
	Secret string `json:"secret"`
	Prefix string `json:"prefix"`
}

type hmacConfig struct {
	Secret string  `json:"secret"`
	Header string  `json:"header"`
	Prefix *string `json:"prefix"`
}

type config struct {
	URL               string                  `json:"url"`
	Method            string                  `json:"method"`
	Format            string                  `json:"format"`
	Headers           map[string]string       `json:"headers"`
	SecretHeaders     map[string]secretHeader `json:"secret_headers"`
	HMAC              *hmacConfig             `json:"hmac"`
	Success           []int                   `json:"success"`
	Retry             []int                   `json:"retry"`
	Timeout           string                  `json:"timeout"`
	IdempotencyHeader *string                 `json:"idempotency_header"`
	Request           string                  `json:"request"`
	MaxBody           *int                    `json:"max_body"`
	envelope.Config
}

// defaultMaxBody bounds a request's body unless max_body says otherwise:
// nginx's default client_max_body_size, so that a receiver behind a
// stock proxy takes it.
const defaultMaxBody = 1 << 20

type sender struct {
	host     Host
	macs     secrets.MACs
	cfg      config
	enc      envelope.Encoder
	header   []http.Header // fixed headers, sorted
	timeout  time.Duration
	idem     string
	perBatch bool // request = "batch"
	maxBody  int
	key      []byte

	// The request the current call is collecting: body holds the
	// envelopes of its n batches (format "array": "[" and each object
	// followed by ","), first and last the keys of its first and last
	// batch.
	body        []byte
	n           int
	first, last []byte
}

// Host is what the sender reaches outside its own code when Puma runs it
// compiled into its process (sdk.Instance) rather than as a module: the
// instance's http capability, MACs and envelope rendering. The zero Host
// is the module's imports.
type Host struct {
	HTTP      http.Host
	HMACBatch func(alg uint32, secret string, data, out []byte) error
	Envelope  func(free []byte, from int, opts uint32) (changes, written int, err error)
	// ReadColumns, with Envelope, is told in Init that the sender reads
	// no values itself (the key columns with key_change, to tell a key
	// changed), so that the host hands it no others.
	ReadColumns func(names []string, keys bool) error
}

// Plugin returns a fresh sender's functions, for sdk.Register.
func Plugin() sdk.Plugin { return New(Host{}) }

// New returns the functions of a fresh sender reaching h.
func New(h Host) sdk.Plugin {
	s := &sender{host: h}
	return sdk.Plugin{Init: s.init, Sender: s.send, Flush: s.flush}
}

func (s *sender) init(raw []byte) error {
	*s = sender{host: s.host}
	s.enc.Host, s.macs.Host = s.host.Envelope, s.host.HMACBatch
	if err := sdk.DecodeConfig(raw, &s.cfg); err != nil {
		return err
	}
	c := &s.cfg
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("config: url is required"))
	}
	switch c.Method {
	case "":
		c.Method = "POST"
	case "POST", "PUT", "PATCH":
	default:
		errs = append(errs, fmt.Errorf("config: method %q: want POST, PUT or PATCH", c.Method))
	}
	contentType := "application/json"
	switch c.Format {
	case "", "array":
		s.enc.Array = true
	case "ndjson":
		contentType = "application/x-ndjson"
	default:
		errs = append(errs, fmt.Errorf("config: format %q: want \"array\" or \"ndjson\"", c.Format))
	}
	flags, err := c.Flags()
	if err != nil {
		errs = append(errs, err)
	}
	s.enc.Markers, s.enc.Flags = c.Markers, flags
	s.header = append(s.header, http.Header{Name: "Content-Type", Value: contentType})
	for _, name := range sortedKeys(c.Headers) {
		if name == "Content-Type" {
			s.header[0].Value = c.Headers[name]
			continue
		}
		s.header = append(s.header, http.Header{Name: name, Value: c.Headers[name]})
	}
	for _, name := range sortedKeys(c.SecretHeaders) {
		sh := c.SecretHeaders[name]
		if sh.Secret == "" {
			errs = append(errs, fmt.Errorf("config: secret_headers.%s: secret is required", name))
		}
		s.header = append(s.header, http.Header{Name: name, Value: sh.Prefix, Secret: sh.Secret})
	}
	if h := c.HMAC; h != nil {
		if h.Secret == "" {
			errs = append(errs, errors.New("config: hmac.secret is required"))
		}
		if h.Header == "" {
			h.Header = "X-Puma-Signature"
		}
		if h.Prefix == nil {
			p := "sha256="
			h.Prefix = &p
		}
	}
	for _, code := range append(slices.Clone(c.Success), c.Retry...) {
		if code < 100 || code > 599 {
			errs = append(errs, fmt.Errorf("config: status %d is not an HTTP status", code))
		}
	}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("config: timeout %q: want a duration such as \"10s\"", c.Timeout))
		}
		s.timeout = d
	}
	s.idem = "Idempotency-Key"
	if c.IdempotencyHeader != nil {
		s.idem = *c.IdempotencyHeader
	}
	switch c.Request {
	case "", "call":
	case "batch":
		s.perBatch = true
	default:
		errs = append(errs, fmt.Errorf("config: request %q: want \"call\" or \"batch\"", c.Request))
	}
	s.maxBody = defaultMaxBody
	if c.MaxBody != nil {
		s.maxBody = *c.MaxBody
		if s.maxBody < 1 || s.maxBody > http.MaxBody {
			errs = append(errs, fmt.Errorf("config: max_body %d: want 1 to %d bytes (the http capability's limit)", s.maxBody, http.MaxBody))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return s.enc.DeclareRead(s.host.ReadColumns)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// idempotencyKey names the batch by what it carries, so the same batch
// read again gets the same key.
func idempotencyKey(dst []byte, b *sdk.Batch) []byte {
	dst = append(dst, b.Tx().ID...)
	dst = append(dst, ':')
	if n := b.Len(); n > 0 {
		dst = strconv.AppendUint(dst, uint64(b.Row(0).Seq()), 10)
		dst = append(dst, '-')
		return strconv.AppendUint(dst, uint64(b.Row(n-1).Seq()), 10)
	}
	_, commit := b.Commit()
	switch {
	case b.Begin() && commit:
		return append(dst, "begin-commit"...)
	case b.Begin():
		return append(dst, "begin"...)
	}
	return append(dst, "commit"...)
}

func (s *sender) success(status int) bool {
	if len(s.cfg.Success) > 0 {
		return slices.Contains(s.cfg.Success, status)
	}
	return status >= 200 && status < 300
}

func (s *sender) retryable(status int) bool {
	if len(s.cfg.Retry) > 0 {
		return slices.Contains(s.cfg.Retry, status)
	}
	return status == 408 || status == 425 || status == 429 || status >= 500
}

// send adds b's envelopes to the call's request, first sending the
// request as it stands when b would take it past max_body; with request
// = "batch" it sends b alone.
func (s *sender) send(b *sdk.Batch) error {
	if b.GroupIndex() == 0 {
		s.reset() // a new call: drop what a failed one left
	}
	data := s.enc.Encode(b)
	if len(data) == 0 {
		return nil // a position only, or no changes without markers
	}
	if s.perBatch {
		s.key = idempotencyKey(s.key[:0], b)
		return s.post(data, s.key)
	}
	if s.n > 0 && s.sizeWith(data) > s.maxBody {
		if err := s.postCollected(); err != nil {
			return err
		}
	}
	if !s.enc.Array {
		s.body = append(s.body, data...)
	} else {
		if s.n == 0 {
			s.body = append(s.body, '[')
		}
		s.body = append(s.body, data[1:len(data)-1]...)
		s.body = append(s.body, ',')
	}
	s.last = idempotencyKey(s.last[:0], b)
	if s.n == 0 {
		s.first = append(s.first[:0], s.last...)
	}
	s.n++
	return nil
}

// sizeWith returns the size the request's body would have with data, a
// batch's envelopes, added.
func (s *sender) sizeWith(data []byte) int {
	if s.enc.Array && s.n > 0 {
		return len(s.body) + len(data) - 1 // "[" goes, "]" becomes ","
	}
	return len(s.body) + len(data)
}

// flush sends the request the call collected.
func (s *sender) flush() error {
	if s.n == 0 {
		return nil
	}
	return s.postCollected()
}

// postCollected sends the request collected so far and starts another.
func (s *sender) postCollected() error {
	body := s.body
	if s.enc.Array {
		body[len(body)-1] = ']'
	}
	key := s.last
	if s.n > 1 {
		s.key = append(append(append(s.key[:0], s.first...), ".."...), s.last...)
		key = s.key
	}
	err := s.post(body, key)
	s.reset()
	return err
}

func (s *sender) reset() {
	s.body, s.n = s.body[:0], 0
}

// post sends one request of body under key.
func (s *sender) post(body, key []byte) error {
	req := &http.Request{Method: s.cfg.Method, URL: s.cfg.URL, Body: body, Timeout: s.timeout}
	req.Header = append(req.Header[:0], s.header...)
	if s.idem != "" {
		req.Header = append(req.Header, http.Header{Name: s.idem, Value: string(key)})
	}
	if h := s.cfg.HMAC; h != nil {
		s.macs.Reset()
		s.macs.Add(body)
		mac, err := s.macs.HMACSHA256(h.Secret, true)
		if err != nil {
			return sdk.Fatal(err)
		}
		req.Header = append(req.Header, http.Header{Name: h.Header, Value: *h.Prefix + string(mac)})
	}
	resp, err := http.DoOn(s.host.HTTP, req)
	switch {
	case errors.Is(err, http.ErrDenied), errors.Is(err, http.ErrLimit):
		return sdk.Fatal(err)
	case err != nil:
		return err
	case s.success(resp.Status):
		return nil
	case s.retryable(resp.Status):
		return fmt.Errorf("http: %s answered %d: %.200s", s.cfg.URL, resp.Status, resp.Body)
	}
	return sdk.Fatal(fmt.Errorf("http: %s answered %d: %.200s", s.cfg.URL, resp.Status, resp.Body))
}
