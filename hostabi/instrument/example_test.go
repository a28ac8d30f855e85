package instrument_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pumacdc/puma/hostabi/instrument"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// spinWasm is (module (func (export "spin") (loop (br 0)))).
var spinWasm = []byte{
	0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00,
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type [] -> []
	0x03, 0x02, 0x01, 0x00, // one function of type 0
	0x07, 0x08, 0x01, 0x04, 's', 'p', 'i', 'n', 0x00, 0x00, // export "spin"
	0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop br 0 end end
}

// The host's side: register the no-op safepoint once per runtime,
// instrument at load, and interrupt an instance from a watchdog by
// setting its exported global.
func Example() {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx) // no WithCloseOnContextDone: instrumentation replaces it
	defer r.Close(ctx)

	// Returning to Go is the point of the safepoint: it lets a garbage
	// collection stop this goroutine while the guest spins.
	_, err := r.NewHostModuleBuilder(instrument.ImportModule).
		NewFunctionBuilder().
		WithGoFunction(api.GoFunc(func(context.Context, []uint64) {}), nil, nil).
		Export(instrument.ImportSafepoint).
		Instantiate(ctx)
	if err != nil {
		panic(err)
	}

	wasm, err := instrument.Instrument(spinWasm, instrument.Options{})
	if err != nil {
		// Refused (errors.Is(err, instrument.ErrUnsupported), ...): run the
		// original in a runtime configured WithCloseOnContextDone(true).
		panic(err)
	}
	mod, err := r.Instantiate(ctx, wasm)
	if err != nil {
		panic(err)
	}
	flag := mod.ExportedGlobal(instrument.ExportInterrupt).(api.MutableGlobal)
	countdown := mod.ExportedGlobal(instrument.ExportCountdown).(api.MutableGlobal)

	// The host's own record says why a call trapped: a deadline or a bug in
	// the guest.
	var timedOut atomic.Bool
	watchdog := time.AfterFunc(10*time.Millisecond, func() {
		timedOut.Store(true)
		flag.Set(1)      // any non-zero value; safe from any goroutine
		countdown.Set(0) // so that the guest reads the flag at its next check
	})
	_, err = mod.ExportedFunction("spin").Call(ctx)
	watchdog.Stop()
	// After a trap the instance is discarded, never called again.
	fmt.Println("trapped:", err != nil, "deadline:", timedOut.Load())

	// Output: trapped: true deadline: true
}
