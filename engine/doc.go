// Package engine is Puma's change-data-capture core: a Task reads a
// MySQL or MariaDB server's row-based binary log as a replica, decodes
// its events into Changes grouped in Batches, runs each batch through
// its handlers and hands what they leave to its senders, and saves a
// checkpoint once every sender has acknowledged a transaction.
//
// The engine is a library: a Go program builds a TaskConfig (the zero
// value of most fields is a documented default, see
// TaskConfig.WithDefaults; TaskConfig.Validate lists every problem at
// once), gives NewTask the Deps that build its Handlers and Senders and
// store its checkpoints, and calls Task.Run until its context is
// cancelled. Handlers and senders may be Go values implementing the
// Handler and Sender interfaces or Wasm plugins run by package hostabi;
// see the package example. The puma daemon is one such program: its
// puma.toml front end decodes into the same TaskConfig.
//
// One task flows one way:
//
//	source (source.go, preflight.go) → decode (reader.go, decode.go,
//	schema.go) → pipeline (pipeline.go) → handlers → senders → ack →
//	checkpoint (engine/checkpoint)
package engine
