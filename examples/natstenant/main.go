// Command natstenant is an example custom NATS sink: it publishes each
// change to JetStream on the subject of its row's tenant,
// puma.tenant.<tenant id>, so that each tenant's consumer reads its own
// subject, exactly once.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o natstenant.wasm ./examples/natstenant
//
//	[targets.events]
//	kind = "nats"
//	url = "nats://nats1:4222"
//
//	[[task.sender]]
//	plugin = "natstenant.wasm"
//	config = { target = "events", tenant_column = "tenant_id" }
//	grants = { nats = ["events"] }
//
// Config: target (required: a [targets] table of kind "nats");
// tenant_column (required: the column naming the tenant, in every table
// the task reads); stream (default "PUMA_TENANTS", created with subjects
// puma.tenant.* and the position subject if it does not exist);
// position_subject (default "puma.position.<task>.<plugin>").
//
// Each message's data is the change's JSON envelope (README's "The JSON
// envelope"); its Nats-Msg-Id is the change's idempotency key. The tenant
// is the row's value after the change (before it, for a delete), made a
// subject token: dots, wildcards and white space become "_", and NULL or
// empty is "_". A change without the column (a DDL statement, a table
// without it) stops the task: nothing would say whose it is.
//
// Exactly once: Init reads the last message on the position subject and
// reports it (sdk.ReportApplied), so that Puma hands the sender whole
// transactions and skips those the stream already holds. Send keeps each
// committing batch's token (Batch.Position); Flush publishes the call's
// messages, waits until the stream stored every one, and only then
// publishes the token of the call's last commit on the position subject.
// If Puma dies between the two, the changes are sent again and the
// stream drops them by their message IDs (within its duplicates window,
// two minutes unless the stream says otherwise).
package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/envelope"
	"github.com/pumacdc/puma/sdk/nats"
)

// subjectPrefix is where each tenant's subject lies.
const subjectPrefix = "puma.tenant."

var cfg struct {
	Target          string `json:"target"`
	TenantColumn    string `json:"tenant_column"`
	Stream          string `json:"stream"`
	PositionSubject string `json:"position_subject"`
}

// The call's state: its messages and the token of its last commit.
var (
	enc      envelope.Encoder
	pending  []nats.Msg
	position string
	// tenantCol caches the tenant column's index per table version.
	tenantCol map[*sdk.Table]int
)

func init() {
	sdk.Init(open)
	sdk.Sender(send)
	sdk.Flush(flush)
}

func open(raw []byte) error {
	cfg.Target, cfg.TenantColumn, cfg.Stream, cfg.PositionSubject = "", "", "PUMA_TENANTS", ""
	pending, position, tenantCol = pending[:0], "", map[*sdk.Table]int{}
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return err
	}
	var errs []error
	if cfg.Target == "" {
		errs = append(errs, errors.New(`config: target is required: the name of a [targets] table of kind "nats"`))
	}
	if cfg.TenantColumn == "" {
		errs = append(errs, errors.New("config: tenant_column is required: the column naming each row's tenant"))
	}
	if cfg.PositionSubject == "" {
		cfg.PositionSubject = "puma.position." + token(sdk.Task()) + "." + token(sdk.Name())
	}
	if strings.HasPrefix(cfg.PositionSubject, subjectPrefix) {
		errs = append(errs, fmt.Errorf("config: position_subject %q: must lie outside %s*, where the tenants are", cfg.PositionSubject, subjectPrefix))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	err := nats.EnsureStream(cfg.Target, nats.Stream{Name: cfg.Stream, Subjects: []string{subjectPrefix + "*", cfg.PositionSubject}})
	if err != nil {
		return fail(err)
	}
	applied := "" // nothing stored yet
	m, err := nats.Last(cfg.Target, cfg.Stream, cfg.PositionSubject)
	switch {
	case errors.Is(err, nats.ErrNotFound):
	case err != nil:
		return fail(fmt.Errorf("read the position on %s: %w", cfg.PositionSubject, err))
	default:
		applied = string(m.Data)
	}
	return sdk.ReportApplied(applied)
}

// send makes b's messages; flush publishes them. The envelopes are
// copied: the encoder's buffer is reused by the next batch.
func send(b *sdk.Batch) error {
	if tok, ok := b.Position(); ok {
		position = tok
	}
	if b.Len() == 0 {
		return nil
	}
	lines := enc.Encode(b)
	tx := b.Tx()
	for i := range b.Len() {
		r := b.Row(i)
		tenant, err := tenantOf(r)
		if err != nil {
			return sdk.Fatal(err)
		}
		n := bytes.IndexByte(lines, '\n')
		if n < 0 {
			return sdk.Fatal(fmt.Errorf("natstenant: no envelope for change %d of batch %d", i, b.Seq()))
		}
		id := tx.ID + ":" + strconv.FormatUint(uint64(r.Seq()), 10) + ":" + strconv.FormatUint(uint64(r.Part()), 10)
		pending = append(pending, nats.Msg{Subject: subjectPrefix + tenant, MsgID: id, Data: bytes.Clone(lines[:n])})
		lines = lines[n+1:]
	}
	return nil
}

// tenantOf returns r's tenant as a subject token.
func tenantOf(r *sdk.Row) (string, error) {
	t := r.Table()
	if t == nil {
		return "", fmt.Errorf("natstenant: a %s change of %s.%s has no row, and so no tenant", r.Op(), r.DB(), r.TableName())
	}
	i, ok := tenantCol[t]
	if !ok {
		i = t.Index(cfg.TenantColumn)
		tenantCol[t] = i
	}
	if i < 0 {
		return "", fmt.Errorf("natstenant: table %s has no column %s (tenant_column)", t.FullName(), cfg.TenantColumn)
	}
	img := r.After()
	if r.Op() == sdk.OpDelete {
		img = r.Before()
	}
	return token(img.At(i).String()), nil
}

// token makes v one subject token.
func token(v string) string {
	if v == "" {
		return "_"
	}
	return strings.Map(func(c rune) rune {
		switch c {
		case '.', '*', '>', ' ', '\t', '\r', '\n', 0:
			return '_'
		}
		return c
	}, v)
}

// flush publishes the call's messages, then, once the stream stored them
// all, the position of the call's last commit.
func flush() error {
	msgs, pos := pending, position
	defer func() {
		// Sent or not, the call is over: a failed one is sent again
		// whole, to a new instance.
		clear(msgs)
		pending, position = msgs[:0], ""
	}()
	if len(msgs) > 0 {
		acks, err := nats.Publish(cfg.Target, msgs, nats.Options{Stream: cfg.Stream})
		if err == nil {
			err = nats.FirstError(acks)
		}
		if err != nil {
			return fail(err)
		}
	}
	if pos == "" {
		return nil
	}
	acks, err := nats.Publish(cfg.Target, []nats.Msg{{Subject: cfg.PositionSubject, Data: []byte(pos)}}, nats.Options{Stream: cfg.Stream})
	if err == nil {
		err = nats.FirstError(acks)
	}
	if err != nil {
		return fail(fmt.Errorf("store the position on %s: %w", cfg.PositionSubject, err))
	}
	return nil
}

// fail marks err fatal unless retrying may cure it (the server down or
// slow): a denied target or a refused message stays refused.
func fail(err error) error {
	if errors.Is(err, nats.ErrRemote) {
		return err
	}
	return sdk.Fatal(err)
}

func main() {}
