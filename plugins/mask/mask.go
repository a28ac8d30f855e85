// Package mask is the builtin:mask handler: it hides column values by
// hashing, redacting or truncating them, in the before and after images
// of every change, chosen per column by glob patterns over
// "db.table.column".
//
//	[secrets]
//	mask_salt_file = "/run/secrets/mask_salt"
//
//	[[task.handler]]
//	plugin = "builtin:mask"
//	  [task.handler.config]
//	  salt_secret = "mask_salt"
//	  hash = ["shop.customers.email", "shop.*.phone"]
//	  redact = ["shop.customers.card_*"]
//	  truncate = { "shop.orders.note" = 20 }
//	  replacement = "[redacted]"
//
// hash replaces a value with its HMAC-SHA256 keyed with the secret named
// by salt_secret (hex text; the 32 raw bytes in a binary column; a JSON
// string in a JSON column): equal values still compare equal across
// tables, so joins keep working, but without the key a dictionary of
// likely values cannot reverse it. The host computes it, for all the
// values of a batch in one call: the salt never enters the plugin, and
// cmd/puma grants builtin:mask the secret named in its config. redact replaces a value with NULL, or with replacement in
// text, binary and JSON columns and in columns whose kind replacement
// fits (a date column takes "0000-00-00", see sdk.Row.Set); numbers and
// the other columns become NULL. truncate keeps the first N characters of
// a text column (bytes of a binary column). NULL values stay NULL.
//
// Patterns are path.Match globs, one for each of the three dot-separated
// parts. A column matching several rules gets the first of redact, hash,
// truncate. Hashing or truncating a column whose kind cannot hold the
// result (numbers, DECIMAL, temporal kinds, ENUM, SET, UUID, INET), or
// truncating a JSON column, fails its changes with an error naming the
// column: redact those. Key columns are masked like any other, so the envelope's key
// shows masked values.
package mask

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/secrets"
)

type config struct {
	Hash        []string       `json:"hash"`
	Redact      []string       `json:"redact"`
	Truncate    map[string]int `json:"truncate"`
	SaltSecret  string         `json:"salt_secret"`
	Replacement *string        `json:"replacement"`
}

type action uint8

const (
	actRedact action = iota + 1
	actHash
	actTruncate
)

// rule is one masked column of a table version.
type rule struct {
	col  int
	name string
	act  action
	n    int    // truncate length
	err  string // set when the rule cannot apply to the column's kind
	null bool   // redact to NULL: no replacement, or one the column cannot hold
}

type pattern struct{ db, table, col string }

type masker struct {
	cfg      config
	redact   []pattern
	hash     []pattern
	truncate []pattern
	lengths  []int
	tables   map[*sdk.Table][]rule
	// last, lastRules and lastBad cache the last table's rules and the
	// error of the first that cannot apply.
	last      *sdk.Table
	lastRules []rule
	lastBad   string
	// macs collects the values a batch hashes (prepare), sums holds
	// their MACs as hex digits, in the order handle takes them, and next
	// is the offset of the next one.
	macs secrets.MACs
	sums []byte
	next int
	// buf holds the current row's hashes of binary and JSON columns.
	buf []byte
}

// hexMAC is the length of an HMAC-SHA256 in hex digits.
const hexMAC = 64

// Plugin returns the functions of a new instance of the plugin, for
// sdk.Register: each call's have their own state.
func Plugin() sdk.Plugin { return New(nil) }

// New is Plugin for an instance run natively (sdk.NewInstance): macs
// computes its MACs (secrets.MACs.Host), nil for the module's host.
func New(macs func(alg uint32, secret string, data, out []byte) error) sdk.Plugin {
	m := &masker{macs: secrets.MACs{Host: macs}}
	return sdk.Plugin{Init: m.init, Prepare: m.prepare, Handler: m.handle}
}

func (m *masker) init(raw []byte) error {
	*m = masker{macs: secrets.MACs{Host: m.macs.Host}, tables: make(map[*sdk.Table][]rule)}
	if err := sdk.DecodeConfig(raw, &m.cfg); err != nil {
		return err
	}
	var errs []error
	parse := func(key, s string) (pattern, bool) {
		db, rest, ok1 := strings.Cut(s, ".")
		table, col, ok2 := strings.Cut(rest, ".")
		if !ok1 || !ok2 || db == "" || table == "" || col == "" {
			errs = append(errs, fmt.Errorf("config: %s: %q: want db.table.column", key, s))
			return pattern{}, false
		}
		for _, p := range []string{db, table, col} {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("config: %s: %q: %w", key, s, err))
				return pattern{}, false
			}
		}
		return pattern{db, table, col}, true
	}
	for _, s := range m.cfg.Redact {
		if p, ok := parse("redact", s); ok {
			m.redact = append(m.redact, p)
		}
	}
	for _, s := range m.cfg.Hash {
		if p, ok := parse("hash", s); ok {
			m.hash = append(m.hash, p)
		}
	}
	keys := make([]string, 0, len(m.cfg.Truncate))
	for k := range m.cfg.Truncate {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first match wins: make "first" mean something
	for _, k := range keys {
		n := m.cfg.Truncate[k]
		if n < 0 {
			errs = append(errs, fmt.Errorf("config: truncate: %q: a length must not be negative", k))
			continue
		}
		if p, ok := parse("truncate", k); ok {
			m.truncate = append(m.truncate, p)
			m.lengths = append(m.lengths, n)
		}
	}
	if len(m.hash) > 0 && m.cfg.SaltSecret == "" {
		errs = append(errs, errors.New("config: hash needs salt_secret, the name of a secret in [secrets]: an unkeyed hash of an email address is reversed with a dictionary"))
	}
	if len(m.redact)+len(m.hash)+len(m.truncate) == 0 {
		errs = append(errs, errors.New("config: nothing to mask: give hash, redact or truncate"))
	}
	return errors.Join(errs...)
}

func find(ps []pattern, db, table, col string) int {
	for i, p := range ps {
		if ok, _ := path.Match(p.db, db); !ok {
			continue
		}
		if ok, _ := path.Match(p.table, table); !ok {
			continue
		}
		if ok, _ := path.Match(p.col, col); ok {
			return i
		}
	}
	return -1
}

// freeText reports whether a column of kind k holds any text (or bytes)
// a hash or a truncation makes; the other kinds (numbers, DECIMAL,
// temporal, ENUM, SET, UUID, INET) hold only values of their format.
func freeText(k sdk.Kind) bool {
	switch k {
	case sdk.KindString, sdk.KindBytes, sdk.KindGeometry, sdk.KindJSON:
		return true
	}
	return false
}

// rules decides, once per table version, what to do with each column.
func (m *masker) rules(t *sdk.Table) []rule {
	if rs, ok := m.tables[t]; ok {
		return rs
	}
	var rs []rule
	for i, c := range t.Columns {
		r := rule{col: i, name: c.Name}
		switch {
		case find(m.redact, t.DB, t.Name, c.Name) >= 0:
			r.act = actRedact
			r.null = m.cfg.Replacement == nil || c.Kind.Numeric() || c.Check(sdk.String(*m.cfg.Replacement)) != nil && !freeText(c.Kind)
		case find(m.hash, t.DB, t.Name, c.Name) >= 0:
			r.act = actHash
			if !freeText(c.Kind) {
				r.err = "cannot hash " + t.FullName() + "." + c.Name + " (kind " + c.Kind.String() + "): redact it instead"
			}
		default:
			j := find(m.truncate, t.DB, t.Name, c.Name)
			if j < 0 {
				continue
			}
			r.act, r.n = actTruncate, m.lengths[j]
			if !freeText(c.Kind) || c.Kind == sdk.KindJSON {
				r.err = "cannot truncate " + t.FullName() + "." + c.Name + " (kind " + c.Kind.String() + "): redact it instead"
			}
		}
		rs = append(rs, r)
	}
	m.tables[t] = rs
	return rs
}

// rowRules returns the rules of r's table, nil for a DDL change, and the
// error of the first rule that cannot apply ("" when all can).
func (m *masker) rowRules(r *sdk.Row) ([]rule, string) {
	t := r.Table()
	if t == nil {
		return nil, ""
	}
	if t != m.last {
		m.last, m.lastRules, m.lastBad = t, m.rules(t), ""
		for _, rl := range m.lastRules {
			if rl.err != "" {
				m.lastBad = rl.err
				break
			}
		}
	}
	if m.lastBad != "" {
		return nil, m.lastBad
	}
	return m.lastRules, ""
}

// prepare has the host compute the MAC of every value the batch hashes,
// in one call, in the order handle takes them: rule by rule, the before
// image's value then the after image's.
func (m *masker) prepare(b *sdk.Batch) error {
	m.macs.Reset()
	m.sums, m.next = m.sums[:0], 0
	for i := range b.Len() {
		r := b.Row(i)
		rs, _ := m.rowRules(r)
		for _, rl := range rs {
			if rl.act != actHash {
				continue
			}
			if v := r.Before().At(rl.col); v.Valid() {
				m.macs.Add(v.Bytes())
			}
			if v := r.After().At(rl.col); v.Valid() {
				m.macs.Add(v.Bytes())
			}
		}
	}
	if m.macs.Len() == 0 {
		return nil
	}
	sums, err := m.macs.HMACSHA256(m.cfg.SaltSecret, true)
	if err != nil {
		return errors.New("mask: " + err.Error())
	}
	m.sums = sums
	return nil
}

func (m *masker) handle(r *sdk.Row) sdk.Verdict {
	rs, bad := m.rowRules(r)
	if bad != "" {
		return sdk.Fail(sdk.CodeConfig, "mask: "+bad)
	}
	t := r.Table()
	m.buf = m.buf[:0]
	for _, rl := range rs {
		if before := r.Before(); before.Present() {
			v, changed, err := m.mask(rl, t.Columns[rl.col].Kind, before.At(rl.col))
			if err != nil {
				return sdk.Fail(sdk.CodeHost, "mask: "+t.FullName()+"."+rl.name+": "+err.Error())
			}
			if changed {
				r.SetBeforeAt(rl.col, v)
			}
		}
		if after := r.After(); after.Present() {
			v, changed, err := m.mask(rl, t.Columns[rl.col].Kind, after.At(rl.col))
			if err != nil {
				return sdk.Fail(sdk.CodeHost, "mask: "+t.FullName()+"."+rl.name+": "+err.Error())
			}
			if changed {
				r.SetAt(rl.col, v)
			}
		}
	}
	return sdk.Keep()
}

func binaryKind(k sdk.Kind) bool { return k == sdk.KindBytes || k == sdk.KindGeometry }

// mask returns what v becomes under rl; changed is false when it stays.
func (m *masker) mask(rl rule, k sdk.Kind, v sdk.Value) (sdk.Value, bool, error) {
	if !v.Valid() {
		return v, false, nil // NULL and absent stay as they are
	}
	switch rl.act {
	case actRedact:
		rep := m.cfg.Replacement
		switch {
		case rl.null:
			return sdk.Null(), true, nil
		case k == sdk.KindJSON:
			return sdk.String(strconv.Quote(*rep)), true, nil
		case binaryKind(k):
			return sdk.Bytes([]byte(*rep)), true, nil
		}
		return sdk.String(*rep), true, nil
	case actHash:
		// The MAC prepare had the host compute, in hex digits, which live
		// in m.sums until the next batch: no allocation per row.
		if len(m.sums)-m.next < hexMAC {
			return v, false, errors.New("no MAC was computed for the value (the batch was not prepared)")
		}
		text := m.sums[m.next : m.next+hexMAC : m.next+hexMAC]
		m.next += hexMAC
		// A binary column takes the MAC's 32 bytes, a JSON column a JSON
		// string: made in m.buf, which handle empties per row.
		mark := len(m.buf)
		switch {
		case binaryKind(k):
			m.buf, _ = hex.AppendDecode(m.buf, text)
			return sdk.Bytes(m.buf[mark:len(m.buf):len(m.buf)]), true, nil
		case k == sdk.KindJSON:
			m.buf = append(append(append(m.buf, '"'), text...), '"')
			text = m.buf[mark:]
		}
		return sdk.String(unsafe.String(unsafe.SliceData(text), len(text))), true, nil
	case actTruncate:
		s := v.Text()
		if binaryKind(k) {
			if len(s) <= rl.n {
				return v, false, nil
			}
			return sdk.Bytes([]byte(s[:rl.n])), true, nil
		}
		if utf8.RuneCountInString(s) <= rl.n {
			return v, false, nil
		}
		i, n := 0, 0
		for n < rl.n {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			n++
		}
		return sdk.String(s[:i]), true, nil
	}
	return v, false, nil
}
