package sdk

import (
	"errors"
	"strconv"

	"github.com/pumacdc/puma/hostabi/wire"
)

// plugin is the guest's state: one per module instance, driven by the
// exports in the order the ABI fixes (alloc/init, then alloc/handle or
// alloc/send). It is not safe for concurrent use; the host never calls an
// instance concurrently.
type plugin struct {
	// fn is the plugin's functions: what the module registered, or an
	// Instance's own.
	fn Plugin
	// onGroupBatch, when set, is told the batch of a group the sender is
	// on in place of the host's group_batch import (an Instance's).
	onGroupBatch func(int)

	role    wire.Role
	task    string
	name    string
	inited  bool
	initing bool // during init: ReportApplied is allowed
	tables  map[uint32]*Table
	nextOut uint32

	arena []byte
	enc   wire.Encoder
	batch Batch
	row   Row

	// setAfter and setBefore hold values Set on the current row, indexed
	// by its output column; their length is the widest output table's.
	setAfter, setBefore []Value
	num                 []byte
}

var state = plugin{tables: make(map[uint32]*Table)}

// alloc returns a buffer of at least size bytes for the host's next
// message, keeping it referenced until the next alloc.
func (p *plugin) alloc(size uint32) []byte {
	if uint32(cap(p.arena)) < size || cap(p.arena) == 0 {
		p.arena = make([]byte, max(size, 64<<10, uint32(2*cap(p.arena))))
	}
	return p.arena[:cap(p.arena)]
}

// message returns the host's message of n bytes at the start of the arena.
func (p *plugin) message(n uint32) []byte {
	if uint64(n) > uint64(len(p.arena)) {
		return nil
	}
	return p.arena[:n]
}

func (p *plugin) fail(status wire.Status, msg string) []byte {
	p.enc.StartReply(status, 0, msg)
	return p.enc.Finish()
}

func (p *plugin) errorReply(err error) []byte {
	status := wire.StatusRetry
	if IsFatal(err) {
		status = wire.StatusFatal
	}
	return p.fail(status, err.Error())
}

// recovered turns the panic of a change that cannot be decoded into a
// fatal reply, and raises any other panic again: the Go runtime then
// prints it with its stack on stderr and aborts, a fault like a trap, so
// the host discards the instance (whose state the panic may have left
// half-changed) and the engine retries the batch, then applies on_error.
func (p *plugin) recovered(v any) []byte {
	if m, ok := v.(malformed); ok {
		return p.fail(wire.StatusFatal, m.err.Error())
	}
	panic(v)
}

// malformed is the panic of a sender's Batch.Row on a change it cannot
// decode: the batch fails as a malformed one does when read up front.
type malformed struct{ err error }

func (p *plugin) init(msg []byte) (reply []byte) {
	defer func() {
		if v := recover(); v != nil {
			reply = p.recovered(v)
		}
	}()
	m, err := wire.ParseInit(msg)
	if err != nil {
		return p.fail(wire.StatusFatal, "sdk: malformed init message "+err.Error())
	}
	if m.Version != wire.Version {
		return p.fail(wire.StatusFatal, "sdk: host speaks ABI v"+strconv.FormatUint(uint64(m.Version), 10)+", this plugin v"+strconv.Itoa(wire.Version))
	}
	p.role, p.task, p.name = m.Role, string(m.Task), string(m.Plugin)
	switch {
	case p.role == wire.RoleHandler && p.fn.Handler == nil:
		return p.fail(wire.StatusFatal, "configured as a handler, but the module registers no handler (call sdk.Handler in init)")
	case p.role == wire.RoleSender && p.fn.Sender == nil:
		return p.fail(wire.StatusFatal, "configured as a sender, but the module registers no sender (call sdk.Sender in init)")
	case p.role != wire.RoleHandler && p.role != wire.RoleSender:
		return p.fail(wire.StatusFatal, "sdk: unknown role "+p.role.String())
	}
	if p.fn.Init != nil {
		p.initing = true
		err := p.fn.Init(m.Config)
		p.initing = false
		if err != nil {
			return p.fail(wire.StatusFatal, err.Error())
		}
	}
	p.inited = true
	return nil
}

// readBatch decodes the header of a batch message and walks its records,
// registering tables as they come and decoding each change record into
// p.batch: for a handler into p.row, which the handler then sees; for a
// sender, and for a handler with a Prepare function, into the next
// element of the batch's rows (which Prepare reads before the handler
// sees them). It runs once per row
// inside Wasm, where calls, map lookups and struct copies are dear: the
// loop is one function, the table of the last change is remembered, and
// changes are decoded in place.
func (p *plugin) readBatch(msg []byte, handler bool) error {
	if !p.inited {
		return Fatal(errors.New("sdk: batch before a successful init"))
	}
	hdr, err := wire.ParseBatch(msg)
	if err != nil {
		return Fatal(errors.New("sdk: malformed batch " + err.Error()))
	}
	p.batch.p, p.batch.hdr, p.batch.rows, p.batch.group = p, hdr, p.batch.rows[:0], 0
	p.batch.lastID, p.batch.last = 0, nil
	recs := &p.batch.hdr.Records
	whole := !handler || p.fn.Prepare != nil
	n := 0
	var lastID uint32
	var last *Table
	for {
		tag, body, at, ok := recs.Next()
		if !ok {
			break
		}
		if tag != wire.RecChange {
			if err := p.record(tag, body, at); err != nil {
				return err
			}
			lastID, last = 0, nil
			continue
		}
		if whole {
			// A sender's changes are decoded when it reads them
			// (Batch.Row): one that renders the batch through the host
			// never does.
			if n == cap(p.batch.rows) {
				p.batch.rows = append(p.batch.rows[:n], Row{})
			}
			p.batch.rows = p.batch.rows[:n+1]
			r := &p.batch.rows[n]
			r.p, r.b, r.index, r.body, r.at, r.fixed, r.parsed = p, &p.batch, n, body, at, false, false
			n++
			continue
		}
		// A handler's change is decoded up to its fixed fields; the rest
		// (strings, images) when the handler reads them (Row.full).
		r := &p.row
		c := &r.ch
		if !c.ParseFixed(body) {
			err := c.Parse(body, at)
			return Fatal(errors.New("sdk: malformed change " + err.Error()))
		}
		r.body, r.at, r.parsed = body, at, false
		t := last
		if c.TableID != lastID {
			t = nil
			if c.TableID != 0 {
				t = p.tables[c.TableID]
				if t == nil {
					return Fatal(errors.New("sdk: change at offset " + strconv.Itoa(at) + " names unannounced table id " + strconv.FormatUint(uint64(c.TableID), 10)))
				}
			}
			lastID, last = c.TableID, t
		}
		r.index, r.table, r.out, r.op = n, t, t, Op(c.Op)
		p.handleRow(r, t)
		n++
	}
	if err := recs.Err(); err != nil {
		return Fatal(errors.New("sdk: malformed batch " + err.Error()))
	}
	if handler && whole {
		if err := p.fn.Prepare(&p.batch); err != nil {
			return err
		}
		for i := range p.batch.rows {
			r := p.batch.Row(i)
			p.handleRow(r, r.table)
		}
	}
	return nil
}

// record takes a batch record other than a change: a table schema.
func (p *plugin) record(tag uint8, body []byte, at int) error {
	if tag != wire.RecTable {
		return Fatal(errors.New("sdk: unknown record tag " + strconv.Itoa(int(tag)) + " at offset " + strconv.Itoa(at)))
	}
	wt, err := wire.ParseTable(body, at)
	if err != nil {
		return Fatal(errors.New("sdk: malformed table " + err.Error()))
	}
	if wt.ID&wire.OutputTable != 0 {
		return Fatal(errors.New("sdk: host table id " + strconv.FormatUint(uint64(wt.ID), 10) + " has the output bit"))
	}
	t := newTable(&wt)
	p.tables[wt.ID] = t
	if w := len(t.Columns) + 16; w > len(p.setAfter) {
		p.setAfter = make([]Value, 2*w)
		p.setBefore = make([]Value, 2*w)
	}
	return nil
}

func (p *plugin) handle(msg []byte) (reply []byte) {
	defer func() {
		if v := recover(); v != nil {
			reply = p.recovered(v)
		}
	}()
	if p.role != wire.RoleHandler {
		return p.fail(wire.StatusFatal, "sdk: handle called on a "+p.role.String())
	}
	p.enc.StartReply(wire.StatusOK, 0, "")
	empty := len(p.enc.Message())
	p.row.p, p.row.b = p, &p.batch
	if err := p.readBatch(msg, true); err != nil {
		return p.errorReply(err)
	}
	if len(p.enc.Message()) == empty {
		return nil // every change kept
	}
	return p.enc.Finish()
}

// handleRow runs the handler on r, whose change, index and table are
// set.
func (p *plugin) handleRow(r *Row, t *Table) {
	r.route, r.hasRoute, r.dirty, r.before, r.emitted, r.emitting = "", false, false, false, 0, false
	r.bad, r.failed = 0, ""
	if t != nil {
		out := t.out
		if !t.resolved {
			out = p.outputOf(t)
		}
		if out != t {
			if !out.announced {
				p.enc.Table(out.wire())
				out.announced = true
			}
			if w := len(out.Columns); w > len(p.setAfter) {
				p.setAfter = make([]Value, 2*w)
				p.setBefore = make([]Value, 2*w)
			}
		}
		r.out = out
	}
	v := p.fn.Handler(r)
	if v.v == wire.VerdictKeep && !r.emitting && !r.dirty && !r.hasRoute && r.out == t {
		return // kept as it came: nothing to say
	}
	r.finish(v)
}

func (p *plugin) send(msg []byte) (reply []byte) {
	defer func() {
		if v := recover(); v != nil {
			reply = p.recovered(v)
		}
	}()
	if p.role != wire.RoleSender {
		return p.fail(wire.StatusFatal, "sdk: send called on a "+p.role.String())
	}
	err := p.readBatch(msg, false)
	if err == nil {
		err = p.fn.Sender(&p.batch)
	}
	if err == nil && p.fn.Flush != nil {
		err = p.fn.Flush()
	}
	if err != nil {
		return p.errorReply(err)
	}
	return nil
}

// sendGroup passes each batch of a Group message to the sender in turn,
// then flushes once. After a batch fails, the rest are still read (the
// tables they announce must be remembered) but not sent.
func (p *plugin) sendGroup(msg []byte) (reply []byte) {
	defer func() {
		if v := recover(); v != nil {
			reply = p.recovered(v)
		}
	}()
	if p.role != wire.RoleSender {
		return p.fail(wire.StatusFatal, "sdk: send_group called on a "+p.role.String())
	}
	g, err := wire.ParseGroup(msg)
	if err != nil {
		return p.fail(wire.StatusFatal, "sdk: malformed group "+err.Error())
	}
	var failed error
	for i := 0; ; i++ {
		b, at, ok := g.Next()
		if !ok {
			break
		}
		if err := p.readBatch(b, false); err != nil {
			return p.fail(wire.StatusFatal, "sdk: batch "+strconv.Itoa(i)+" at offset "+strconv.Itoa(at)+" of the group: "+err.Error())
		}
		p.batch.group = i
		if failed == nil {
			if p.onGroupBatch != nil {
				p.onGroupBatch(i)
			} else {
				groupBatch(i)
			}
			failed = p.fn.Sender(&p.batch)
		}
	}
	if err := g.Err(); err != nil {
		return p.fail(wire.StatusFatal, "sdk: malformed group "+err.Error())
	}
	if failed == nil && p.fn.Flush != nil {
		failed = p.fn.Flush()
	}
	if failed != nil {
		return p.errorReply(failed)
	}
	return nil
}

func (p *plugin) close() (reply []byte) {
	defer func() {
		if v := recover(); v != nil {
			reply = p.recovered(v)
		}
	}()
	if p.fn.Close != nil {
		if err := p.fn.Close(); err != nil {
			return p.errorReply(err)
		}
	}
	return nil
}
