// Package host holds what the SDK's capability packages share: the host
// error message of the last failed call.
package host

import (
	"errors"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Error is a failed host call: its Errno and the host's message.
type Error struct {
	Op    string
	Errno wire.Errno
	Msg   string
}

func (e *Error) Error() string {
	if e.Msg != "" {
		return e.Op + ": " + e.Msg
	}
	return e.Op + ": " + e.Errno.Error()
}

func (e *Error) Unwrap() error { return e.Errno }

// Wrap is the error of a capability call Puma made for a plugin it runs
// compiled into its own process, as the module's import would give it:
// op, the Errno err wraps, and err's message. A nil err is nil.
func Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var errno wire.Errno
	errors.As(err, &errno)
	return &Error{Op: op, Errno: errno, Msg: err.Error()}
}
