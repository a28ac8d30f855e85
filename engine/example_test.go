package engine_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/internal/testdb"
	"github.com/pumacdc/puma/plugins/embedded"
)

// printSender is a sender written in Go: it prints each change and
// acknowledges the batch by returning nil; it skips DDL. done is closed once it has
// seen want changes.
type printSender struct {
	want int
	done chan struct{}
}

func (s *printSender) Send(_ context.Context, b *engine.Batch) error {
	for _, c := range b.Changes {
		if c.Statement != "" {
			continue // DDL: this sender prints rows only
		}
		fmt.Println(c.Op, c.Table.FullName(), c.After)
		if s.want--; s.want == 0 {
			close(s.done)
		}
	}
	return nil
}

func (s *printSender) Close() error { return nil }

// Example embeds Puma in a Go program: a task reads a MariaDB server's
// binary log, a Wasm handler (the built-in filter, from its bytes) keeps
// the orders of 10 or more, and a Go sender prints them.
func Example() {
	ctx := context.Background()
	// A private MariaDB server; a program would name its own source.
	srv, err := testdb.New(ctx, testdb.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	conn, err := srv.Conn(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range []string{
		"CREATE DATABASE shop",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY, amount INT NOT NULL)",
		"INSERT INTO shop.orders VALUES (1, 5), (2, 50), (3, 500)",
	} {
		if _, err := conn.Execute(q); err != nil {
			log.Fatal(err)
		}
	}
	conn.Close()

	// The Wasm host runs handlers and senders in a sandbox. Built-in
	// plugins come from plugins/embedded; any module's bytes would do.
	dir, err := os.MkdirTemp("", "puma-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	host, err := hostabi.New(ctx, hostabi.Options{
		ConfigDir: dir,
		Builtin: func(name string, config map[string]any) (hostabi.Builtin, bool) {
			return embedded.Builtin(name, config, dir)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()

	cfg := engine.TaskConfig{
		Name:            "orders",
		ReplicaServerID: 4242,
		Start:           position.Start{Mode: position.Earliest},
		Tables:          []string{"shop.*"},
		Sources:         []engine.Source{{Addr: srv.Addr(), User: srv.User()}},
		Handlers: []engine.PluginConfig{{
			Plugin: "builtin:filter",
			Config: map[string]any{"where": "amount >= 10"},
		}},
		Senders: []engine.PluginConfig{{Plugin: "print"}},
	}
	// Preflight checks that the source can serve the task: binary log
	// format, images, metadata, privileges.
	if err := engine.Preflight(ctx, cfg, cfg.Sources[0]).Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("preflight ok")

	sender := &printSender{want: 2, done: make(chan struct{})}
	task, err := engine.NewTask(cfg, engine.Deps{
		Store: checkpoint.NewMemStore(),
		NewHandler: func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Handler, error) {
			return host.NewHandler(ctx, task.Name, p)
		},
		NewSender: func(context.Context, engine.TaskConfig, engine.PluginConfig) (engine.Sender, error) {
			return sender, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- task.Run(ctx) }()
	select {
	case <-sender.done:
	case err := <-done:
		log.Fatalf("task ended early: %v", err)
	case <-time.After(time.Minute):
		log.Fatal("no changes within a minute")
	}
	// Cancelling drains in-flight batches and saves the checkpoint.
	stop()
	fmt.Println("stopped:", <-done)
	// Output:
	// preflight ok
	// c shop.orders [2 50]
	// c shop.orders [3 500]
	// stopped: <nil>
}
