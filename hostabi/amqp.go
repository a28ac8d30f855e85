package hostabi

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// The amqp capability publishes to RabbitMQ (or another AMQP 0-9-1
// broker) named by a [targets.NAME] table of kind "amqp". The host owns
// the connection and one channel on it in confirm mode; a publish call
// returns only once the broker confirmed every message, so a sender that
// acknowledges its batch after the call never acknowledges a message the
// broker does not hold. Every message is published mandatory: one no
// queue takes comes back (basic.return) and fails the call, instead of
// vanishing.

// Limits of the amqp capability.
const (
	// MaxAMQPMessages bounds the messages of one publish call: the
	// client's channel of returned messages holds that many, so that the
	// broker's returns never wait on the call that awaits its confirms.
	MaxAMQPMessages = wire.AMQPMaxMessages
	// MaxAMQPBytes bounds a publish message (bodies, headers, keys).
	MaxAMQPBytes = wire.AMQPMaxBytes
	// MaxAMQPTimeout bounds the timeout of a call; the plugin's own
	// timeout bounds it too.
	MaxAMQPTimeout = 5 * time.Minute
	maxAMQPHeaders = 64
	// Defaults of a target's settings.
	defaultAMQPConnectTimeout = 10 * time.Second
	defaultAMQPPublishTimeout = 30 * time.Second
	defaultAMQPHeartbeat      = 10 * time.Second
)

// amqpSettings are a [targets.NAME] table of kind "amqp".
type amqpSettings struct {
	// Addr is host:port, Vhost the virtual host (from url).
	Addr, Host, Vhost string
	TLS               bool
	User              string
	Password          engine.Secret
	ConnectTimeout    time.Duration
	PublishTimeout    time.Duration
	Heartbeat         time.Duration
}

var amqpExchangeKinds = []string{"direct", "fanout", "topic", "headers"}

func init() {
	registerTargetKind(wire.CapAMQP, parseAMQPTarget)
	registerHostFuncs(
		hostFunc{wire.ImportAMQPPublish, (*caps).amqpPublish, []api.ValueType{i32, i32}, []api.ValueType{i64}},
		hostFunc{wire.ImportAMQPDeclare, (*caps).amqpDeclare, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	)
}

func parseAMQPTarget(s *Settings) any {
	var a amqpSettings
	raw := s.Required("url", `the broker, "amqp://host[:port][/vhost]" or "amqps://…"`)
	a.TLS = s.Bool("tls", false)
	a.User = s.String("user", "guest")
	a.Password = s.Secret("password_secret")
	a.ConnectTimeout = s.Duration("connect_timeout", defaultAMQPConnectTimeout)
	a.PublishTimeout = min(s.Duration("publish_timeout", defaultAMQPPublishTimeout), MaxAMQPTimeout)
	a.Heartbeat = s.Duration("heartbeat", defaultAMQPHeartbeat)
	if raw == "" {
		return a
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		s.Fail("url", "%v", err)
		return a
	case u.Scheme != "amqp" && u.Scheme != "amqps":
		s.Fail("url", "%q: want an amqp:// or amqps:// URL", raw)
		return a
	case u.User != nil:
		s.Fail("url", "credentials do not belong in a URL: set user and name a secret in password_secret")
		return a
	case u.RawQuery != "" || u.Fragment != "":
		s.Fail("url", "%q: want scheme://host[:port][/vhost], without query or fragment (timeouts are keys of the target)", raw)
		return a
	case u.Hostname() == "":
		s.Fail("url", "%q: no host", raw)
		return a
	}
	if u.Scheme == "amqps" {
		if s.Has("tls") && !a.TLS {
			s.Fail("tls", "false, but the url is amqps://")
		}
		a.TLS = true
	}
	port := u.Port()
	if port == "" {
		port = "5672"
		if a.TLS {
			port = "5671"
		}
	}
	a.Host, a.Addr = u.Hostname(), net.JoinHostPort(u.Hostname(), port)
	a.Vhost = "/"
	if p := strings.TrimPrefix(u.Path, "/"); p != "" {
		a.Vhost = p // "/%2F" is "/", as in RabbitMQ's URI spec
	}
	return a
}

// amqpClient is a plugin's connection to one amqp target and its channel
// in confirm mode. One call uses it at a time (mu): its channel's
// delivery tags and returns belong to that call.
type amqpClient struct {
	settings amqpSettings
	conn     *amqp.Connection
	ch       *amqp.Channel
	// netConn is the connection's socket: closing it ends a call blocked
	// in a write or an RPC when its time is up, which amqp091's calls do
	// not do themselves.
	netConn net.Conn
	// returns receives the messages the broker returned as unroutable.
	// The broker sends a return before the confirm of the same message,
	// and the client's reader hands it over before it handles the
	// confirm, so once every confirm of a call is in, its returns are in
	// this channel; it holds MaxAMQPMessages, so the reader never waits.
	returns chan amqp.Return
	closed  chan *amqp.Error

	mu       sync.Mutex
	declared map[wire.AMQPDeclare]bool
}

func dialAMQP(ctx context.Context, settings any) (io.Closer, error) {
	s := settings.(amqpSettings)
	c := &amqpClient{settings: s, declared: map[wire.AMQPDeclare]bool{}}
	cfg := amqp.Config{
		SASL:      []amqp.Authentication{&amqp.PlainAuth{Username: s.User, Password: s.Password.Reveal()}},
		Vhost:     s.Vhost,
		Heartbeat: s.Heartbeat,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: s.ConnectTimeout}
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// amqp091 clears the deadline once the handshake is done.
			nc.SetDeadline(time.Now().Add(s.ConnectTimeout))
			c.netConn = nc
			return nc, nil
		},
	}
	scheme := "amqp"
	if s.TLS {
		scheme = "amqps"
		cfg.TLSClientConfig = &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	}
	// The handshake's deadline ends with it, and opening the channel has
	// none: connect_timeout bounds the whole by closing the socket.
	dctx, cancel := context.WithTimeout(ctx, s.ConnectTimeout)
	defer cancel()
	stop := context.AfterFunc(dctx, func() {
		if c.netConn != nil {
			c.netConn.Close()
		}
	})
	defer stop()
	// The URL carries the address only: credentials and vhost are in cfg.
	conn, err := amqp.DialConfig(scheme+"://"+s.Addr+"/", cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %v", s.Addr, err)
	}
	c.conn = conn
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("open a channel on %s: %v", s.Addr, err)
	}
	c.ch = ch
	c.returns = ch.NotifyReturn(make(chan amqp.Return, MaxAMQPMessages))
	c.closed = ch.NotifyClose(make(chan *amqp.Error, 1))
	return c, nil
}

// Close closes the connection, giving the broker a moment to agree.
func (c *amqpClient) Close() error {
	return c.conn.CloseDeadline(time.Now().Add(time.Second))
}

// broken reports whether the channel or connection is closed, and why:
// the client is then of no further use.
func (c *amqpClient) broken() (string, bool) {
	select {
	case e, ok := <-c.closed:
		if ok && e != nil {
			return e.Error(), true
		}
		return "channel closed", true
	default:
	}
	if c.ch.IsClosed() || c.conn.IsClosed() {
		return "channel closed", true
	}
	return "", false
}

// guard bounds a call by timeout and ctx: when either ends first, the
// socket is closed, which ends whatever the call waits on. It returns the
// call's context and a function to call when the call returned, which
// reports whether time ran out (the client is then closed).
func (c *amqpClient) guard(ctx context.Context, timeout time.Duration) (context.Context, func() bool) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	closeSocket := func() { c.netConn.Close() }
	stop := context.AfterFunc(ctx, closeSocket)
	return ctx, func() bool {
		// A context's Done closes before its AfterFunc starts: a call
		// that saw the deadline may return before the socket is closed,
		// and stop then keeps it open; close it here.
		if stop() && ctx.Err() != nil {
			closeSocket()
		}
		expired := ctx.Err() != nil
		cancel()
		return expired
	}
}

// publish publishes p's messages and waits for every confirm. Its errors
// carry the errno to return; drop says the client is of no further use.
func (c *amqpClient) publish(ctx context.Context, p *wire.AMQPPublish) (errno wire.Errno, drop bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	timeout := c.settings.PublishTimeout
	if p.TimeoutMS > 0 {
		timeout = min(time.Duration(p.TimeoutMS)*time.Millisecond, MaxAMQPTimeout)
	}
	for len(c.returns) > 0 {
		<-c.returns // an earlier failed call's
	}
	ctx, stop := c.guard(ctx, timeout)
	errno, drop, err = c.publishAll(ctx, p)
	if stop() {
		return wire.ErrnoRemote, true, fmt.Errorf("publish to %s: no confirm within %s (the call's time is up)", c.settings.Addr, timeout)
	}
	return errno, drop, err
}

func (c *amqpClient) publishAll(ctx context.Context, p *wire.AMQPPublish) (wire.Errno, bool, error) {
	confirms := make([]*amqp.DeferredConfirmation, 0, len(p.Messages))
	for i := range p.Messages {
		m := &p.Messages[i]
		pub := amqp.Publishing{
			MessageId:    m.MessageID,
			ContentType:  m.ContentType,
			DeliveryMode: amqp.Persistent,
			// The body views guest memory: amqp091 writes it out before
			// Publish returns, and keeps no reference.
			Body: m.Body,
		}
		if m.Flags&wire.AMQPTransient != 0 {
			pub.DeliveryMode = amqp.Transient
		}
		if len(m.Header) > 0 {
			pub.Headers = make(amqp.Table, len(m.Header))
			for _, h := range m.Header {
				pub.Headers[h.Name] = h.Value
			}
		}
		dc, err := c.ch.PublishWithDeferredConfirmWithContext(ctx, m.Exchange, m.RoutingKey, true, false, pub)
		if err != nil {
			if why, broken := c.broken(); broken {
				return wire.ErrnoRemote, true, fmt.Errorf("publish to %s: message %d: %s", c.settings.Addr, i, why)
			}
			return wire.ErrnoRemote, true, fmt.Errorf("publish to %s: message %d: %v", c.settings.Addr, i, err)
		}
		confirms = append(confirms, dc)
	}
	nacked := -1
	for i, dc := range confirms {
		ack, err := dc.WaitContext(ctx)
		if err != nil {
			return wire.ErrnoRemote, true, err // the caller reports the timeout
		}
		if !ack && nacked < 0 {
			nacked = i
		}
	}
	if nacked >= 0 {
		// Closing the channel nacks what it had not confirmed.
		if why, broken := c.broken(); broken {
			return wire.ErrnoRemote, true, fmt.Errorf("publish to %s: message %d not confirmed: %s", c.settings.Addr, nacked, why)
		}
		return wire.ErrnoRemote, false, fmt.Errorf("publish to %s: the broker refused (nack) message %d (id %q)", c.settings.Addr, nacked, p.Messages[nacked].MessageID)
	}
	if n := len(c.returns); n > 0 {
		r := <-c.returns
		for len(c.returns) > 0 {
			<-c.returns
		}
		return wire.ErrnoRemote, false, fmt.Errorf("publish to %s: %d message(s) unroutable, the first to exchange %q with routing key %q (id %q): %d %s: bind a queue that takes them, or declare one (builtin:amqp's declare)",
			c.settings.Addr, n, r.Exchange, r.RoutingKey, r.MessageId, r.ReplyCode, r.ReplyText)
	}
	return 0, false, nil
}

// declare declares what d names, once per client.
func (c *amqpClient) declare(ctx context.Context, d *wire.AMQPDeclare) (errno wire.Errno, drop bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.declared[*d] {
		return 0, false, nil
	}
	_, stop := c.guard(ctx, c.settings.PublishTimeout)
	defer func() {
		if stop() {
			errno, drop, err = wire.ErrnoRemote, true, fmt.Errorf("declare on %s: timeout after %s", c.settings.Addr, c.settings.PublishTimeout)
		}
	}()
	if d.Kind != "" {
		if err := c.ch.ExchangeDeclare(d.Exchange, d.Kind, true, false, false, false, nil); err != nil {
			return wire.ErrnoRemote, true, fmt.Errorf("declare exchange %q (%s) on %s: %v", d.Exchange, d.Kind, c.settings.Addr, err)
		}
	}
	if d.Queue != "" {
		if _, err := c.ch.QueueDeclare(d.Queue, true, false, false, false, nil); err != nil {
			return wire.ErrnoRemote, true, fmt.Errorf("declare queue %q on %s: %v", d.Queue, c.settings.Addr, err)
		}
		if d.Exchange != "" {
			if err := c.ch.QueueBind(d.Queue, d.BindingKey, d.Exchange, false, nil); err != nil {
				return wire.ErrnoRemote, true, fmt.Errorf("bind queue %q to exchange %q with key %q on %s: %v", d.Queue, d.Exchange, d.BindingKey, c.settings.Addr, err)
			}
		}
	}
	c.declared[*d] = true
	return 0, false, nil
}

// amqpConn returns the plugin's client of the amqp target name, checking
// the grant first so that a refusal is ErrnoDenied.
func (c *caps) amqpConn(ctx context.Context, op, name string) (*amqpClient, int64) {
	if c.targets == nil || !slices.Contains(c.targets.grants[wire.CapAMQP], name) {
		return nil, c.fail(wire.ErrnoDenied, "%s: target %q is not granted: add %s", op, name, grantHint(wire.CapAMQP))
	}
	cl, err := c.targets.conn(wire.CapAMQP, name, func(s any) (io.Closer, error) { return dialAMQP(ctx, s) })
	if err != nil {
		return nil, c.fail(wire.ErrnoRemote, "%s: target %q: %v", op, name, err)
	}
	return cl.(*amqpClient), 0
}

func (c *caps) amqpPublish(ctx context.Context, m api.Module, stack []uint64) {
	stack[0] = uint64(c.doAMQPPublish(ctx, m, uint32(stack[0]), uint32(stack[1])))
}

func (c *caps) doAMQPPublish(ctx context.Context, m api.Module, ptr, n uint32) int64 {
	if n > MaxAMQPBytes {
		return c.fail(wire.ErrnoLimit, "amqp_publish: a message of %d bytes exceeds %d", n, MaxAMQPBytes)
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "amqp_publish: message out of bounds")
	}
	p, err := wire.ParseAMQPPublish(b)
	if err != nil {
		return c.fail(wire.ErrnoInvalid, "amqp_publish: malformed message %v", err)
	}
	if err := checkAMQPPublish(&p); err != nil {
		return c.fail(err.errno, "amqp_publish: target %q: %v", p.Target, err)
	}
	cl, rc := c.amqpConn(ctx, "amqp_publish", p.Target)
	if cl == nil {
		return rc
	}
	errno, drop, err := cl.publish(ctx, &p)
	if drop {
		c.targets.drop(wire.CapAMQP, p.Target)
	}
	if err != nil && !drop {
		// The broker answered, refusing messages (a nack, an unroutable
		// message): worth retrying, but the broker is not unavailable,
		// so max_failures applies.
		c.lastErr = fmt.Sprintf("amqp_publish: target %q: %v", p.Target, err)
		return int64(errno)
	}
	if err != nil {
		return c.fail(errno, "amqp_publish: target %q: %v", p.Target, err)
	}
	return int64(len(p.Messages))
}

type errnoError struct {
	errno wire.Errno
	msg   string
}

func (e *errnoError) Error() string { return e.msg }

// checkAMQPPublish finds what the host refuses in p before sending any
// of it.
func checkAMQPPublish(p *wire.AMQPPublish) *errnoError {
	if len(p.Messages) > MaxAMQPMessages {
		return &errnoError{wire.ErrnoLimit, fmt.Sprintf("%d messages exceed %d per call", len(p.Messages), MaxAMQPMessages)}
	}
	for i, m := range p.Messages {
		if len(m.Header) > maxAMQPHeaders {
			return &errnoError{wire.ErrnoLimit, fmt.Sprintf("message %d: %d headers exceed %d", i, len(m.Header), maxAMQPHeaders)}
		}
		// AMQP short strings: at most 255 bytes.
		for what, s := range map[string]string{"exchange": m.Exchange, "routing key": m.RoutingKey, "message id": m.MessageID, "content type": m.ContentType} {
			if len(s) > wire.AMQPMaxString {
				return &errnoError{wire.ErrnoInvalid, fmt.Sprintf("message %d: %s of %d bytes (at most 255)", i, what, len(s))}
			}
		}
		for _, h := range m.Header {
			if h.Name == "" || len(h.Name) > wire.AMQPMaxString {
				return &errnoError{wire.ErrnoInvalid, fmt.Sprintf("message %d: header name %q: want 1 to 255 bytes", i, h.Name)}
			}
		}
	}
	return nil
}

func (c *caps) amqpDeclare(ctx context.Context, m api.Module, stack []uint64) {
	ret32(stack, c.doAMQPDeclare(ctx, m, uint32(stack[0]), uint32(stack[1])))
}

func (c *caps) doAMQPDeclare(ctx context.Context, m api.Module, ptr, n uint32) int64 {
	if n > 4<<10 {
		return c.fail(wire.ErrnoLimit, "amqp_declare: a message of %d bytes exceeds %d", n, 4<<10)
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "amqp_declare: message out of bounds")
	}
	d, err := wire.ParseAMQPDeclare(b)
	if err != nil {
		return c.fail(wire.ErrnoInvalid, "amqp_declare: malformed message %v", err)
	}
	if d.Kind != "" && !slices.Contains(amqpExchangeKinds, d.Kind) {
		return c.fail(wire.ErrnoInvalid, "amqp_declare: exchange kind %q: want one of %s", d.Kind, strings.Join(amqpExchangeKinds, ", "))
	}
	if d.Kind != "" && d.Exchange == "" {
		return c.fail(wire.ErrnoInvalid, "amqp_declare: an exchange kind without an exchange name (the default exchange cannot be declared)")
	}
	for what, s := range map[string]string{"exchange": d.Exchange, "queue": d.Queue, "binding key": d.BindingKey} {
		if len(s) > wire.AMQPMaxString {
			return c.fail(wire.ErrnoInvalid, "amqp_declare: %s of %d bytes (at most 255)", what, len(s))
		}
	}
	cl, rc := c.amqpConn(ctx, "amqp_declare", d.Target)
	if cl == nil {
		return rc
	}
	errno, drop, err := cl.declare(ctx, &d)
	if drop {
		c.targets.drop(wire.CapAMQP, d.Target)
	}
	if err != nil {
		return c.fail(errno, "amqp_declare: target %q: %v", d.Target, err)
	}
	return 0
}

var _ io.Closer = (*amqpClient)(nil)
