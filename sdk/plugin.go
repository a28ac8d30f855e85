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
	role    wire.Role
	task    string
	name    string
	inited  bool
	tables  map[uint32]*Table
	nextOut uint32

	arena []byte
	enc   wire.Encoder
	batch Batch
	row   Row
	cur   wire.Change

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

// recovered turns a panic into a fatal reply.
func (p *plugin) recovered(v any) []byte {
	var msg string
	switch v := v.(type) {
	case error:
		msg = v.Error()
	case string:
		msg = v
	default:
		msg = "non-error value"
	}
	return p.fail(wire.StatusFatal, "panic: "+msg)
}

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
	case p.role == wire.RoleHandler && handlerFunc == nil:
		return p.fail(wire.StatusFatal, "configured as a handler, but the module registers no handler (call sdk.Handler in init)")
	case p.role == wire.RoleSender && senderFunc == nil:
		return p.fail(wire.StatusFatal, "configured as a sender, but the module registers no sender (call sdk.Sender in init)")
	case p.role != wire.RoleHandler && p.role != wire.RoleSender:
		return p.fail(wire.StatusFatal, "sdk: unknown role "+p.role.String())
	}
	if initFunc != nil {
		if err := initFunc(m.Config); err != nil {
			return p.fail(wire.StatusFatal, err.Error())
		}
	}
	p.inited = true
	return nil
}

// batchStart decodes the header of a batch message and registers its
// tables as they come; each returns (or records) its change records.
func (p *plugin) readBatch(msg []byte, into *wire.Change, each func(p *plugin, i int, c *wire.Change, t *Table) error) error {
	if !p.inited {
		return Fatal(errors.New("sdk: batch before a successful init"))
	}
	hdr, err := wire.ParseBatch(msg)
	if err != nil {
		return Fatal(errors.New("sdk: malformed batch " + err.Error()))
	}
	p.batch = Batch{p: p, hdr: hdr, rows: p.batch.rows[:0]}
	recs := &p.batch.hdr.Records
	n := 0
	for {
		tag, body, at, ok := recs.Next()
		if !ok {
			break
		}
		switch tag {
		case wire.RecTable:
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
		case wire.RecChange:
			c := into
			if err := c.Parse(body, at); err != nil {
				return Fatal(errors.New("sdk: malformed change " + err.Error()))
			}
			var t *Table
			if c.TableID != 0 {
				t = p.tables[c.TableID]
				if t == nil {
					return Fatal(errors.New("sdk: change at offset " + strconv.Itoa(at) + " names unannounced table id " + strconv.FormatUint(uint64(c.TableID), 10)))
				}
			}
			if err := each(p, n, c, t); err != nil {
				return err
			}
			n++
		default:
			return Fatal(errors.New("sdk: unknown record tag " + strconv.Itoa(int(tag)) + " at offset " + strconv.Itoa(at)))
		}
	}
	if err := recs.Err(); err != nil {
		return Fatal(errors.New("sdk: malformed batch " + err.Error()))
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
	err := p.readBatch(msg, &p.row.ch, (*plugin).handleRow)
	if err != nil {
		return p.errorReply(err)
	}
	if len(p.enc.Message()) == empty {
		return nil // every change kept
	}
	return p.enc.Finish()
}

// handleRow runs the handler on change i.
func (p *plugin) handleRow(i int, c *wire.Change, t *Table) error {
	r := &p.row
	r.reset(i, c, t)
	if t != nil {
		out := p.outputOf(t)
		if out != t && !out.announced {
			p.enc.Table(out.wire())
			out.announced = true
		}
		r.out = out
		if w := len(out.Columns); w > len(p.setAfter) {
			p.setAfter = make([]Value, 2*w)
			p.setBefore = make([]Value, 2*w)
		}
	}
	r.finish(handlerFunc(r))
	return nil
}

// addRow records change i for the sender.
func (p *plugin) addRow(i int, c *wire.Change, t *Table) error {
	p.batch.rows = append(p.batch.rows, Row{p: p, b: &p.batch, index: i, ch: *c, table: t, out: t, op: c.Op})
	return nil
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
	err := p.readBatch(msg, &p.cur, (*plugin).addRow)
	if err == nil {
		err = senderFunc(&p.batch)
	}
	if err != nil {
		return p.errorReply(err)
	}
	return nil
}

func (p *plugin) close() (reply []byte) {
	defer func() {
		if v := recover(); v != nil {
			reply = p.recovered(v)
		}
	}()
	if closeFunc != nil {
		if err := closeFunc(); err != nil {
			return p.errorReply(err)
		}
	}
	return nil
}
