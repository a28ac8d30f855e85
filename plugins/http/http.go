// Package http is the builtin:http sender: it POSTs each batch to a URL as
// JSON change envelopes (the envelope builtin:jsonl writes), with an
// Idempotency-Key header that stays the same when the batch is sent again
// (after an error, or after a restart), and acknowledges the batch once
// the server answers with a success status.
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
// after the delete whose puma.key it clears. Idempotency-Key is "<tx id>:<first seq>-<last seq>"
// of the batch's changes ("<tx id>:begin", ":commit" or ":begin-commit"
// for a batch of markers only); idempotency_header renames it, "" drops
// it.
//
// A success status acknowledges the batch. A status listed in retry, a
// failed connection or a timeout is a retryable error: Puma sends the
// batch again with backoff (max_failures, on_error). Any other status is
// a fatal error (the server refused the data; sending it again would get
// the same answer). With hmac, the header carries prefix + the hex
// HMAC-SHA256 of the body keyed with the secret, computed by the host.
package http

import (
	"encoding/hex"
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
	envelope.Config
}

type sender struct {
	cfg     config
	enc     envelope.Encoder
	header  []http.Header // fixed headers, sorted
	timeout time.Duration
	idem    string
	key     []byte
}

var s sender

// Plugin returns the plugin's functions, for sdk.Register.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Init: s.init, Sender: s.send}
}

func (s *sender) init(raw []byte) error {
	*s = sender{}
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
	return errors.Join(errs...)
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

func (s *sender) send(b *sdk.Batch) error {
	body := s.enc.Encode(b)
	if len(body) == 0 {
		return nil // a position only, or no changes without markers
	}
	req := &http.Request{Method: s.cfg.Method, URL: s.cfg.URL, Body: body, Timeout: s.timeout}
	req.Header = append(req.Header[:0], s.header...)
	if s.idem != "" {
		s.key = idempotencyKey(s.key[:0], b)
		req.Header = append(req.Header, http.Header{Name: s.idem, Value: string(s.key)})
	}
	if h := s.cfg.HMAC; h != nil {
		mac, err := secrets.HMACSHA256(h.Secret, body)
		if err != nil {
			return sdk.Fatal(err)
		}
		req.Header = append(req.Header, http.Header{Name: h.Header, Value: *h.Prefix + hex.EncodeToString(mac)})
	}
	resp, err := http.Do(req)
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
