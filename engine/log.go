package engine

import (
	"fmt"
	"io"
	"log/slog"
)

// NewLogHandler returns the handler Puma logs through: format "json" or
// "text" (anything else) to w, at level and above.
//
// An error attribute is logged as its message alone. slog's text handler
// formats other values with %+v, and the errors go-mysql returns come from
// github.com/pingcap/errors, whose Format writes a full Go stack trace for
// %+v: one "source failed" warning carried dozens of stack frames. At
// debug level an error is logged with %+v in both formats, so the stack is
// there for whoever asked for it.
func NewLogHandler(w io.Writer, format string, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: errorMessage}
	if level <= slog.LevelDebug {
		opts.ReplaceAttr = errorDetail
	}
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// errorMessage replaces an error value by its message.
func errorMessage(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindAny {
		if err, ok := a.Value.Any().(error); ok {
			a.Value = slog.StringValue(err.Error())
		}
	}
	return a
}

// errorDetail replaces an error value by its %+v, stack trace included
// when the error carries one.
func errorDetail(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindAny {
		if err, ok := a.Value.Any().(error); ok {
			a.Value = slog.StringValue(fmt.Sprintf("%+v", err))
		}
	}
	return a
}
