package sdk

import (
	"errors"
	"strconv"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Errors a Set can return, wrapped in a *SetError.
var (
	// ErrNoColumn: the Out table has no such column.
	ErrNoColumn = errors.New("no such column")
	// ErrNoImage: the change does not carry the image set (the before
	// image of an insert; either image of a TRUNCATE or DDL).
	ErrNoImage = errors.New("the change has no such image")
	// ErrKind: the value does not fit the column's kind (see Row.Set for
	// what fits).
	ErrKind = errors.New("value does not fit the column's kind")
)

// Codes for Fail: what the error verdict says to whoever reads it. The
// host does not act on a code: every error verdict fails its change, the
// batch is retried with backoff, then the task's on_error applies (stop,
// or write the change to the dead-letter file). The code is part of the
// error the host logs and stores ("error 3: …"), for people and alerts to
// tell failures apart. Codes up to 99 are Puma's (those below, and more
// may come); a plugin's own codes start at 100.
const (
	// CodeUnspecified says nothing more than the message.
	CodeUnspecified uint32 = 0
	// CodeConfig: the plugin's configuration cannot handle the change (a
	// rule that does not apply to its table, a template naming a column
	// the table lacks). Fixing puma.toml cures it; retrying does not.
	CodeConfig uint32 = wire.CodeConfig
	// CodeHost: a capability the plugin called failed (kv, secrets, http,
	// files). Retrying may cure it.
	CodeHost uint32 = wire.CodeHost
	// CodeValue: a value set on the row does not fit its column. The SDK
	// fails a change with it when the handler ignored a Set's ErrKind and
	// passed the row on; the host when a replaced row carries a value its
	// column's kind cannot hold.
	CodeValue uint32 = wire.CodeValue
	// CodeData: the change's own data cannot be handled (a required value
	// is NULL, a value cannot be parsed). Retrying does not cure it:
	// on_error = "dead_letter" sets the change aside.
	CodeData uint32 = wire.CodeData
)

// SetError is a Set, SetAt, SetBefore or SetBeforeAt that failed: the
// column, its kind and the value's kind, and why. It unwraps to
// ErrNoColumn, ErrNoImage or ErrKind.
type SetError struct {
	Table  string // the Out table, "db.name"
	Column string // the column's name, or its index when it has none
	Kind   Kind   // the column's kind; 0 with ErrNoColumn
	Value  Kind   // the value's kind (0 for NULL)
	Text   string // the value's text, shortened, for the message
	Reason string // what the column takes, or what is wrong with the text
	Err    error  // ErrNoColumn, ErrNoImage or ErrKind
}

func (e *SetError) Error() string {
	s := "sdk: set " + e.Table + "." + e.Column
	switch e.Err {
	case ErrKind:
		s += " (" + e.Kind.String() + ") to " + e.Value.String() + " " + e.Text + ": " + e.Reason
	case ErrNoImage:
		s += ": " + e.Reason
	default:
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *SetError) Unwrap() error { return e.Err }

// quote returns s quoted for a message, cut after 40 bytes.
func quote(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "…"
	}
	return strconv.Quote(s)
}
