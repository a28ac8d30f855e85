package hostabi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// The nats capability publishes to NATS JetStream (ABI.md, "nats"). The
// host owns the connection, one per plugin and [targets] table, which
// nats.go reconnects by itself after an outage; a plugin names the target
// and the host checks its grant on every call.

// Limits of the nats capability.
const (
	// MaxNATSMessages bounds the messages of one nats_publish call, and
	// MaxNATSPublishBytes its request message: a sender with more splits
	// them over several calls.
	MaxNATSMessages     = 10000
	MaxNATSPublishBytes = 32 << 20
	// MaxNATSTimeout bounds the timeout a call may ask for; the plugin's
	// own timeout bounds the call too, whichever ends first.
	MaxNATSTimeout = 5 * time.Minute
	// maxNATSRequest bounds the other requests (nats_last, nats_stream).
	maxNATSRequest = 64 << 10
	// natsMaxPending bounds the publishes in flight on one connection.
	natsMaxPending = 4096
)

// natsSettings are a [targets.NAME] table of kind "nats".
type natsSettings struct {
	URLs           []string
	User           string
	Password       engine.Secret
	Token          engine.Secret
	TLS            bool
	CAFile         string
	ConnectTimeout time.Duration
	PublishTimeout time.Duration
}

func init() {
	registerTargetKind(wire.CapNATS, parseNATSTarget)
	registerHostFuncs(
		hostFunc{wire.ImportNATSPublish, (*caps).natsPublish, []api.ValueType{i32, i32}, []api.ValueType{i64}},
		hostFunc{wire.ImportNATSLast, (*caps).natsLast, []api.ValueType{i32, i32}, []api.ValueType{i64}},
		hostFunc{wire.ImportNATSStream, (*caps).natsStream, []api.ValueType{i32, i32}, []api.ValueType{i32}},
		hostFunc{wire.ImportNATSResult, (*caps).natsResult, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	)
}

// parseNATSTarget decodes
//
//	[targets.events]
//	kind = "nats"
//	url = "nats://nats1:4222"            # or urls = ["nats://a:4222", "nats://b:4222"]
//	user = "puma"                        # with password_secret, or token_secret alone
//	password_secret = "nats_password"
//	tls = true                           # require TLS; ca_file = "/etc/puma/nats-ca.pem"
//	connect_timeout = "5s"
//	publish_timeout = "10s"
func parseNATSTarget(s *Settings) any {
	n := natsSettings{
		User:           s.String("user", ""),
		Password:       s.Secret("password_secret"),
		Token:          s.Secret("token_secret"),
		TLS:            s.Bool("tls", false),
		CAFile:         s.String("ca_file", ""),
		ConnectTimeout: s.Duration("connect_timeout", 5*time.Second),
		PublishTimeout: s.Duration("publish_timeout", 10*time.Second),
	}
	if u := s.String("url", ""); u != "" {
		n.URLs = append(n.URLs, u)
	}
	n.URLs = append(n.URLs, s.Strings("urls")...)
	if len(n.URLs) == 0 && !s.failed("url") && !s.failed("urls") {
		s.Fail("url", "required: the server's URL (nats://host:4222), or urls = [...] for a cluster")
	}
	for i, u := range n.URLs {
		switch {
		case !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://"):
			s.Fail(urlKey(s, i), "%q: want nats://host:port or tls://host:port", u)
		case strings.Contains(u, "@"):
			s.Fail(urlKey(s, i), "%q: credentials do not belong in a URL: set user and password_secret, or token_secret", u)
		}
	}
	if n.User != "" && n.Password == "" && !s.failed("password_secret") {
		s.Fail("password_secret", "required with user: name a secret in [secrets]")
	}
	if n.User == "" && n.Password != "" {
		s.Fail("user", "required with password_secret")
	}
	if n.Token != "" && n.User != "" {
		s.Fail("token_secret", "give either user and password_secret or token_secret, not both")
	}
	if n.CAFile != "" && !n.TLS {
		s.Fail("ca_file", "needs tls = true")
	}
	if n.PublishTimeout > MaxNATSTimeout {
		s.Fail("publish_timeout", "%s exceeds %s", n.PublishTimeout, MaxNATSTimeout)
	}
	return n
}

// urlKey names the key URL i came from: url first, then urls[j].
func urlKey(s *Settings, i int) string {
	if s.Has("url") {
		if i == 0 {
			return "url"
		}
		i--
	}
	return fmt.Sprintf("urls[%d]", i)
}

// natsConn is one plugin's connection to one target.
type natsConn struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	settings natsSettings
}

func (c *natsConn) Close() error {
	c.nc.Close()
	return nil
}

func dialNATS(name string) func(any) (io.Closer, error) {
	return func(v any) (io.Closer, error) {
		s := v.(natsSettings)
		opts := []nats.Option{
			nats.Name("puma"),
			nats.Timeout(s.ConnectTimeout),
			// Once connected, reconnect for ever: a broker outage fails
			// the calls made meanwhile (the task retries them), and the
			// connection comes back by itself.
			nats.MaxReconnects(-1),
			nats.ReconnectWait(500 * time.Millisecond),
			// Publishes made while disconnected fail at once rather than
			// wait in a buffer for a server that may not come back
			// within the call.
			nats.ReconnectBufSize(-1),
		}
		if s.User != "" {
			opts = append(opts, nats.UserInfo(s.User, s.Password.Reveal()))
		}
		if s.Token != "" {
			opts = append(opts, nats.Token(s.Token.Reveal()))
		}
		if s.TLS {
			cfg := &tls.Config{MinVersion: tls.VersionTLS12}
			if s.CAFile != "" {
				pem, err := os.ReadFile(s.CAFile)
				if err != nil {
					return nil, fmt.Errorf("targets.%s: ca_file: %w", name, err)
				}
				cfg.RootCAs = x509.NewCertPool()
				if !cfg.RootCAs.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("targets.%s: ca_file %s: no PEM certificate in it", name, s.CAFile)
				}
			}
			opts = append(opts, nats.Secure(cfg))
		}
		nc, err := nats.Connect(strings.Join(s.URLs, ","), opts...)
		if err != nil {
			return nil, fmt.Errorf("targets.%s: connect to %s: %w", name, strings.Join(s.URLs, ", "), err)
		}
		js, err := jetstream.New(nc,
			jetstream.WithPublishAsyncMaxPending(natsMaxPending),
			// Every future resolves, with an error at worst, so that no
			// acknowledgement waits for ever on a connection that lost it.
			jetstream.WithPublishAsyncTimeout(s.PublishTimeout))
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("targets.%s: %w", name, err)
		}
		return &natsConn{nc: nc, js: js, settings: s}, nil
	}
}

// natsConnOf returns the plugin's connection to target, or the errno
// and message to fail with.
func (c *caps) natsConnOf(fn, target string) (*natsConn, int64) {
	granted := c.grants.Targets[wire.CapNATS]
	if c.targets == nil || len(granted) == 0 {
		return nil, c.fail(wire.ErrnoDenied, "%s: nats is not granted: add %s", fn, grantHint(wire.CapNATS))
	}
	if !slices.Contains(granted, target) {
		return nil, c.fail(wire.ErrnoDenied, "%s: target %q is not granted (grants.nats: %s)", fn, target, strings.Join(granted, ", "))
	}
	conn, err := c.targets.conn(wire.CapNATS, target, dialNATS(target))
	if err != nil {
		return nil, c.fail(wire.ErrnoRemote, "%s: %v", fn, err)
	}
	nc := conn.(*natsConn)
	if nc.nc.IsClosed() {
		// Closed for good (the server refused the credentials on a
		// reconnect): the next call dials again.
		c.targets.drop(wire.CapNATS, target)
		return nil, c.fail(wire.ErrnoRemote, "%s: target %s: the connection was closed: %v", fn, target, nc.nc.LastError())
	}
	return nc, 0
}

// timeout is the time a call asking for ms milliseconds gets.
func (n *natsConn) timeout(ms uint32) time.Duration {
	if ms == 0 {
		return n.settings.PublishTimeout
	}
	return min(time.Duration(ms)*time.Millisecond, MaxNATSTimeout)
}

// validSubject reports why s cannot be published to ("" when it can):
// dot-separated tokens, none empty, no wildcard, no white space.
func validSubject(s string, wildcards bool) string {
	if s == "" {
		return "empty"
	}
	if len(s) > 1024 {
		return "longer than 1024 bytes"
	}
	for i, tok := range strings.Split(s, ".") {
		switch {
		case tok == "":
			return "an empty token"
		case strings.ContainsAny(tok, " \t\r\n\x00"):
			return "white space or NUL"
		case !wildcards && (tok == "*" || tok == ">"):
			return "a wildcard"
		case tok == ">" && i != strings.Count(s, "."):
			return `">" before the last token`
		}
	}
	return ""
}

func (c *caps) natsPublish(ctx context.Context, m api.Module, stack []uint64) {
	stack[0] = uint64(c.doNATSPublish(ctx, m, uint32(stack[0]), uint32(stack[1])))
}

func (c *caps) doNATSPublish(ctx context.Context, m api.Module, ptr, n uint32) int64 {
	c.natsOut = c.natsOut[:0]
	if n > MaxNATSPublishBytes {
		return c.fail(wire.ErrnoLimit, "nats_publish: request of %d bytes exceeds %d: publish fewer messages per call", n, MaxNATSPublishBytes)
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "nats_publish: request out of bounds")
	}
	q, err := wire.ParseNATSPublish(b)
	if err != nil {
		return c.fail(wire.ErrnoInvalid, "nats_publish: malformed request: %v", err)
	}
	if len(q.Msgs) > MaxNATSMessages {
		return c.fail(wire.ErrnoLimit, "nats_publish: %d messages exceed %d per call", len(q.Msgs), MaxNATSMessages)
	}
	for i := range q.Msgs {
		if why := validSubject(q.Msgs[i].Subject, false); why != "" {
			return c.fail(wire.ErrnoInvalid, "nats_publish: message %d: subject %q: %s", i, q.Msgs[i].Subject, why)
		}
		for _, h := range q.Msgs[i].Header {
			if !validHeaderName(h.Name) || !validHeaderValue(h.Value) || strings.ContainsAny(h.Value, "\r\n") {
				return c.fail(wire.ErrnoInvalid, "nats_publish: message %d: header %q: invalid name or value", i, h.Name)
			}
		}
	}
	conn, rc := c.natsConnOf("nats_publish", q.Target)
	if conn == nil {
		return rc
	}
	timeout := conn.timeout(q.TimeoutMS)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	acks := conn.publish(ctx, &q)
	for _, a := range acks {
		if a.Errno == wire.ErrnoRemote {
			// A message the broker did not acknowledge: if the plugin
			// fails the call for it, the destination is unavailable.
			c.markRemote()
			break
		}
	}
	c.natsOut = wire.AppendNATSAcks(c.natsOut, acks)
	return int64(len(c.natsOut))
}

// publish sends every message of q asynchronously, then collects their
// acknowledgements: one result per message, in order. The data is
// copied: the client may still hold a message after a timeout, when the
// guest's memory is no longer ours to read.
func (n *natsConn) publish(ctx context.Context, q *wire.NATSPublish) []wire.NATSAck {
	acks := make([]wire.NATSAck, len(q.Msgs))
	futures := make([]jetstream.PubAckFuture, len(q.Msgs))
	var opts []jetstream.PublishOpt
	for i := range q.Msgs {
		m := &q.Msgs[i]
		msg := &nats.Msg{Subject: m.Subject, Data: append([]byte(nil), m.Data...)}
		if len(m.Header) > 0 {
			msg.Header = nats.Header{}
			for _, h := range m.Header {
				msg.Header.Add(h.Name, h.Value)
			}
		}
		opts = opts[:0]
		if m.MsgID != "" {
			opts = append(opts, jetstream.WithMsgID(m.MsgID))
		}
		if q.Stream != "" {
			opts = append(opts, jetstream.WithExpectStream(q.Stream))
		}
		f, err := n.js.PublishMsgAsync(msg, opts...)
		if err != nil {
			acks[i] = natsAckError(err)
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case a := <-f.Ok():
			acks[i] = wire.NATSAck{Stream: a.Stream, Seq: a.Sequence, Duplicate: a.Duplicate}
		case err := <-f.Err():
			acks[i] = natsAckError(err)
		case <-ctx.Done():
			acks[i] = wire.NATSAck{Errno: wire.ErrnoRemote, Error: "no acknowledgement within the call's timeout"}
		}
	}
	return acks
}

// natsAckError classifies a failed publish: what the stream refused for
// the message itself (too large, another stream) retrying cannot cure;
// a lost connection, a timeout or a stream without a leader can be.
func natsAckError(err error) wire.NATSAck {
	a := wire.NATSAck{Errno: wire.ErrnoRemote, Error: err.Error()}
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrMaxPayload):
		a.Errno = wire.ErrnoLimit
	case errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500:
		a.Errno = wire.ErrnoInvalid
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		a.Error += " (no stream stores this subject, or its server is down)"
	}
	return a
}

func (c *caps) natsLast(ctx context.Context, m api.Module, stack []uint64) {
	stack[0] = uint64(c.doNATSLast(ctx, m, uint32(stack[0]), uint32(stack[1])))
}

func (c *caps) doNATSLast(ctx context.Context, m api.Module, ptr, n uint32) int64 {
	c.natsOut = c.natsOut[:0]
	if n > maxNATSRequest {
		return c.fail(wire.ErrnoLimit, "nats_last: request of %d bytes exceeds %d", n, maxNATSRequest)
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "nats_last: request out of bounds")
	}
	q, err := wire.ParseNATSLast(b)
	if err != nil {
		return c.fail(wire.ErrnoInvalid, "nats_last: malformed request: %v", err)
	}
	if why := validSubject(q.Subject, false); why != "" {
		return c.fail(wire.ErrnoInvalid, "nats_last: subject %q: %s", q.Subject, why)
	}
	conn, rc := c.natsConnOf("nats_last", q.Target)
	if conn == nil {
		return rc
	}
	ctx, cancel := context.WithTimeout(ctx, conn.timeout(q.TimeoutMS))
	defer cancel()
	stream := q.Stream
	if stream == "" {
		if stream, err = conn.js.StreamNameBySubject(ctx, q.Subject); err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return c.fail(wire.ErrnoNotFound, "nats_last: no stream stores subject %s", q.Subject)
			}
			return c.fail(wire.ErrnoRemote, "nats_last: find the stream of %s: %v", q.Subject, err)
		}
	}
	s, err := conn.js.Stream(ctx, stream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return c.fail(wire.ErrnoNotFound, "nats_last: no stream %s", stream)
		}
		return c.fail(wire.ErrnoRemote, "nats_last: stream %s: %v", stream, err)
	}
	msg, err := s.GetLastMsgForSubject(ctx, q.Subject)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return c.fail(wire.ErrnoNotFound, "nats_last: stream %s holds no message on %s", stream, q.Subject)
		}
		return c.fail(wire.ErrnoRemote, "nats_last: stream %s, subject %s: %v", stream, q.Subject, err)
	}
	out := wire.NATSStored{Seq: msg.Sequence, TimeNS: msg.Time.UnixNano(), Subject: msg.Subject, Data: msg.Data}
	for name, vs := range msg.Header {
		for _, v := range vs {
			out.Header = append(out.Header, wire.NATSHeader{Name: name, Value: v})
		}
	}
	c.natsOut = wire.AppendNATSStored(c.natsOut, &out)
	return int64(len(c.natsOut))
}

func (c *caps) natsStream(ctx context.Context, m api.Module, stack []uint64) {
	ret32(stack, c.doNATSStream(ctx, m, uint32(stack[0]), uint32(stack[1])))
}

func (c *caps) doNATSStream(ctx context.Context, m api.Module, ptr, n uint32) int64 {
	if n > maxNATSRequest {
		return c.fail(wire.ErrnoLimit, "nats_stream: request of %d bytes exceeds %d", n, maxNATSRequest)
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "nats_stream: request out of bounds")
	}
	q, err := wire.ParseNATSStream(b)
	if err != nil {
		return c.fail(wire.ErrnoInvalid, "nats_stream: malformed request: %v", err)
	}
	if q.Name == "" || strings.ContainsAny(q.Name, ". *>\t\r\n/\\") {
		return c.fail(wire.ErrnoInvalid, "nats_stream: stream name %q: want a name without dots, wildcards, slashes or white space", q.Name)
	}
	if len(q.Subjects) == 0 {
		return c.fail(wire.ErrnoInvalid, "nats_stream: stream %s: no subjects", q.Name)
	}
	for _, s := range q.Subjects {
		if why := validSubject(s, true); why != "" {
			return c.fail(wire.ErrnoInvalid, "nats_stream: stream %s: subject %q: %s", q.Name, s, why)
		}
	}
	conn, rc := c.natsConnOf("nats_stream", q.Target)
	if conn == nil {
		return rc
	}
	ctx, cancel := context.WithTimeout(ctx, conn.timeout(q.TimeoutMS))
	defer cancel()
	if _, err := conn.js.Stream(ctx, q.Name); err == nil {
		return 0
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return c.fail(wire.ErrnoRemote, "nats_stream: stream %s: %v", q.Name, err)
	}
	cfg := jetstream.StreamConfig{Name: q.Name, Subjects: q.Subjects, Storage: jetstream.FileStorage,
		Duplicates: time.Duration(q.DuplicatesMS) * time.Millisecond}
	if _, err := conn.js.CreateStream(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 {
			return c.fail(wire.ErrnoInvalid, "nats_stream: create stream %s (subjects %s): %v", q.Name, strings.Join(q.Subjects, ", "), err)
		}
		return c.fail(wire.ErrnoRemote, "nats_stream: create stream %s: %v", q.Name, err)
	}
	return 0
}

func (c *caps) natsResult(_ context.Context, m api.Module, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	out := c.natsOut[:min(len(c.natsOut), int(n))]
	if !m.Memory().Write(ptr, out) {
		ret32(stack, c.fail(wire.ErrnoInvalid, "nats_result: buffer out of bounds"))
		return
	}
	ret32(stack, int64(len(c.natsOut)))
}
