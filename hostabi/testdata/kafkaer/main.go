// Command kafkaer is a test sender: on each batch it runs the kafka
// operations of its config in order (produce, begin, commit, abort,
// last) and fails with the first one that does not go as the config
// expects, saying which.
package main

import (
	"errors"
	"fmt"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/kafka"
)

type op struct {
	Op        string            `json:"op"`
	Topic     string            `json:"topic"`
	Key       *string           `json:"key"`
	Value     *string           `json:"value"`
	Headers   map[string]string `json:"headers"`
	Partition *int32            `json:"partition"`
	// Expect is the value last must find; ExpectNone that it finds
	// none. Fail is the error (errors.Is) a produce, commit or last must
	// return: "denied", "invalid", "remote", "limit".
	Expect     *string `json:"expect"`
	ExpectNone bool    `json:"expect_none"`
	Fail       string  `json:"fail"`
	Count      int     `json:"count"` // produce Count records, keys Key+i
}

var cfg struct {
	Target string `json:"target"`
	Ops    []op   `json:"ops"`
}

var fails = map[string]error{"denied": kafka.ErrDenied, "invalid": kafka.ErrInvalid, "remote": kafka.ErrRemote, "limit": kafka.ErrLimit}

func init() {
	sdk.Init(func(raw []byte) error { return sdk.DecodeConfig(raw, &cfg) })
	sdk.Sender(func(*sdk.Batch) error {
		c := kafka.Target(cfg.Target)
		for i, o := range cfg.Ops {
			if err := run(c, o); err != nil {
				return fmt.Errorf("op %d (%s): %w", i, o.Op, err)
			}
		}
		return nil
	})
}

func run(c *kafka.Client, o op) error {
	var err error
	switch o.Op {
	case "produce":
		n := max(o.Count, 1)
		recs := make([]kafka.Record, n)
		for i := range recs {
			r := kafka.Record{Topic: o.Topic}
			if o.Key != nil {
				r.Key = []byte(*o.Key)
				if o.Count > 0 {
					r.Key = fmt.Appendf(nil, "%s%d", *o.Key, i)
				}
			}
			if o.Value != nil {
				r.Value = []byte(*o.Value)
			}
			for k, v := range o.Headers {
				r.Headers = append(r.Headers, kafka.Header{Key: k, Value: []byte(v)})
			}
			if o.Partition != nil {
				r.Partition, r.Manual = *o.Partition, true
			}
			recs[i] = r
		}
		var res []kafka.Result
		res, err = c.Produce(recs...)
		if err == nil && o.Partition != nil && res[0].Partition != *o.Partition {
			return fmt.Errorf("written to partition %d, not %d", res[0].Partition, *o.Partition)
		}
	case "begin":
		err = c.Begin()
	case "commit":
		err = c.Commit()
	case "abort":
		err = c.Abort()
	case "last":
		var f kafka.Found
		var ok bool
		f, ok, err = c.Last(o.Topic, []byte(*o.Key))
		switch {
		case err != nil:
		case o.ExpectNone && ok:
			return fmt.Errorf("found %q at %d/%d, want none", f.Value, f.Partition, f.Offset)
		case o.Expect != nil && !ok:
			return fmt.Errorf("found none, want %q", *o.Expect)
		case o.Expect != nil && string(f.Value) != *o.Expect:
			return fmt.Errorf("found %q, want %q", f.Value, *o.Expect)
		}
	default:
		return sdk.Fatal(fmt.Errorf("unknown op %q", o.Op))
	}
	if o.Fail != "" {
		if !errors.Is(err, fails[o.Fail]) {
			return fmt.Errorf("err = %v, want a %s error", err, o.Fail)
		}
		return nil
	}
	return err
}

func main() {}
