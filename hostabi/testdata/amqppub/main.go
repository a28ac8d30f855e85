// Command amqppub is a test sender for the amqp capability: it declares
// what its config's declare names (once per instance), then publishes
// each row of a batch as one message to its config's exchange and
// routing key (within its timeout), with the message ID "<tx id>:<seq>", a table header and
// the row's email as the body, and fails with the capability's error.
package main

import (
	"strconv"
	"time"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/amqp"
)

var cfg struct {
	Target     string            `json:"target"`
	Exchange   string            `json:"exchange"`
	RoutingKey string            `json:"routing_key"`
	Timeout    string            `json:"timeout"`
	Declare    *amqp.Declaration `json:"declare"`
}

var (
	pub      amqp.Publisher
	declared bool
)

func init() {
	sdk.Init(func(raw []byte) error {
		declared = false
		if err := sdk.DecodeConfig(raw, &cfg); err != nil {
			return err
		}
		pub = amqp.Publisher{Target: cfg.Target}
		if cfg.Timeout != "" {
			d, err := time.ParseDuration(cfg.Timeout)
			if err != nil {
				return err
			}
			pub.Timeout = d
		}
		return nil
	})
	sdk.Sender(func(b *sdk.Batch) error {
		if cfg.Declare != nil && !declared {
			if err := amqp.Declare(cfg.Target, *cfg.Declare); err != nil {
				return err
			}
			declared = true
		}
		tx := b.Tx()
		for i := range b.Len() {
			r := b.Row(i)
			err := pub.Add(&amqp.Message{
				Exchange: cfg.Exchange, RoutingKey: cfg.RoutingKey,
				MessageID: tx.ID + ":" + strconv.Itoa(int(r.Seq())), ContentType: "text/plain",
				Header: []amqp.Header{{Name: "table", Value: r.DB() + "." + r.TableName()}},
				Body:   []byte(r.After().String("email")),
			})
			if err != nil {
				return err
			}
		}
		return pub.Publish()
	})
}

func main() {}
