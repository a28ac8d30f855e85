package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pumacdc/puma/internal/testdb"
)

// The e2e tests of the senders share one workload (workloadTables, writer)
// and check a delivery the same way: rebuild the tables from what a
// consumer received and compare them with the source's.

// workloadSeed returns the seed of a test's workload: PUMA_SEED, to replay
// a run, or else a new one, which it logs.
func workloadSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PUMA_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set PUMA_SEED to replay)", seed)
	return seed
}

// createWorkload creates database app and the workload's tables on srv.
func createWorkload(t *testing.T, srv *testdb.Server) {
	t.Helper()
	srv.Exec(t, "CREATE DATABASE app")
	for _, tb := range workloadTables {
		srv.Exec(t, tb.ddl)
	}
}

// newWriter returns a writer of the workload to srv, drawing from rng, on a
// connection of its own that is closed when the test ends.
func newWriter(t *testing.T, srv *testdb.Server, rng *rand.Rand) *writer {
	t.Helper()
	conn, err := srv.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	w := &writer{rng: rng, conn: conn}
	for i := range w.dropped {
		w.dropped[i] = make(map[string]bool)
	}
	return w
}

// checkModel compares model, the workload's tables (name, then key, then
// row) as a consumer rebuilt them, with the source's tables on srv. who
// names the consumer in errors; up to five wrong rows a table are shown.
func checkModel(t *testing.T, srv *testdb.Server, model map[string]map[string]string, who string) {
	t.Helper()
	for _, tb := range workloadTables {
		got, want := model[tb.name], tableRows(t, srv, "app."+tb.name, tb.key)
		if len(got) != len(want) {
			t.Errorf("table %s: %s has %d rows, the source %d", tb.name, who, len(got), len(want))
		}
		bad := 0
		for k, row := range want {
			if got[k] != row {
				if bad++; bad <= 5 {
					t.Errorf("table %s key %s: %s has %q, the source %q", tb.name, k, who, got[k], row)
				}
			}
		}
	}
}
