// Command puma-testdb starts and stops a private, detached MariaDB server for
// local development (the README quick-start), using internal/testdb:
//
//	puma-testdb start -dir var/mariadb -port 33306 [-server-id 1]
//	puma-testdb stop -dir var/mariadb
//
// start initialises an empty dir from the shared template, prints the
// server's address once it accepts connections, and leaves it running. If a
// server already owns the dir it says so and exits 0. stop shuts it down
// cleanly. The server listens on 127.0.0.1 only; user root, empty password.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pumacdc/puma/internal/testdb"
)

const usage = `usage:
  puma-testdb start [-dir var/mariadb] [-port 33306] [-server-id 1]
  puma-testdb stop  [-dir var/mariadb]`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("puma-testdb "+args[0], flag.ContinueOnError)
	dir := fs.String("dir", "var/mariadb", "server directory (data/, error.log, pid file)")
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	switch args[0] {
	case "start":
		port := fs.Int("port", 33306, "TCP port on 127.0.0.1")
		serverID := fs.Uint("server-id", 1, "@@server_id")
		if fs.Parse(args[1:]) != nil {
			return 2
		}
		if *serverID == 0 || *serverID > 1<<32-1 {
			fmt.Fprintf(os.Stderr, "puma-testdb: start: -server-id %d: want 1..4294967295\n", *serverID)
			return 2
		}
		s, err := testdb.New(ctx, testdb.Options{
			Dir: *dir, Port: *port, ServerID: uint32(*serverID), Detach: true, Logger: log,
		})
		var running *testdb.RunningError
		switch {
		case errors.As(err, &running):
			fmt.Fprintf(os.Stderr, "puma-testdb: already running in %s (pid %d)\n", running.Dir, running.PID)
			if running.Addr != "" {
				fmt.Println(running.Addr)
			}
			return 0
		case err != nil:
			fmt.Fprintf(os.Stderr, "puma-testdb: %v\n", err)
			return 1
		}
		fmt.Println(s.Addr())
		return 0

	case "stop":
		if fs.Parse(args[1:]) != nil {
			return 2
		}
		err := testdb.StopDir(ctx, *dir)
		switch {
		case errors.Is(err, testdb.ErrNotRunning):
			fmt.Fprintf(os.Stderr, "puma-testdb: no server running in %s\n", *dir)
			return 0
		case err != nil:
			fmt.Fprintf(os.Stderr, "puma-testdb: %v\n", err)
			return 1
		}
		return 0

	default:
		fmt.Fprintf(os.Stderr, "puma-testdb: unknown command %q\n%s\n", args[0], usage)
		return 2
	}
}
