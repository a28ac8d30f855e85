//go:build !wasip1

// Package sdktest runs a plugin's registered handler natively, outside
// Wasm, through the same ABI messages the host sends, so its logic can be
// unit-tested with go test:
//
//	sdktest.Init(`{"column":"status"}`)
//	res, err := sdktest.Handle(sdktest.Insert(customers, int64(1), "test"))
package sdktest

import (
	"errors"
	"fmt"
	"math"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/internal/host"
)

// Absent marks a column an image does not carry.
var Absent = absent{}

type absent struct{}

// Table is an input table.
type Table struct {
	DB, Name string
	Columns  []sdk.Column
	// Key lists the key columns' indexes (default: the first column).
	Key []int
}

// Change is an input change; values are nil (NULL), Absent, int64,
// uint64, float64, string or []byte, by column kind.
type Change struct {
	Op            sdk.Op
	Table         *Table
	Before, After []any
	// File and Pos locate the change's binary-log event; changes that
	// share them were read from one event. The zero values are
	// bin.000001 and 100 plus the change's index in its batch.
	File string
	Pos  uint32
	// DB and Statement are a DDL change's (Op sdk.OpDDL, Table nil).
	DB, Statement string
}

// Insert returns an insert of after into t.
func Insert(t *Table, after ...any) Change { return Change{Op: sdk.OpInsert, Table: t, After: after} }

// Update returns an update of a row of t from before to after.
func Update(t *Table, before, after []any) Change {
	return Change{Op: sdk.OpUpdate, Table: t, Before: before, After: after}
}

// Delete returns a delete of before from t.
func Delete(t *Table, before ...any) Change {
	return Change{Op: sdk.OpDelete, Table: t, Before: before}
}

// Result is a handler's verdict on one input change.
type Result struct {
	Verdict string // keep, drop, replace, emit, error, route or patch
	Code    uint32
	Message string // an error's message, or a route
	Changes []Out  // what replace, emit and patch pass on (a patch: the input as the host patches it)
}

// Out is a change a handler passes on instead of its input.
type Out struct {
	Op            sdk.Op
	DB, Table     string
	Route         string
	Before, After map[string]any // absent columns are missing
}

var tables = map[*Table]uint32{}

// Init starts a fresh handler instance with config (JSON object text).
func Init(config string) error {
	clear(tables)
	var e wire.Encoder
	e.StartInit(wire.Version, wire.RoleHandler, "test", "test", []byte(config))
	return replyErr(sdk.NativeInit(e.Message()))
}

func replyErr(rep []byte) error {
	r, err := wire.ParseReply(rep)
	if err != nil {
		return err
	}
	if r.Status != wire.StatusOK {
		return fmt.Errorf("%s: %s", r.Status, r.Message)
	}
	return nil
}

// InitSender starts a fresh sender instance with config (JSON object
// text).
func InitSender(config string) error {
	clear(tables)
	host.Applied, host.Positioned = "", false
	var e wire.Encoder
	e.StartInit(wire.Version, wire.RoleSender, "test", "test", []byte(config))
	return replyErr(sdk.NativeInit(e.Message()))
}

// Send passes one batch of changes, a whole transaction, to the sender and
// returns its error: nil when it reported the batch durable.
func Send(changes ...Change) error {
	var e wire.Encoder
	if err := encodeBatch(&e, changes); err != nil {
		return err
	}
	return replyErr(sdk.NativeSend(e.Finish()))
}

// SendGroup passes one group, a transaction per element of txs, to the
// sender in one call (group commit) and returns its error: nil when it
// reported every batch durable.
func SendGroup(txs ...[]Change) error {
	var e wire.Encoder
	group := wire.AppendGroup(nil, uint32(len(txs)))
	for _, changes := range txs {
		if err := encodeBatch(&e, changes); err != nil {
			return err
		}
		group = wire.AppendGroupBatch(group, e.Finish())
	}
	return replyErr(sdk.NativeSendGroup(group))
}

// Applied returns the position token the sender reported from its last
// Init (sdk.ReportApplied), and whether it reported one.
func Applied() (token string, positioned bool) { return host.Applied, host.Positioned }

// Secret grants the plugin a secret called name, for the secrets and http
// capabilities.
func Secret(name, value string) { host.Secrets[name] = value }

// HTTP makes the http capability call f instead of sending requests with
// net/http; nil restores net/http.
func HTTP(f func(*wire.HTTPRequest) (*wire.HTTPResponse, error)) { host.HTTP = f }

// SQL makes the sql capability call f for each request (begin, exec,
// query, commit, rollback): f returns the result message, built with
// wire.AppendSQLExecResult or wire.AppendSQLQueryResult (nothing for
// begin, commit and rollback), or an error
// (wrapping sql.ErrRemote for a failure retrying may cure). nil refuses
// every request.
func SQL(f func(*wire.SQLRequest) ([]byte, error)) { host.SQL = f }

// AMQP makes the amqp capability call publish for each Publish (the
// message's bodies are valid during the call only: copy what you keep)
// and declare for each Declare; an error they return is the capability's
// ErrRemote. nil refuses the capability, as when it is not granted.
func AMQP(publish func(*wire.AMQPPublish) error, declare func(*wire.AMQPDeclare) error) {
	host.AMQPPublish, host.AMQPDeclare = publish, declare
}

// KV returns the kv capability's state, live: tests may read and change
// it. It lives across Init calls, as a plugin's state lives across its
// instances; ResetKV empties it.
func KV() map[string]string { return host.KV }

// ResetKV empties the kv state.
func ResetKV() { clear(host.KV) }

// batchSeq numbers the batches Handle and Send encode.
var batchSeq uint64

func encodeBatch(e *wire.Encoder, changes []Change) error {
	batchSeq++
	e.StartBatch(batchSeq, true, &wire.Tx{ID: "0-1-1", GTID: "0-1-1", ServerID: 1, File: "bin.000001", Pos: 4},
		&wire.Commit{File: "bin.000001", Pos: uint32(200 + len(changes)), GTIDSet: "0-1-1", Time: 1764064800})
	for i, c := range changes {
		var id uint32
		if c.Table != nil {
			var ok bool
			if id, ok = tables[c.Table]; !ok {
				id = uint32(len(tables) + 1)
				tables[c.Table] = id
				e.Table(wireTable(c.Table, id))
			}
		}
		file, pos := c.File, c.Pos
		if file == "" {
			file = "bin.000001"
		}
		if pos == 0 {
			pos = uint32(100 + i)
		}
		e.StartChange(&wire.ChangeHeader{Op: wire.Op(c.Op), TableID: id, Seq: uint32(i + 1), File: file, Pos: pos, DB: c.DB, Statement: c.Statement},
			c.Before != nil, c.After != nil)
		for _, img := range [][]any{c.Before, c.After} {
			if img != nil {
				if err := encodeImage(e, c.Table, img); err != nil {
					return err
				}
			}
		}
		e.EndChange()
	}
	return nil
}

// Encode returns the Batch message Handle would pass the handler for
// changes, announcing the tables this instance has not seen, for a
// benchmark that calls sdk.NativeHandle itself without decoding the
// reply.
func Encode(changes ...Change) ([]byte, error) {
	var e wire.Encoder
	if err := encodeBatch(&e, changes); err != nil {
		return nil, err
	}
	return e.Finish(), nil
}

// Handle passes one batch of changes to the handler and returns a Result
// per change.
func Handle(changes ...Change) ([]Result, error) {
	var e wire.Encoder
	if err := encodeBatch(&e, changes); err != nil {
		return nil, err
	}
	msg := e.Finish()
	rep := sdk.NativeHandle(msg)
	r, err := wire.ParseReply(rep)
	if err != nil {
		return nil, err
	}
	if r.Status != wire.StatusOK {
		return nil, fmt.Errorf("%s: %s", r.Status, r.Message)
	}
	res := make([]Result, len(changes))
	for i := range res {
		res[i].Verdict = "keep"
	}
	out := map[uint32]*wire.Table{}
	for {
		tag, body, at, ok := r.Records.Next()
		if !ok {
			break
		}
		switch tag {
		case wire.RecTable:
			t, err := wire.ParseTable(body, at)
			if err != nil {
				return nil, err
			}
			out[t.ID] = &t
		case wire.RecVerdict:
			v, err := wire.ParseVerdict(body, at)
			if err != nil {
				return nil, err
			}
			if int(v.Index) >= len(res) {
				return nil, errors.New("verdict index out of range")
			}
			rs := &res[v.Index]
			rs.Verdict, rs.Code, rs.Message = v.Verdict.String(), v.Code, string(v.Text)
			if v.Verdict == wire.VerdictPatch {
				o, err := patched(msg, v.Index, &v, changes[v.Index].Table)
				if err != nil {
					return nil, err
				}
				rs.Message, rs.Changes = "", []Out{o}
				continue
			}
			for {
				wc, ok := v.Changes.Next()
				if !ok {
					break
				}
				t := out[wc.TableID]
				if t == nil && wc.TableID != 0 {
					in := changes[v.Index].Table
					t = wireTable(in, wc.TableID)
				}
				o := Out{Op: sdk.Op(wc.Op), Route: string(wc.Route)}
				if t != nil {
					o.DB, o.Table = t.DB, t.Name
					if wc.Flags&wire.ChangeBefore != 0 {
						o.Before = decodeImage(t, wc.Before)
					}
					if wc.Flags&wire.ChangeAfter != 0 {
						o.After = decodeImage(t, wc.After)
					}
				}
				rs.Changes = append(rs.Changes, o)
			}
			if err := v.Changes.Err(); err != nil {
				return nil, err
			}
		}
	}
	return res, r.Records.Err()
}

func wireTable(t *Table, id uint32) *wire.Table {
	w := &wire.Table{ID: id, DB: t.DB, Name: t.Name, KeyKind: wire.KeyPrimary}
	for _, c := range t.Columns {
		var flags uint8
		if c.Unsigned {
			flags |= wire.ColUnsigned
		}
		if c.Nullable {
			flags |= wire.ColNullable
		}
		w.Columns = append(w.Columns, wire.Column{Name: c.Name, Kind: wire.Kind(c.Kind), SQLType: c.SQLType, Meta: c.Meta, Flags: flags, Charset: c.Charset, Values: c.Values})
	}
	key := t.Key
	if key == nil && len(t.Columns) > 0 {
		key = []int{0}
	}
	for _, k := range key {
		w.Key = append(w.Key, uint16(k))
	}
	return w
}

func encodeImage(e *wire.Encoder, t *Table, img []any) error {
	e.StartImage(len(img))
	for i, v := range img {
		switch v := v.(type) {
		case nil:
			e.Null(i)
		case absent:
		case int64:
			e.Int(i, v)
		case int:
			e.Int(i, int64(v))
		case uint64:
			e.Uint(i, v)
		case float64:
			e.Float(i, v)
		case string:
			e.String(i, v)
		case []byte:
			e.Bytes(i, v)
		default:
			return fmt.Errorf("sdktest: column %s: unsupported value %T", t.Columns[i].Name, v)
		}
	}
	e.EndImage()
	return nil
}

func decodeImage(t *wire.Table, im wire.Image) map[string]any {
	m := map[string]any{}
	for i, c := range t.Columns {
		switch im.Slot(i) {
		case wire.SlotAbsent:
			continue
		case wire.SlotNull:
			m[c.Name] = nil
			continue
		}
		var n uint64
		var b []byte
		if c.Kind.Fixed() {
			n, _ = im.Fixed(i)
		} else {
			b, _ = im.Var(i)
		}
		m[c.Name] = value(c.Kind, n, b)
	}
	return m
}

// value is a value of kind k as Result shows it: n for a fixed kind, else
// b (copied).
func value(k wire.Kind, n uint64, b []byte) any {
	switch k {
	case wire.KindUint, wire.KindBit:
		return n
	case wire.KindFloat, wire.KindDouble:
		return math.Float64frombits(n)
	case wire.KindInt, wire.KindYear:
		return int64(n)
	case wire.KindBytes, wire.KindGeometry:
		return append([]byte{}, b...)
	}
	return string(b)
}

// patched is what a patch verdict passes on: the input change of batch
// message msg at index with its after image's columns set as the patch
// says, as the host applies it.
func patched(msg []byte, index uint32, v *wire.VerdictRec, t *Table) (Out, error) {
	hdr, err := wire.ParseBatch(msg)
	if err != nil {
		return Out{}, err
	}
	var in wire.Change
	for n := uint32(0); ; {
		tag, body, at, ok := hdr.Records.Next()
		if !ok {
			return Out{}, errors.New("sdktest: patch of a change the batch lacks")
		}
		if tag != wire.RecChange {
			continue
		}
		if n == index {
			if in, err = wire.ParseChange(body, at); err != nil {
				return Out{}, err
			}
			break
		}
		n++
	}
	o := Out{Op: sdk.Op(in.Op), Route: string(in.Route)}
	if v.HasRoute {
		o.Route = string(v.Text)
	}
	if t == nil || !in.After.Present() {
		return o, errors.New("sdktest: a patch of a change without an after image")
	}
	wt := wireTable(t, in.TableID)
	o.DB, o.Table = wt.DB, wt.Name
	if in.Before.Present() {
		o.Before = decodeImage(wt, in.Before)
	}
	o.After = decodeImage(wt, in.After)
	kinds := make([]wire.Kind, len(wt.Columns))
	for i, c := range wt.Columns {
		kinds[i] = c.Kind
	}
	for {
		col, state, n, b, ok := v.Patch.Next(kinds)
		if !ok {
			break
		}
		if state == wire.PatchNull {
			o.After[wt.Columns[col].Name] = nil
		} else {
			o.After[wt.Columns[col].Name] = value(kinds[col], n, b)
		}
	}
	return o, v.Patch.Err()
}
