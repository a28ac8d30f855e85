package hostabi_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/plugins/embedded"
)

// A Host used on its own, without a task: load a Wasm handler (the
// built-in mask, from its bytes) with the grant it needs, and call it on
// a batch. The mask hashes the e-mail column with a salt only the host
// holds (HMAC-SHA256 keyed with "pepper"), and drops the status.
func ExampleHost_NewHandler() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hostabi-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	host, err := hostabi.New(ctx, hostabi.Options{
		ConfigDir: dir,
		Builtin: func(name string, config map[string]any) (hostabi.Builtin, bool) {
			return embedded.Builtin(name, config, dir)
		},
		Secrets: map[string]engine.Secret{"salt": "pepper"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()

	// Grants list the capabilities the plugin may use: here the secret
	// named in its config. (The embedded built-ins are granted what their
	// config names; a module file gets only what Grants lists.)
	mask := engine.PluginConfig{
		Plugin: "builtin:mask",
		Config: map[string]any{"salt_secret": "salt", "hash": []any{"shop.customers.email"}, "redact": []any{"shop.customers.status"}},
		Grants: map[string]any{"secrets": []any{"salt"}},
	}
	h, err := host.NewHandler(ctx, "shop", mask)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	customers := &engine.Table{
		DB: "shop", Name: "customers", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1,
		Columns: []engine.Column{
			{Name: "id", Kind: engine.KindInt},
			{Name: "email", Kind: engine.KindString},
			{Name: "status", Kind: engine.KindString},
		},
	}
	tx := &engine.Tx{ID: "0-1-1", GTID: "0-1-1", ServerID: 1, File: "bin.000001", Pos: 4}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Changes: []engine.Change{
		{Op: engine.OpInsert, Table: customers, After: []any{int64(1), "ann@example.com", "vip"}, Seq: 1, Tx: tx, File: tx.File, Pos: 100},
	}}
	out, err := h.Handle(ctx, b)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range out.Changes {
		fmt.Println(c.Op, c.Table.FullName(), c.After)
	}
	// Output:
	// c shop.customers [1 cea0615277db22b071c78ce70a4863989eee4f315e2224a79e29b3cf4055b7bf <nil>]
}
