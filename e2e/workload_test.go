package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

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
// The source's rows are streamed, never held, so that a table of millions
// of rows costs only the model's memory.
func checkModel(t *testing.T, srv *testdb.Server, model map[string]map[string]string, who string) {
	t.Helper()
	conn, err := srv.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tb := range workloadTables {
		got := model[tb.name]
		var keyIdx []int
		var cols []string
		n, bad := 0, 0
		var result mysql.Result
		err := conn.ExecuteSelectStreaming("SELECT * FROM app."+tb.name, &result, func(row []mysql.FieldValue) error {
			if keyIdx == nil {
				for _, k := range tb.key {
					keyIdx = append(keyIdx, slices.IndexFunc(result.Fields, func(f *mysql.Field) bool { return string(f.Name) == k }))
				}
			}
			cols = cols[:0]
			for i := range row {
				cols = append(cols, fieldText(&row[i]))
			}
			kp := make([]string, len(keyIdx))
			for i, j := range keyIdx {
				kp[i] = cols[j]
			}
			n++
			k, want := strings.Join(kp, "/"), strings.Join(cols, "|")
			if got[k] != want {
				if bad++; bad <= 5 {
					t.Errorf("table %s key %s: %s has %q, the source %q", tb.name, k, who, got[k], want)
				}
			}
			return nil
		}, nil)
		if err != nil {
			t.Fatalf("read app.%s: %v", tb.name, err)
		}
		if len(got) != n {
			t.Errorf("table %s: %s has %d rows, the source %d", tb.name, who, len(got), n)
		}
		if bad > 5 {
			t.Errorf("table %s: %d wrong rows in all", tb.name, bad)
		}
	}
}

// fieldText renders a text-protocol value as mysql.Resultset.GetString
// does, NULL as "NULL" (see tableRows).
func fieldText(v *mysql.FieldValue) string {
	switch v.Type {
	case mysql.FieldValueTypeNull:
		return "NULL"
	case mysql.FieldValueTypeSigned:
		return strconv.FormatInt(v.AsInt64(), 10)
	case mysql.FieldValueTypeUnsigned:
		return strconv.FormatUint(v.AsUint64(), 10)
	case mysql.FieldValueTypeFloat:
		return strconv.FormatFloat(v.AsFloat64(), 'f', -1, 64)
	}
	return string(v.AsString())
}
