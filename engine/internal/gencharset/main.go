// Command gencharset writes the data files of engine/internal/cjk: it
// starts a private MariaDB (internal/testdb), reads every CJK charset's
// table off it (engine/internal/cjk/probe) and writes data/<charset>.bin,
// and data/server.txt naming the server they came from. Run it with
// `go generate ./engine/internal/cjk`.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/pumacdc/puma/engine/internal/cjk"
	"github.com/pumacdc/puma/engine/internal/cjk/probe"
	"github.com/pumacdc/puma/internal/testdb"
)

func main() {
	out := flag.String("out", "data", "directory to write the data files to")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, *out)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencharset:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out string) (err error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv, err := testdb.New(ctx, testdb.Options{Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := srv.Close(); err == nil {
			err = cerr
		}
	}()
	conn, err := srv.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Quit()
	r, err := conn.Execute("SELECT VERSION()")
	if err != nil {
		return err
	}
	version, _ := r.GetString(0, 0)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, cs := range cjk.Charsets {
		start := time.Now()
		t, st, err := probe.Read(ctx, conn, cs)
		if err != nil {
			return err
		}
		data, err := t.MarshalBinary()
		if err != nil {
			return fmt.Errorf("%s: %w", cs, err)
		}
		if err := os.WriteFile(filepath.Join(out, cs+".bin"), data, 0o644); err != nil {
			return err
		}
		log.Info("charset table written", "charset", cs, "chars1", st.Chars[1], "chars2", st.Chars[2], "chars3", st.Chars[3],
			"unmapped", st.Unmapped, "bytes", len(data), "elapsed", time.Since(start).Round(time.Millisecond))
	}
	return os.WriteFile(filepath.Join(out, "server.txt"), []byte("MariaDB "+version+"\n"), 0o644)
}
