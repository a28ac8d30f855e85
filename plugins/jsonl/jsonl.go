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
	cfg  config
	f    *files.File
	enc  envelope.Encoder
	sync bool
	// unsynced is set while the file may hold lines not yet synced: from
	// opening it (an earlier instance may have left some) to the next sync.
	unsynced bool
}

var s sender

// Plugin returns the plugin's functions, for sdk.Register.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Init: s.init, Sender: s.send, Close: s.close}
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
	f, err := files.Open(s.cfg.Path, files.TrimToNewline)
	if err != nil {
		return err
	}
	s.f, s.unsynced = f, true
	return nil
}

func (s *sender) send(b *sdk.Batch) error {
	data := s.enc.Encode(b)
	size := s.f.Size()
	if len(data) > 0 {
		if err := s.f.Write(data); err != nil {
			return s.undo(size, err)
		}
		s.unsynced = true
	}
	// A batch inside a transaction is acknowledged before it is durable:
	// the checkpoint only moves to a commit, and the sync of the batch
	// closing the transaction covers the batches before it (one fsync per
	// transaction, not per batch of a large one).
	if _, closes := b.Commit(); s.sync && s.unsynced && (closes || !b.HasTx()) {
		if err := s.f.Sync(); err != nil {
			return s.undo(size, err)
		}
		s.unsynced = false
	}
	if s.cfg.MaxBytes > 0 && s.f.Size() >= s.cfg.MaxBytes {
		// What the file holds is made durable before it is renamed; a
		// failed rotation is retried with the next batch, which then
		// appends to the old file.
		if s.sync && s.unsynced {
			if err := s.f.Sync(); err != nil {
				sdk.Log(sdk.LevelWarn, "jsonl: sync before rotating "+s.cfg.Path+": "+err.Error())
				return nil
			}
			s.unsynced = false
		}
		if err := s.f.Rotate(); err != nil {
			sdk.Log(sdk.LevelWarn, "jsonl: rotate "+s.cfg.Path+": "+err.Error())
		}
	}
	return nil
}

// undo cuts a partly written batch so that its retry leaves no torn line.
func (s *sender) undo(size int64, cause error) error {
	if err := s.f.Truncate(size); err != nil {
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
