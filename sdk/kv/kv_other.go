//go:build !wasip1

package kv

import (
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

func get(key string) ([]byte, bool, error) {
	if err := check(key); err != nil {
		return nil, false, err
	}
	v, ok := host.KV[key]
	if !ok {
		return nil, false, nil
	}
	return []byte(v), true, nil
}

func put(key string, value []byte) error {
	if err := check(key); err != nil {
		return err
	}
	host.KV[key] = string(value)
	return nil
}

func del(key string) error {
	if err := check(key); err != nil {
		return err
	}
	delete(host.KV, key)
	return nil
}

func check(key string) error {
	if len(key) == 0 || len(key) > 1024 {
		return host.Err("kv: "+key, wire.ErrnoInvalid, "a key has 1 to 1024 bytes")
	}
	return nil
}
