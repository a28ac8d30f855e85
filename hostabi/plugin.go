package hostabi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// plugin is what Handler and Sender share: the spec and the current
// instance, started again after a fault.
type plugin struct {
	h    *Host
	spec Spec
	log  *slog.Logger
	in   *instance
	// http and kv outlive instances: a fresh instance after a fault keeps
	// the plugin's connections and state.
	http    *httpClient
	kv      *kvStore
	targets *targetConns
	// secrets are the host's when the plugin started.
	secrets map[string]engine.Secret
	// applied is what a sender's instances report of the position its
	// destination applied.
	applied appliedState
	// remote is set when a capability failed to reach its remote end
	// during the current operation (see unavailable).
	remote bool
	// ahead is a sender's envelopes rendered before its calls.
	ahead *ahead
}

// unavailable marks err, the failure of an operation of p, as the
// destination being unavailable when a capability failed to reach its
// remote end during it and the plugin did not call the failure fatal:
// the engine then retries without end (engine.Unavailable). It resets the
// flag for the next operation.
func (p *plugin) unavailable(err error) error {
	remote := p.remote
	p.remote = false
	var e *Error
	if err != nil && remote && errors.As(err, &e) && !e.Fatal {
		e.Remote = true
	}
	return err
}

func (h *Host) newPlugin(ctx context.Context, s Spec) (*plugin, error) {
	p := &plugin{h: h, spec: s, log: h.log.With("task", s.Task, "plugin", s.Name), secrets: h.secretsNow()}
	if s.Role == wire.RoleSender {
		p.ahead = newAhead(s.Task, h.now)
	}
	m := s.Module
	entry := wire.ExportHandle
	if s.Role == wire.RoleSender {
		entry = wire.ExportSend
	}
	if !m.exports[entry] {
		return nil, p.loadErr("configured as a %s, but the module does not export %s", s.Role, entry)
	}
	if s.Select != "" {
		for _, c := range s.Uses {
			if !s.Grants.Has(c) {
				return nil, p.loadErr("builtin:%s needs the %q grant: add %s to the plugin's table", s.Select, c, grantHint(c))
			}
		}
	} else {
		for _, c := range slices.Sorted(maps.Keys(m.caps)) {
			if !s.Grants.Has(c) {
				return nil, p.loadErr("the module imports %s, which needs the %q grant: add %s to the plugin's table", m.caps[c], c, grantHint(c))
			}
		}
	}
	if len(s.Grants.HTTP) > 0 {
		p.http = newHTTPClient(&p.spec.Grants, p.secrets, h.opts.Resolver, h.opts.HTTPRootCAs, "Puma plugin "+s.Task+"/"+s.Name)
	}
	if s.Grants.KV {
		p.kv = newKVStore(s.Grants.KVMaxBytes)
	}
	if len(s.Grants.Targets) > 0 {
		p.targets = &targetConns{targets: h.targetsNow(), secrets: p.secrets, grants: s.Grants.Targets}
	}
	if s.Timeout <= 0 {
		return nil, p.loadErr("timeout must be positive")
	}
	if s.MaxMemory < pageSize {
		return nil, p.loadErr("max_memory %d is below one 64 KiB page", s.MaxMemory)
	}
	in, err := p.start(ctx)
	if err != nil {
		p.closeConns()
		return nil, p.unavailable(err)
	}
	p.remote = false
	p.in = in
	if p.applied.positioned {
		// Each call must be applied atomically with its position.
		switch {
		case !m.exports[wire.ExportSendGroup]:
			p.close()
			return nil, p.loadErr("reports an applied position but does not export %s: a sender keeping its position takes whole transactions in groups", wire.ExportSendGroup)
		case p.kv != nil:
			p.close()
			return nil, p.loadErr("reports an applied position and has the kv grant: its destination keeps its state, kv keeps it per batch; use one")
		}
	}
	return p, nil
}

func (p *plugin) closeConns() {
	if p.http != nil {
		p.http.close()
	}
	if p.targets != nil {
		p.targets.close()
	}
}

// kvBegin starts the kv bookkeeping of a call handling b; the function it
// returns ends it, keeping the call's writes when ok.
func (p *plugin) kvBegin(b *engine.Batch) func(ok bool) {
	if p.kv == nil {
		return func(bool) {}
	}
	p.kv.begin(b.Seq, b.Begin)
	return func(ok bool) { p.kv.end(ok, b.Commit != nil) }
}

// restoreState sets the kv state to the one saved with the checkpoint.
func (p *plugin) restoreState(state []byte) error {
	if p.kv == nil {
		return nil
	}
	return p.kv.restore(state)
}

// checkpointState returns the kv state after batch seq.
func (p *plugin) checkpointState(seq uint64) []byte {
	if p.kv == nil {
		return nil
	}
	return p.kv.snapshot(seq)
}

// instance returns the running instance, starting one after a fault.
func (p *plugin) instance(ctx context.Context) (*instance, error) {
	if p.in != nil {
		return p.in, nil
	}
	in, err := p.start(ctx)
	if err != nil {
		return nil, err
	}
	p.log.Info("plugin instance restarted")
	p.in = in
	return in, nil
}

// discard drops the instance after a fault.
func (p *plugin) discard() {
	if p.in != nil {
		p.in.close()
		p.in = nil
	}
}

// exchange sends b to the instance and returns a view of its reply, valid
// until the next call. On a fault the instance is discarded.
func (p *plugin) exchange(ctx context.Context, b *engine.Batch) (*instance, []byte, error) {
	in, err := p.instance(ctx)
	if err != nil {
		return nil, nil, err
	}
	msg := in.encodeBatch(b)
	in.caps.batch = b
	rep, err := in.roundTrip(ctx, p.entryName(), msg)
	in.caps.batch = nil
	if err != nil {
		err = p.fault(in, in.p.entryName(), err)
		p.discard()
		return nil, nil, err
	}
	return in, rep, nil
}

func (p *plugin) entryName() string {
	if p.spec.Role == wire.RoleSender {
		return wire.ExportSend
	}
	return wire.ExportHandle
}

func (p *plugin) close() error {
	defer p.closeConns()
	if p.in == nil {
		return nil
	}
	var err error
	var rep []byte
	var cerr error
	ctx := context.Background()
	switch in := p.in; {
	case in.native != nil:
		rep, cerr = in.nativeCall(ctx, wire.ExportClose, nil)
	case in.fnClose != nil:
		if cerr = in.call(ctx, in.fnClose); cerr == nil {
			if ptr, n := wire.UnpackReply(in.stack[0]); n > 0 {
				rep, _ = in.mem.Read(ptr, n)
			}
		}
	}
	if cerr != nil {
		err = p.fault(p.in, wire.ExportClose, cerr)
	} else if len(rep) > 0 {
		if r, perr := wire.ParseReply(rep); perr == nil && r.Status != wire.StatusOK {
			err = p.pluginErr(r.Status, "close: "+string(r.Message))
		}
	}
	p.discard()
	return err
}

func (p *plugin) pluginErr(status wire.Status, msg string) error {
	return &Error{Plugin: p.spec.Name, Module: p.moduleName(), Fault: ErrPlugin, Fatal: status == wire.StatusFatal, Msg: msg}
}

// Handler runs a handler plugin; it implements engine.Handler.
type Handler struct{ p *plugin }

var _ engine.Handler = (*Handler)(nil)

// NewHandler loads the configured plugin as a handler of task and starts
// its first instance (so a bad config fails the task at start).
func (h *Host) NewHandler(ctx context.Context, task string, pc engine.PluginConfig) (*Handler, error) {
	s, err := h.specFor(ctx, task, pc, wire.RoleHandler)
	if err != nil {
		return nil, err
	}
	return h.StartHandler(ctx, s)
}

// StartHandler starts a handler from a Spec (Role is set to handler).
func (h *Host) StartHandler(ctx context.Context, s Spec) (*Handler, error) {
	s.Role = wire.RoleHandler
	p, err := h.newPlugin(ctx, s)
	if err != nil {
		return nil, err
	}
	return &Handler{p: p}, nil
}

// Handle passes b through the plugin and returns what it lets through: b
// itself when every change is kept, else a new batch with b's Seq, Tx,
// Begin and Commit.
func (hd *Handler) Handle(ctx context.Context, b *engine.Batch) (*engine.Batch, error) {
	out, err := hd.handle(ctx, b, nil)
	return out, hd.p.unavailable(err)
}

func (hd *Handler) handle(ctx context.Context, b *engine.Batch, tr *Trace) (out *engine.Batch, err error) {
	end := hd.p.kvBegin(b)
	defer func() {
		// A call that failed some rows still made the output for the
		// others, which on_error = "dead_letter" passes on: its kv writes
		// stay (a retry of the batch voids them).
		var re *engine.RowErrors
		end(err == nil || errors.As(err, &re) && re.Batch != nil)
	}()
	if len(b.Changes) == 0 {
		return b, nil
	}
	p := hd.p
	in, rep, err := p.exchange(ctx, b)
	if err != nil {
		return nil, err
	}
	if tr != nil {
		tr.read(rep, len(b.Changes))
	}
	out, err = in.applyReply(b, rep)
	if err != nil {
		var pe *Error
		if !errors.As(err, &pe) || pe.Fault == ErrMalformed {
			p.discard()
		}
		return nil, err
	}
	return out, nil
}

// Close calls the plugin's close export, if any, and discards the
// instance.
func (hd *Handler) Close() error { return hd.p.close() }

var _ engine.StatefulPlugin = (*Handler)(nil)

// RestoreState sets the plugin's kv state to the one saved with the
// checkpoint; a plugin without the kv grant ignores it.
func (hd *Handler) RestoreState(state []byte) error { return hd.p.restoreState(state) }

// CheckpointState returns the kv state after batch seq (nil without the
// kv grant).
func (hd *Handler) CheckpointState(seq uint64) []byte { return hd.p.checkpointState(seq) }

// Sender runs a sender plugin; it implements engine.Sender.
type Sender struct{ p *plugin }

var _ engine.Sender = (*Sender)(nil)

// NewSender loads the configured plugin as a sender of task and starts its
// first instance.
func (h *Host) NewSender(ctx context.Context, task string, pc engine.PluginConfig) (*Sender, error) {
	s, err := h.specFor(ctx, task, pc, wire.RoleSender)
	if err != nil {
		return nil, err
	}
	return h.StartSender(ctx, s)
}

// StartSender starts a sender from a Spec (Role is set to sender).
func (h *Host) StartSender(ctx context.Context, s Spec) (*Sender, error) {
	s.Role = wire.RoleSender
	p, err := h.newPlugin(ctx, s)
	if err != nil {
		return nil, err
	}
	return &Sender{p: p}, nil
}

// Send delivers b; nil means the plugin reported every change durable.
func (sd *Sender) Send(ctx context.Context, b *engine.Batch) (err error) {
	end := sd.p.kvBegin(b)
	defer func() {
		end(err == nil)
		err = sd.p.unavailable(err)
	}()
	if b.Tx == nil && len(b.Changes) == 0 {
		return nil // a position-only batch: nothing to write
	}
	if sd.p.applied.positioned {
		// Never alone: see SendGroup.
		return sd.SendGroup(ctx, []*engine.Batch{b})
	}
	_, rep, err := sd.p.exchange(ctx, b)
	if err != nil {
		return err
	}
	if err := sd.reply(rep); err != nil {
		return err
	}
	sd.p.ahead.release(b.Seq)
	return nil
}

var _ engine.Preparer = (*Sender)(nil)

// Prepare renders b's envelopes ahead of the call sending it, with the
// options of the sender's last rendering (see ahead).
func (sd *Sender) Prepare(b *engine.Batch) { sd.p.ahead.prepare(b) }

var _ engine.GroupSender = (*Sender)(nil)

// SendGroup delivers the batches of g in one puma_send_group call; nil
// means the plugin reported every change of every batch durable. A module
// without the export, and a plugin with the kv grant (whose state is kept
// per batch), take no groups: the error then wraps errors.ErrUnsupported
// and nothing was sent.
func (sd *Sender) SendGroup(ctx context.Context, g []*engine.Batch) (err error) {
	p := sd.p
	defer func() { err = p.unavailable(err) }()
	if p.kv != nil || !p.spec.Module.exports[wire.ExportSendGroup] {
		return fmt.Errorf("plugin %s: a group: %w", p.spec.Name, errors.ErrUnsupported)
	}
	// Position-only batches have nothing to write.
	send := g[:0:0]
	for _, b := range g {
		if b.Tx != nil || len(b.Changes) > 0 {
			send = append(send, b)
		}
	}
	if len(send) == 0 {
		return nil
	}
	in, err := p.instance(ctx)
	if err != nil {
		return err
	}
	// The instance's init reported what its destination applied: after a
	// call that failed once its data was durable (a lost reply, a fault
	// after the commit), the retry skips it.
	if send = p.unapplied(send); len(send) == 0 {
		return nil
	}
	msg := in.encodeGroup(send)
	in.caps.group, in.caps.batch = send, send[0]
	rep, err := in.roundTrip(ctx, wire.ExportSendGroup, msg)
	in.caps.group, in.caps.batch = nil, nil
	if err != nil {
		err = p.fault(in, wire.ExportSendGroup, err)
		p.discard()
		return err
	}
	if err := sd.reply(rep); err != nil {
		if p.applied.positioned {
			// What a failed call left applied (a commit whose reply was
			// lost) is known only to the destination: the next call starts
			// a new instance, whose init reads the position again.
			p.discard()
		}
		return err
	}
	p.ahead.release(send[len(send)-1].Seq)
	return nil
}

// reply checks a sender's reply.
func (sd *Sender) reply(rep []byte) error {
	p := sd.p
	r, err := wire.ParseReply(rep)
	if err != nil {
		p.discard()
		return p.malformed("reply", err)
	}
	if r.Status != wire.StatusOK {
		return p.pluginErr(r.Status, fmt.Sprintf("%s: %s", r.Status, r.Message))
	}
	if r.Records.Left() != 0 {
		p.discard()
		return p.malformed("reply", &wire.Error{Msg: "a sender's reply carries records"})
	}
	return nil
}

// Close calls the plugin's close export, if any, and discards the
// instance.
func (sd *Sender) Close() error { return sd.p.close() }

var _ engine.StatefulPlugin = (*Sender)(nil)

// RestoreState sets the plugin's kv state to the one saved with the
// checkpoint; a plugin without the kv grant ignores it.
func (sd *Sender) RestoreState(state []byte) error { return sd.p.restoreState(state) }

// CheckpointState returns the kv state after batch seq (nil without the
// kv grant).
func (sd *Sender) CheckpointState(seq uint64) []byte { return sd.p.checkpointState(seq) }

// moduleName labels the plugin's module in errors: the built-in a shared
// module was selected as, or the module's own name.
func (p *plugin) moduleName() string {
	if p.spec.Select != "" {
		return "builtin:" + p.spec.Select
	}
	return p.spec.Module.name
}
