// Command rediscmd is a test sender for the redis capability: with each
// call it runs the commands of its config on its target, and fails the
// call with the reply as JSON ("reply: [...]", null for a missing key),
// or with the error, prefixed by the kind errors.Is finds ("remote: ",
// "denied: ", "invalid: ", "limit: "). With position set, Init reads that
// key and reports it as the applied position.
package main

import (
	"encoding/json"
	"errors"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/redis"
)

type command struct {
	Op     string   `json:"op"` // XADD, SET, GET
	Key    string   `json:"key"`
	MaxLen uint64   `json:"maxlen"`
	Args   []string `json:"args"`
}

var cfg struct {
	Target   string    `json:"target"`
	Atomic   bool      `json:"atomic"`
	Commands []command `json:"commands"`
	Position string    `json:"position"`
}

func init() {
	sdk.Init(func(raw []byte) error {
		if err := sdk.DecodeConfig(raw, &cfg); err != nil {
			return err
		}
		if cfg.Position == "" {
			return nil
		}
		v, _, err := redis.Get(cfg.Target, cfg.Position)
		if err != nil {
			return kind(err)
		}
		return sdk.ReportApplied(string(v))
	})
	sdk.Sender(func(*sdk.Batch) error {
		b := redis.Batch{Target: cfg.Target, Atomic: cfg.Atomic}
		for _, c := range cfg.Commands {
			switch c.Op {
			case "XADD":
				var fs []redis.Field
				for i := 0; i+1 < len(c.Args); i += 2 {
					fs = append(fs, redis.Field{Name: c.Args[i], Value: []byte(c.Args[i+1])})
				}
				b.XAdd(c.Key, c.MaxLen, fs...)
			case "SET":
				b.Set(c.Key, []byte(c.Args[0]))
			case "GET":
				b.Get(c.Key)
			}
		}
		r, err := redis.Exec(&b)
		if err != nil {
			return sdk.Fatal(kind(err))
		}
		out := make([]*string, r.Len())
		for i := range out {
			if v, ok := r.Value(i); ok {
				s := string(v)
				out[i] = &s
			}
		}
		j, _ := json.Marshal(out)
		return sdk.Fatal(errors.New("reply: " + string(j)))
	})
}

func kind(err error) error {
	for _, k := range []struct {
		err  error
		name string
	}{{redis.ErrRemote, "remote"}, {redis.ErrDenied, "denied"}, {redis.ErrInvalid, "invalid"}, {redis.ErrLimit, "limit"}} {
		if errors.Is(err, k.err) {
			return errors.New(k.name + ": " + err.Error())
		}
	}
	return err
}

func main() {}
