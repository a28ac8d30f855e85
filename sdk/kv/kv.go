// Package kv is the kv capability: a small key-value state of the plugin's
// own (grants = { kv = true }), kept by the host consistent with the
// task's checkpoint. Importing it makes the module need the grant.
//
// What a plugin writes while handling a batch becomes durable with the
// checkpoint covering that batch, and is discarded if the batch fails or
// the process dies first: after a restart the state is exactly the state
// after the last checkpointed batch, and the batches after it are
// delivered again. So a plugin that counts, de-duplicates or sessionises
// through kv neither loses nor double-counts across crashes, provided it
// keeps no state of its own beside kv: read kv for every row rather than
// caching it in a variable (a failed batch's writes vanish, a variable's
// would not).
//
// Writes are allowed only while handling a batch (not in the Init or
// Close functions); reads anywhere. Keys have 1 to 1024 bytes; the whole
// state (keys and values) is bounded by grants.kv.max_bytes (1 MiB by
// default), since it is written with every checkpoint.
//
// Outside Wasm (in unit tests) the state is a map in the process, which
// package sdktest resets.
package kv

import (
	"encoding/binary"
	"errors"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Errors a call may wrap (test with errors.Is).
var (
	// ErrLimit: the state would exceed its limit.
	ErrLimit error = wire.ErrnoLimit
	// ErrDenied: kv is not granted, or a write outside a batch.
	ErrDenied error = wire.ErrnoDenied
)

// Get returns a copy of key's value; ok is false when there is none.
func Get(key string) (value []byte, ok bool, err error) { return get(key) }

// Put sets key's value.
func Put(key string, value []byte) error { return put(key, value) }

// Delete removes key; removing a missing key succeeds.
func Delete(key string) error { return del(key) }

// GetUint64 returns key's value read as a little-endian uint64 (8 bytes),
// 0 when there is none. The encoding is fixed so that plugins in any
// language share it.
func GetUint64(key string) (uint64, error) {
	v, ok, err := get(key)
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, errors.New("kv: value of " + key + " is not 8 bytes")
	}
	return binary.LittleEndian.Uint64(v), nil
}

// PutUint64 sets key's value to v, little-endian, 8 bytes.
func PutUint64(key string, v uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return put(key, b[:])
}
