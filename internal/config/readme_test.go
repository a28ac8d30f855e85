package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestREADMEDefaults holds README's configuration reference to the code:
// every default the [server] and [[task]] tables state is the one
// applyDefaults gives, and every key the tables list is one the test
// knows (a key added to README or to the code must be added here too).
func TestREADMEDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal), filepath.Join(t.TempDir(), "puma.toml"))
	if err != nil {
		t.Fatal(err)
	}
	task := &cfg.Tasks[0]
	dur := func(d time.Duration) func(string) bool {
		return func(doc string) bool {
			want, err := time.ParseDuration(doc)
			return err == nil && want == d
		}
	}
	is := func(v string) func(string) bool { return func(doc string) bool { return doc == v } }
	// What each key's default cell says, checked against the parsed
	// minimal config; nil: the cell states no plain value (required,
	// empty, or derived), checked by hand below.
	checks := map[string]map[string]func(string) bool{
		"[server]": {
			"admin":                              is(cfg.Server.Admin),
			"admin_token_env / admin_token_file": nil,
			"data_dir":                           func(doc string) bool { return cfg.Server.DataDir == filepath.Join(cfg.Dir, doc) }, // relative to puma.toml
			"log_format":                         is(cfg.Server.LogFormat),
			"log_level":                          is(strings.ToLower(cfg.Server.LogLevel.String())),
			"unhealthy_after":                    dur(cfg.Server.UnhealthyAfter),
		},
		"[[task]]": {
			"name":                nil,
			"replica_server_id":   nil,
			"start":               is(task.Start.String()),
			"stop_at":             nil,
			"start_if_none":       is(task.StartIfNone.String()),
			"tables":              is(`["` + strings.Join(task.Tables, `", "`) + `"]`),
			"exclude":             func(doc string) bool { return doc == "[]" && len(task.Exclude) == 0 },
			"key_columns":         nil,
			"on_error":            is(task.OnError),
			"snapshot":            is(task.Snapshot),
			"snapshot_chunk_rows": is(itoa(task.SnapshotChunkRows)),
			"snapshot_parallel":   is(itoa(task.SnapshotParallel)),
			"snapshot_locking":    is(task.SnapshotLocking),
			"include_query":       is(strconv.FormatBool(task.IncludeQuery)),
			"dead_letter_path":    nil,
			"max_failures":        is(itoa(task.MaxFailures)),
			"checkpoint_interval": dur(task.CheckpointInterval),
			"batch_rows":          is(itoa(task.BatchRows)),
			"queue_batches":       is(itoa(task.QueueBatches)),
			"group_rows":          is(itoa(task.GroupRows)),
			"group_bytes":         is(itoa(task.GroupBytes)),
			"max_batch_delay":     dur(task.MaxBatchDelay),
			"backoff_min / backoff_max": func(doc string) bool {
				a, b, ok := strings.Cut(doc, " / ")
				return ok && dur(task.BackoffMin)(a) && dur(task.BackoffMax)(b)
			},
			"heartbeat":          dur(task.Heartbeat),
			"read_timeout":       nil,
			"failover_after":     is(itoa(task.FailoverAfter)),
			"failover_lookback":  dur(task.FailoverLookback),
			"position":           is(task.Position),
			"heartbeat_table":    nil,
			"signal_table":       nil,
			"heartbeat_interval": dur(task.HeartbeatInterval),
			"schema":             is(task.Schema),
		},
	}
	if task.ReadTimeout != 3*task.Heartbeat {
		t.Errorf("read_timeout defaults to %s, README says 3 × heartbeat (%s)", task.ReadTimeout, task.Heartbeat)
	}
	if want := filepath.Join(cfg.Server.DataDir, "deadletter", task.Name+".jsonl"); !strings.HasSuffix(task.DeadLetterPath, want) {
		t.Errorf("dead_letter_path defaults to %s, README says <data_dir>/deadletter/<task>.jsonl", task.DeadLetterPath)
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for section, keys := range checks {
		rows := referenceTable(t, string(readme), "### `"+section+"`")
		for key, cell := range rows {
			check, known := keys[key]
			switch {
			case !known:
				t.Errorf("README %s lists %q, which this test does not check: add it", section, key)
			case check == nil:
			case !strings.HasPrefix(cell, "`"):
				t.Errorf("README %s %s: default %q is not a plain value", section, key, cell)
			case !check(strings.ReplaceAll(cell, "`", "")):
				t.Errorf("README %s %s: default %s differs from the code's", section, key, cell)
			}
		}
		for key := range keys {
			if _, ok := rows[key]; !ok {
				t.Errorf("README %s does not list %q", section, key)
			}
		}
	}
}

// referenceTable returns the key → default cells of the table under
// heading in README.
func referenceTable(t *testing.T, readme, heading string) map[string]string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %s section", heading)
	}
	rows := make(map[string]string)
	inTable := false
	for line := range strings.SplitSeq(rest, "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		key, cell := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])
		if key == "key" || strings.HasPrefix(key, "---") {
			continue
		}
		rows[strings.ReplaceAll(key, "`", "")] = cell
	}
	if len(rows) == 0 {
		t.Fatalf("README %s: no table", heading)
	}
	return rows
}

func itoa(n int) string { return strconv.Itoa(n) }
