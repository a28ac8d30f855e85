package engine

import (
	"errors"
	"fmt"

	"github.com/pumacdc/puma/engine/internal/cjk"
)

// Sentinel errors, wrapped by the errors the engine returns.
var (
	// ErrUnsupportedType: a column type Puma cannot represent faithfully.
	ErrUnsupportedType = errors.New("unsupported column type")
	// ErrUnsupportedCharset: a character set Puma cannot convert to UTF-8.
	ErrUnsupportedCharset = errors.New("unsupported character set")
	// ErrStatementFormat: a DML statement logged as a query event.
	ErrStatementFormat = errors.New("statement-based change in the binary log")
	// ErrXA: an XA transaction, which go-mysql cannot decode.
	ErrXA = errors.New("XA transactions are not supported")
	// ErrPreflight: the source is not fit for change data capture.
	ErrPreflight = errors.New("preflight failed")
	// ErrSnapshotRefused: an incremental snapshot request names a table
	// the task cannot snapshot (not one it reads, missing, or without a
	// key to read it in chunks by).
	ErrSnapshotRefused = errors.New("snapshot refused")
)

// NoMetadataError reports a TABLE_MAP event without column names, logged
// while binlog_row_metadata was not FULL.
type NoMetadataError struct {
	Table string
}

func (e *NoMetadataError) Error() string {
	return fmt.Sprintf("table %s: the binary log carries no column names (binlog_row_metadata is not FULL when this row was written); run SET GLOBAL binlog_row_metadata=FULL on the source", e.Table)
}

// IllFormedTextError reports text holding bytes that are no character of
// its column's multi-byte character set (sjis, cp932, ujis, eucjpms, gbk,
// gb2312, big5, euckr): its Charset, the Offset and the Bytes.
type IllFormedTextError = cjk.IllFormedError

// PositionError locates an error in the binary log.
type PositionError struct {
	File string
	Pos  uint32
	Err  error
}

func (e *PositionError) Error() string {
	return fmt.Sprintf("at %s:%d: %v", e.File, e.Pos, e.Err)
}

func (e *PositionError) Unwrap() error { return e.Err }

// RowErrors is a handler's error for some changes of a batch it otherwise
// handled: Batch is its output for the others. Under on_error =
// "dead_letter" exactly the Failed changes go to the dead-letter file and
// Batch goes on; under "stop" the task stops with Err.
type RowErrors struct {
	// Batch is the handler's output without the failed changes.
	Batch *Batch
	// Failed are the input changes the handler reported errors for.
	Failed []Change
	// Err describes the first failure (and how many more there were).
	Err error
}

func (e *RowErrors) Error() string { return e.Err.Error() }
func (e *RowErrors) Unwrap() error { return e.Err }

// SourceRefusedError reports a source that refused the task in a way
// reconnecting cannot cure by itself: wrong credentials, missing
// privileges, a replica server id another replica holds. The task tries a
// bounded number of times (an operator may be fixing it meanwhile), then
// fails with it instead of retrying forever.
type SourceRefusedError struct {
	Source string
	// Fix says what to change.
	Fix string
	Err error
}

func (e *SourceRefusedError) Error() string {
	if e.Fix == "" {
		return fmt.Sprintf("source %s refused the task: %v", e.Source, e.Err)
	}
	return fmt.Sprintf("source %s refused the task: %v (fix: %s)", e.Source, e.Err, e.Fix)
}

func (e *SourceRefusedError) Unwrap() error { return e.Err }
