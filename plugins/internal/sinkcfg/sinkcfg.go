// Package sinkcfg checks the options the broker senders (builtin:kafka,
// nats, redis, amqp) share: the target, the format, and the envelope's
// options, refusing with one message each what a sender cannot carry.
package sinkcfg

import (
	"errors"
	"fmt"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/envelope"
)

// Refusals names, for each envelope option a sender cannot honour, why:
// an option set to a value the sender refuses fails with its reason.
type Refusals struct {
	Markers      string // markers = true
	Tombstones   string // tombstones = true
	DeleteCreate string // key_change = "delete_create"
}

// Check checks a broker sender's shared options. kind is the [targets]
// kind its target must name ("kafka"); format is "envelope" (or empty) or
// "row", and with "row" the envelope's options, which shape only the
// envelope, must be left unset. It returns whether changes go as the row
// object, the envelope's flags, and every problem found.
func Check(kind, target, format string, env *envelope.Config, no Refusals) (row bool, flags wire.EnvelopeFlags, errs []error) {
	if target == "" {
		errs = append(errs, fmt.Errorf("config: target is required: the name of a [targets] table of kind %q", kind))
	}
	switch format {
	case "", "envelope":
	case "row":
		row = true
		if *env != (envelope.Config{}) {
			errs = append(errs, errors.New(`config: the envelope's options (markers, key_change, tombstones, decimal, time, binary, envelope) need format = "envelope"`))
		}
	default:
		errs = append(errs, fmt.Errorf(`config: format %q: want "envelope" or "row"`, format))
	}
	refuse := func(set bool, what, why string) {
		if set && why != "" {
			errs = append(errs, fmt.Errorf("config: %s: %s", what, why))
		}
	}
	refuse(env.Markers, "markers", no.Markers)
	refuse(env.Tombstones, "tombstones", no.Tombstones)
	refuse(env.KeyChange == "delete_create", `key_change "delete_create"`, no.DeleteCreate)
	flags, err := env.Flags()
	if err != nil {
		errs = append(errs, err)
	}
	return row, flags, errs
}
