// Package jsonl is the builtin:jsonl sender: it appends each change's JSON
// envelope, one per line, to a file, and syncs the file before
// acknowledging a batch. It needs the files grant for the file's
// directory:
//
//	[[task.sender]]
//	plugin = "builtin:jsonl"
//	config = { path = "out/shop.jsonl", max_bytes = 104857600, markers = true }
//	grants = { files = ["out"] }
//
// Config: path (required; absolute or relative to puma.toml's directory), max_bytes
// (rotate once the file reaches it, renaming it to path.<unix-nanos>; 0,
// the default, never rotates), fsync (default true: the file is synced
// before a transaction's commit is acknowledged, and before rotating),
// and the envelope's options: markers (BEGIN and END transaction lines,
// default false), key_change, tombstones, decimal, time, binary and
// envelope (see README's "The JSON envelope"). A tombstone is the line
// null, right after the delete whose puma.key it clears.
//
// It writes and syncs once per call: the lines of a group of several
// transactions (group commit) go to the file in one write (one per
// writeChunk bytes) and cost one fsync, made before any of their commits
// is acknowledged.
//
// A line torn by a crash is cut off when the file is opened: it was never
// acknowledged and will be delivered again.
package jsonl

import (
	"errors"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/envelope"
	"github.com/pumacdc/puma/sdk/files"
)

type config struct {
	Path     string `json:"path"`
	MaxBytes int64  `json:"max_bytes"`
	Fsync    *bool  `json:"fsync"`
	envelope.Config
}

type sender struct {
	host Host
	cfg  config
	f    *files.File
	enc  envelope.Encoder
	sync bool
	// unsynced is set while the file may hold lines not yet synced: from
	// opening it (an earlier instance may have left some) to the next sync.
	unsynced bool
	// closes is set when a batch of the current call closed its
	// transaction (or had none): the call must sync before it returns.
	closes bool
	// start is the file's size before the current call's first write, -1
	// before that write: a failed call cuts the file back to it, so that
	// its retry leaves neither a torn line nor a second copy.
	start int64
	// pending holds the call's lines not yet written: they go to the
	// file in flush, or once they reach writeChunk, so that a group costs
	// a write per chunk rather than one per batch.
	pending []byte
}

// writeChunk is how many bytes of lines a call gathers before writing them.
const writeChunk = 256 << 10

// Host is what the sender reaches outside its own code when Puma runs it
// compiled into its process (sdk.Instance) rather than as a module: the
// instance's files capability, envelope rendering and log. The zero Host
// is the module's imports.
type Host struct {
	Files    files.Host
	Envelope func(free []byte, from int, opts uint32) (changes, written int, err error)
	Log      func(level sdk.Level, msg string)
	// ReadColumns, with Envelope, is told in Init that the sender reads
	// no values itself (the key columns with key_change, to tell a key
	// changed), so that the host hands it no others.
	ReadColumns func(names []string, keys bool) error
}

// Plugin returns a fresh sender's functions, for sdk.Register.
func Plugin() sdk.Plugin { return New(Host{}) }

// New returns the functions of a fresh sender reaching h.
func New(h Host) sdk.Plugin {
	if h.Log == nil {
		h.Log = sdk.Log
	}
	s := &sender{host: h, start: -1}
	s.enc.Host = h.Envelope
	return sdk.Plugin{Init: s.init, Sender: s.send, Flush: s.flush, Close: s.close}
}

func (s *sender) init(raw []byte) error {
	if err := sdk.DecodeConfig(raw, &s.cfg); err != nil {
		return err
	}
	if s.cfg.Path == "" {
		return errors.New("config: path is required")
	}
	if s.cfg.MaxBytes < 0 {
		return errors.New("config: max_bytes must not be negative")
	}
	s.sync = s.cfg.Fsync == nil || *s.cfg.Fsync
	flags, err := s.cfg.Flags()
	if err != nil {
		return err
	}
	s.enc.Markers, s.enc.Flags = s.cfg.Markers, flags
	if err := s.enc.DeclareRead(s.host.ReadColumns); err != nil {
		return err
	}
	f, err := files.OpenOn(s.host.Files, s.cfg.Path, files.TrimToNewline)
	if err != nil {
		return err
	}
	s.f, s.unsynced = f, true
	return nil
}

func (s *sender) send(b *sdk.Batch) error {
	data := s.enc.Encode(b)
	if s.start < 0 {
		s.start = s.f.Size()
	}
	s.pending = append(s.pending, data...)
	if len(s.pending) >= writeChunk {
		if err := s.write(); err != nil {
			return s.undo(err)
		}
	}
	// A batch inside a transaction is acknowledged before it is durable:
	// the checkpoint only moves to a commit, and the sync (in flush) of
	// the call holding the batch closing the transaction covers the
	// batches before it.
	if _, closes := b.Commit(); closes || !b.HasTx() {
		s.closes = true
	}
	if s.cfg.MaxBytes > 0 && s.f.Size()+int64(len(s.pending)) >= s.cfg.MaxBytes {
		if err := s.write(); err != nil {
			return s.undo(err)
		}
		// What the file holds is made durable before it is renamed; a
		// failed rotation is retried with the next batch, which then
		// appends to the old file.
		if s.sync && s.unsynced {
			if err := s.f.Sync(); err != nil {
				s.host.Log(sdk.LevelWarn, "jsonl: sync before rotating "+s.cfg.Path+": "+err.Error())
				return nil
			}
			s.unsynced = false
		}
		if err := s.f.Rotate(); err != nil {
			s.host.Log(sdk.LevelWarn, "jsonl: rotate "+s.cfg.Path+": "+err.Error())
		} else {
			s.start = 0 // what the old file held is synced
		}
	}
	return nil
}

// write passes the pending lines to the file.
func (s *sender) write() error {
	if len(s.pending) == 0 {
		return nil
	}
	err := s.f.Write(s.pending)
	s.pending = s.pending[:0]
	s.unsynced = true
	return err
}

// flush ends a call whose batches were all accepted: it writes their
// lines, and syncs once when one of them closed a transaction.
func (s *sender) flush() error {
	if err := s.write(); err != nil {
		return s.undo(err)
	}
	if s.sync && s.unsynced && s.closes {
		if err := s.f.Sync(); err != nil {
			return s.undo(err)
		}
		s.unsynced = false
	}
	s.start, s.closes = -1, false
	return nil
}

// undo cuts what the failed call wrote so that its retry leaves no torn
// line and no second copy of its batches.
func (s *sender) undo(cause error) error {
	start := s.start
	s.start, s.closes, s.pending = -1, false, s.pending[:0]
	if start < 0 {
		return cause
	}
	if err := s.f.Truncate(start); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

func (s *sender) close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}
