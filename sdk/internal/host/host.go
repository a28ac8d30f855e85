// Package host holds what the SDK's capability packages share: the host
// error message of the last failed call.
package host

import "github.com/pumacdc/puma/hostabi/wire"

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
