// Package stdout is the builtin:stdout sender: it writes each change's
// JSON envelope, one per line, to Puma's standard output, a batch per
// write. It needs the stdout grant, which cmd/puma gives this built-in by
// default:
//
//	[[task.sender]]
//	plugin = "builtin:stdout"
//	config = { markers = true }
//
// Config: the envelope's options: markers (BEGIN and END transaction
// lines, default false), key_change, tombstones, decimal, time, binary and
// envelope (see README's "The JSON envelope"). A tombstone is the line
// null, right after the delete whose puma.key it clears.
package stdout

import (
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/envelope"
	"github.com/pumacdc/puma/sdk/stdout"
)

var enc envelope.Encoder

// Plugin returns the plugin's functions, for sdk.Register.
func Plugin() sdk.Plugin {
	return sdk.Plugin{
		Init: func(raw []byte) error {
			var cfg envelope.Config
			if err := sdk.DecodeConfig(raw, &cfg); err != nil {
				return err
			}
			flags, err := cfg.Flags()
			if err != nil {
				return err
			}
			enc.Markers, enc.Flags = cfg.Markers, flags
			return nil
		},
		Sender: func(b *sdk.Batch) error {
			return stdout.Write(enc.Encode(b))
		},
	}
}
