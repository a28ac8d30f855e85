//go:build race

package hostabi

// raceEnabled: the race detector makes sync.Pool drop a share of what it
// is given, so tests of pooling cannot count on reuse.
const raceEnabled = true
