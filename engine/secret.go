package engine

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
)

// Secret is a value Puma uses but never shows: a password, a token, a key.
// Every way of printing it (any fmt verb, JSON, text marshalling, slog)
// yields [redacted], also inside structs, slices and maps; Reveal returns
// the value itself. Keep Secrets in exported fields only: fmt cannot call
// the methods of an unexported field and would print it raw.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value. Call it only where the value is used.
func (s Secret) Reveal() string { return string(s) }

// String returns [redacted].
func (Secret) String() string { return redacted }

// GoString returns [redacted].
func (Secret) GoString() string { return redacted }

// Format prints [redacted] for every verb (quoted for %q).
func (Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		io.WriteString(f, strconv.Quote(redacted))
		return
	}
	io.WriteString(f, redacted)
}

// MarshalText returns [redacted].
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON returns "[redacted]".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(redacted)), nil }

// LogValue makes slog print [redacted].
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

var (
	_ fmt.Formatter  = Secret("")
	_ fmt.Stringer   = Secret("")
	_ fmt.GoStringer = Secret("")
	_ slog.LogValuer = Secret("")
)

// Target is a [targets.NAME] table of puma.toml: a system plugins reach
// through the capability of its kind ("kafka", "nats", "redis", "amqp",
// "postgres", "mysql"), naming it in their grants. The host owns the
// connection; a plugin never sees the settings, whose secrets come from
// [secrets] by name. Settings are the table's other keys, raw, for the
// capability to decode strictly.
type Target struct {
	Kind     string
	Settings map[string]any
}
