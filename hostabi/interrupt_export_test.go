package hostabi

// SetInterrupt makes h load modules without instrumentation: by is
// "close-on-done" (the fallback, for every module) or "nothing" (no way
// to stop a call: benchmarks only). Call it before h loads anything.
func SetInterrupt(h *Host, by string) {
	switch by {
	case "close-on-done":
		h.interrupt = byCloseOnDone
	case "nothing":
		h.interrupt = byNothing
	default:
		h.interrupt = byInstrumentation
	}
}

// InterruptBy says how the calls of m are interrupted:
// "instrumentation", "close-on-done" or "nothing".
func InterruptBy(m *Module) string { return m.interrupt.String() }
