package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine/position"
)

// env is a fake environment for ParseWith.
type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

// parseIn parses src as dir/puma.toml.
func parseIn(t *testing.T, dir, src string, e env) (*Config, error) {
	t.Helper()
	return ParseWith([]byte(src), filepath.Join(dir, "puma.toml"), e.lookup)
}

// problems returns err's problems, failing the test if err is not an
// *Error.
func problems(t *testing.T, err error) []Problem {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	return ce.Problems
}

func writeFile(t *testing.T, name, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil { // beat the umask
		t.Fatal(err)
	}
}

func TestExample(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "shop.password"), "s3cret-file\n", 0o600)
	cfg, err := parseIn(t, dir, string(src), env{
		"PUMA_ADMIN_TOKEN":   "tok",
		"PUMA_WEBHOOK_HMAC":  "hmac",
		"PUMA_SHOP_PASSWORD": "s3cret-env",
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := position.Start{Mode: position.Time, Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	want := &Config{
		Dir: dir,
		Server: Server{
			Admin:          "0.0.0.0:7878",
			AdminToken:     "tok",
			DataDir:        filepath.Join(dir, "state"),
			LogFormat:      "json",
			LogLevel:       slog.LevelDebug,
			UnhealthyAfter: 2 * time.Minute,
		},
		Secrets: map[string]Secret{"webhook_hmac": "hmac"},
		Tasks: []Task{{
			Name:               "shop",
			ReplicaServerID:    4001,
			Start:              position.Start{Mode: position.GTID, GTIDSet: "0-1-100"},
			StartIfNone:        position.Start{Mode: position.Earliest},
			StopAt:             &stop,
			Position:           PositionFile,
			Schema:             SchemaLive,
			OnError:            OnErrorDeadLetter,
			Tables:             []string{"shop.*", "billing.invoice_?"},
			Exclude:            []string{"shop.audit_*"},
			KeyColumns:         map[string][]string{"shop.events": {"tenant", "seq"}},
			CheckpointInterval: 2 * time.Second,
			BatchRows:          512,
			QueueBatches:       8,
			Snapshot:           SnapshotNever,
			SnapshotChunkRows:  10000,
			SnapshotParallel:   2,
			SnapshotLocking:    SnapshotLockingNone,
			IncludeQuery:       true,
			GroupRows:          1000,
			GroupBytes:         1 << 20,
			MaxBatchDelay:      5 * time.Millisecond,
			BackoffMin:         200 * time.Millisecond,
			BackoffMax:         time.Minute,
			FailoverAfter:      4,
			FailoverLookback:   90 * time.Second,
			Heartbeat:          2 * time.Second,
			ReadTimeout:        10 * time.Second,
			MaxFailures:        7,
			DeadLetterPath:     filepath.Join(dir, "dl/shop.jsonl"),
			HeartbeatTable:     "puma.heartbeat",
			HeartbeatInterval:  500 * time.Millisecond,
			SignalTable:        "puma.signal",
			Sources: []Source{{
				Addr:          "db1.example.com:3306",
				User:          "puma",
				Password:      "s3cret-env",
				Flavor:        "mariadb",
				TLS:           TLSSkipVerify,
				TLSServerName: "db.example.com",
			}, {
				Addr:     "[::1]:3307",
				User:     "puma2",
				Password: "s3cret-file",
				Flavor:   "mysql",
				TLS:      TLSOff,
			}},
			Handlers: []Plugin{{
				Plugin:    "builtin:mask",
				Name:      "mask",
				Config:    map[string]any{"columns": []any{"shop.customers.email"}},
				Timeout:   5 * time.Second,
				MaxMemory: 64 << 20,
			}, {
				Plugin: filepath.Join(dir, "plugins/enrich.wasm"),
				Name:   "enrich-v2",
				Config: map[string]any{
					"nested": map[string]any{"deep": map[string]any{"deeper": int64(1)}},
					"list":   []any{int64(1), "two"},
				},
				Grants:    map[string]any{"env": []any{"REGION"}},
				Timeout:   2 * time.Second,
				MaxMemory: 128 << 20,
			}},
			Senders: []Plugin{{
				Plugin:    "builtin:jsonl",
				Name:      "jsonl",
				Config:    map[string]any{"path": "var/out/shop.jsonl"},
				Grants:    map[string]any{"files": []any{"var/out"}},
				Timeout:   5 * time.Second,
				MaxMemory: 64 << 20,
			}},
		}, {
			Name:               "billing",
			ReplicaServerID:    4002,
			Start:              position.Start{Mode: position.Checkpoint},
			StartIfNone:        position.Start{Mode: position.Latest},
			Position:           PositionGTID,
			Schema:             SchemaMetadata,
			OnError:            OnErrorStop,
			Tables:             []string{"*.*"},
			CheckpointInterval: time.Second,
			BatchRows:          256,
			QueueBatches:       16,
			Snapshot:           SnapshotNever,
			SnapshotChunkRows:  10000,
			SnapshotParallel:   2,
			SnapshotLocking:    SnapshotLockingNone,
			GroupRows:          4096,
			GroupBytes:         8 << 20,
			BackoffMin:         100 * time.Millisecond,
			BackoffMax:         30 * time.Second,
			FailoverAfter:      3,
			FailoverLookback:   60 * time.Second,
			Heartbeat:          time.Second,
			ReadTimeout:        3 * time.Second,
			MaxFailures:        5,
			DeadLetterPath:     filepath.Join(dir, "state/deadletter/billing.jsonl"),
			HeartbeatInterval:  time.Second,
			Sources:            []Source{{Addr: "127.0.0.1:3306", User: "puma", TLS: TLSOff}},
			Senders: []Plugin{{
				Plugin: "builtin:stdout", Name: "stdout", Timeout: 5 * time.Second, MaxMemory: 64 << 20,
			}},
		}},
	}
	if !reflect.DeepEqual(cfg, want) {
		// Secrets print as [redacted]; compare them apart.
		t.Errorf("got\n%+v\nwant\n%+v", cfg, want)
	}
	if got := cfg.Tasks[0].Sources[0].Password.Reveal(); got != "s3cret-env" {
		t.Errorf("password from env = %q", got)
	}
	if got := cfg.Tasks[0].Sources[1].Password.Reveal(); got != "s3cret-file" {
		t.Errorf("password from file = %q", got)
	}
}

// minimal is the smallest valid configuration.
const minimal = `
[[task]]
name = "shop"
replica_server_id = 1
[[task.source]]
addr = "db:3306"
user = "puma"
[[task.sender]]
plugin = "builtin:stdout"
`

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	cfg, err := parseIn(t, dir, minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	task, src, snd := cfg.Tasks[0], cfg.Tasks[0].Sources[0], cfg.Tasks[0].Senders[0]
	tests := []struct {
		key       string
		got, want any
	}{
		{"server.admin", cfg.Server.Admin, "127.0.0.1:7878"},
		{"server.admin_token", cfg.Server.AdminToken.Reveal(), ""},
		{"server.data_dir", cfg.Server.DataDir, filepath.Join(dir, "var")},
		{"server.log_format", cfg.Server.LogFormat, "text"},
		{"server.log_level", cfg.Server.LogLevel, slog.LevelInfo},
		{"server.unhealthy_after", cfg.Server.UnhealthyAfter, time.Minute},
		{"secrets", len(cfg.Secrets), 0},
		{"start", task.Start, position.Start{Mode: position.Checkpoint}},
		{"start_if_none", task.StartIfNone, position.Start{Mode: position.Latest}},
		{"stop_at", task.StopAt, (*position.Start)(nil)},
		{"position", task.Position, PositionGTID},
		{"schema", task.Schema, SchemaMetadata},
		{"on_error", task.OnError, OnErrorStop},
		{"tables", task.Tables, []string{"*.*"}},
		{"exclude", task.Exclude, []string(nil)},
		{"key_columns", task.KeyColumns, map[string][]string(nil)},
		{"snapshot", task.Snapshot, SnapshotNever},
		{"snapshot_chunk_rows", task.SnapshotChunkRows, 10000},
		{"snapshot_parallel", task.SnapshotParallel, 2},
		{"snapshot_locking", task.SnapshotLocking, SnapshotLockingNone},
		{"checkpoint_interval", task.CheckpointInterval, time.Second},
		{"batch_rows", task.BatchRows, 256},
		{"queue_batches", task.QueueBatches, 16},
		{"group_rows", task.GroupRows, 4096},
		{"group_bytes", task.GroupBytes, 8 << 20},
		{"max_batch_delay", task.MaxBatchDelay, time.Duration(0)},
		{"backoff_min", task.BackoffMin, 100 * time.Millisecond},
		{"backoff_max", task.BackoffMax, 30 * time.Second},
		{"failover_after", task.FailoverAfter, 3},
		{"failover_lookback", task.FailoverLookback, 60 * time.Second},
		{"heartbeat", task.Heartbeat, time.Second},
		{"read_timeout", task.ReadTimeout, 3 * time.Second},
		{"max_failures", task.MaxFailures, 5},
		{"dead_letter_path", task.DeadLetterPath, filepath.Join(dir, "var/deadletter/shop.jsonl")},
		{"handler", len(task.Handlers), 0},
		{"source.password", src.Password.Reveal(), ""},
		{"source.flavor", src.Flavor, ""},
		{"source.tls", src.TLS, TLSOff},
		{"source.tls_ca_file", src.TLSCAFile, ""},
		{"source.tls_server_name", src.TLSServerName, ""},
		{"sender.name", snd.Name, "stdout"},
		{"sender.config", snd.Config, map[string]any(nil)},
		{"sender.grants", snd.Grants, map[string]any(nil)},
		{"sender.timeout", snd.Timeout, 5 * time.Second},
		{"sender.max_memory", snd.MaxMemory, uint64(64 << 20)},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestDerivedDefaults(t *testing.T) {
	tests := []struct {
		name string
		src  string
		get  func(*Config) any
		want func(dir string) any
	}{
		{
			name: "read_timeout is three heartbeats",
			src:  strings.Replace(minimal, "replica_server_id = 1", "replica_server_id = 1\nheartbeat = \"5s\"", 1),
			get:  func(c *Config) any { return c.Tasks[0].ReadTimeout },
			want: func(string) any { return 15 * time.Second },
		},
		{
			name: "group_rows 0 turns grouping off",
			src:  strings.Replace(minimal, "replica_server_id = 1", "replica_server_id = 1\ngroup_rows = 0", 1),
			get:  func(c *Config) any { return c.Tasks[0].GroupRows },
			want: func(string) any { return 0 },
		},
		{
			name: "max_batch_delay takes milliseconds",
			src:  strings.Replace(minimal, "replica_server_id = 1", "replica_server_id = 1\nmax_batch_delay = \"5ms\"", 1),
			get:  func(c *Config) any { return c.Tasks[0].MaxBatchDelay },
			want: func(string) any { return 5 * time.Millisecond },
		},
		{
			name: "dead_letter_path follows data_dir",
			src:  "[server]\ndata_dir = \"/srv/puma\"\n" + minimal,
			get:  func(c *Config) any { return c.Tasks[0].DeadLetterPath },
			want: func(string) any { return "/srv/puma/deadletter/shop.jsonl" },
		},
		{
			name: "wasm plugin name is its file name",
			src:  strings.Replace(minimal, `"builtin:stdout"`, `"/opt/plugins/kafka-out.wasm"`, 1),
			get:  func(c *Config) any { return c.Tasks[0].Senders[0].Name },
			want: func(string) any { return "kafka-out" },
		},
		{
			name: "relative wasm path resolves against the file's directory",
			src:  strings.Replace(minimal, `"builtin:stdout"`, `"p/out.wasm"`, 1),
			get:  func(c *Config) any { return c.Tasks[0].Senders[0].Plugin },
			want: func(dir string) any { return filepath.Join(dir, "p/out.wasm") },
		},
		{
			name: "empty admin disables the listener",
			src:  "[server]\nadmin = \"\"\n" + minimal,
			get:  func(c *Config) any { return c.Server.Admin },
			want: func(string) any { return "" },
		},
		{
			name: "admin port 0 is allowed",
			src:  "[server]\nadmin = \"127.0.0.1:0\"\n" + minimal,
			get:  func(c *Config) any { return c.Server.Admin },
			want: func(string) any { return "127.0.0.1:0" },
		},
		{
			name: "empty stop_at means none",
			src:  strings.Replace(minimal, "replica_server_id = 1", "replica_server_id = 1\nstop_at = \"\"", 1),
			get:  func(c *Config) any { return c.Tasks[0].StopAt },
			want: func(string) any { return (*position.Start)(nil) },
		},
		{
			name: "inline array of tables",
			src: `task = [{ name = "a", replica_server_id = 2, source = [{ addr = "h:1", user = "u" }],
			       sender = [{ plugin = "builtin:x" }] }]`,
			get:  func(c *Config) any { return c.Tasks[0].Sources[0].Addr },
			want: func(string) any { return "h:1" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, err := parseIn(t, dir, tt.src, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tt.get(cfg), tt.want(dir); !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

// doc builds a configuration from minimal with extra lines in its server,
// task, source and sender tables.
type doc struct{ server, secrets, task, source, handler, sender string }

func (d doc) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\n%s\n[secrets]\n%s\n", d.server, d.secrets)
	task := "name = \"shop\"\nreplica_server_id = 1\n"
	if strings.Contains(d.task, "name =") || strings.Contains(d.task, "replica_server_id =") {
		task = ""
	}
	fmt.Fprintf(&b, "[[task]]\n%s%s\n", task, d.task)
	source := "addr = \"db:3306\"\nuser = \"puma\"\n"
	if strings.Contains(d.source, "addr =") || strings.Contains(d.source, "user =") {
		source = ""
	}
	fmt.Fprintf(&b, "[[task.source]]\n%s%s\n", source, d.source)
	if d.handler != "" {
		fmt.Fprintf(&b, "[[task.handler]]\n%s\n", d.handler)
	}
	sender := "plugin = \"builtin:stdout\"\n"
	if strings.Contains(d.sender, "plugin =") {
		sender = ""
	}
	fmt.Fprintf(&b, "[[task.sender]]\n%s%s\n", sender, d.sender)
	return b.String()
}

const t0 = "task[0] (shop)"

func TestInvalid(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "open.secret"), "x", 0o666)
	writeFile(t, filepath.Join(dir, "empty.secret"), "\n", 0o600)
	writeFile(t, filepath.Join(dir, "notpem.crt"), "hello", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		src      string // the whole file; else d
		d        doc
		path     string
		contains string
	}{
		// [server]
		{name: "admin without port", d: doc{server: `admin = "localhost"`}, path: "server.admin", contains: `missing port in "localhost"`},
		{name: "admin bad port", d: doc{server: `admin = "127.0.0.1:http"`}, path: "server.admin", contains: "bad port"},
		{name: "admin bad address", d: doc{server: `admin = "::1:80"`}, path: "server.admin", contains: "not host:port"},
		{name: "admin public without token", d: doc{server: `admin = ":7878"`}, path: "server.admin", contains: "admin_token_env"},
		{name: "admin token twice", d: doc{server: "admin_token_env = \"T\"\nadmin_token_file = \"/t\""}, path: "server.admin_token_file", contains: "at most one"},
		{name: "admin token env unset", d: doc{server: `admin_token_env = "NOPE"`}, path: "server.admin_token_env", contains: `"NOPE" is not set`},
		{name: "admin token env empty", d: doc{server: `admin_token_env = "EMPTY"`}, path: "server.admin_token_env", contains: `"EMPTY" is empty`},
		{name: "admin token env no name", d: doc{server: `admin_token_env = ""`}, path: "server.admin_token_env", contains: "environment variable"},
		{name: "admin token file missing", d: doc{server: `admin_token_file = "nope"`}, path: "server.admin_token_file", contains: "no such file"},
		{name: "data_dir empty", d: doc{server: `data_dir = ""`}, path: "server.data_dir", contains: "empty"},
		{name: "log_format", d: doc{server: `log_format = "xml"`}, path: "server.log_format", contains: `"xml": want one of "text", "json"`},
		{name: "log_level", d: doc{server: `log_level = "trace"`}, path: "server.log_level", contains: `"trace"`},
		{name: "unhealthy_after", d: doc{server: `unhealthy_after = "1 minute"`}, path: "server.unhealthy_after", contains: "not a duration"},
		{name: "unhealthy_after zero", d: doc{server: `unhealthy_after = "0s"`}, path: "server.unhealthy_after", contains: "positive"},
		// [secrets]
		{name: "secret without suffix", d: doc{secrets: `hmac = "X"`}, path: "secrets.hmac", contains: "NAME_env"},
		{name: "secret bad name", d: doc{secrets: `Bad_env = "X"`}, path: "secrets.Bad_env", contains: `bad secret name "Bad"`},
		{name: "secret twice", d: doc{secrets: "h_env = \"SET\"\nh_file = \"/x\""}, path: "secrets.h_file", contains: "set one of"},
		{name: "secret env unset", d: doc{secrets: `h_env = "NOPE"`}, path: "secrets.h_env", contains: `"NOPE" is not set`},
		{name: "secret file writable", d: doc{secrets: `h_file = "open.secret"`}, path: "secrets.h_file", contains: "writable by group or others"},
		{name: "secret file empty", d: doc{secrets: `h_file = "empty.secret"`}, path: "secrets.h_file", contains: "is empty"},
		{name: "secret file is a directory", d: doc{secrets: `h_file = "adir"`}, path: "secrets.h_file", contains: "not a regular file"},
		{name: "secret not a string", d: doc{secrets: `h_env = 1`}, path: "secrets.h_env", contains: "want a string, got an integer"},
		// [[task]]
		{name: "no task", src: "[server]\n", path: "task", contains: "at least one [[task]]"},
		{name: "name missing", d: doc{task: "replica_server_id = 1"}, path: "task[0].name", contains: "required"},
		{name: "name invalid", d: doc{task: "name = \"Shop!\"\nreplica_server_id = 1"}, path: "task[0].name", contains: `bad task name "Shop!": use 1 to 63 lowercase`},
		{name: "name duplicate", src: minimal + strings.Replace(minimal, "replica_server_id = 1", "replica_server_id = 2", 1), path: "task[1] (shop).name", contains: "also used by task[0] (shop)"},
		{name: "server id missing", d: doc{task: `name = "shop"`}, path: t0 + ".replica_server_id", contains: "required"},
		{name: "server id zero", d: doc{task: "name = \"shop\"\nreplica_server_id = 0"}, path: t0 + ".replica_server_id", contains: "out of range"},
		{name: "server id too large", d: doc{task: "name = \"shop\"\nreplica_server_id = 4294967296"}, path: t0 + ".replica_server_id", contains: "out of range"},
		{name: "server id duplicate", src: minimal + strings.Replace(minimal, `"shop"`, `"b"`, 1), path: "task[1] (b).replica_server_id", contains: "also used by task[0] (shop)"},
		{name: "start", d: doc{task: `start = "yesterday"`}, path: t0 + ".start", contains: `"yesterday"`},
		{name: "start_if_none checkpoint", d: doc{task: `start_if_none = "checkpoint"`}, path: t0 + ".start_if_none", contains: "cannot be checkpoint"},
		{name: "start_if_none bad", d: doc{task: `start_if_none = "gtid:"`}, path: t0 + ".start_if_none", contains: "empty gtid set"},
		{name: "stop_at latest", d: doc{task: `stop_at = "latest"`}, path: t0 + ".stop_at", contains: "not a place to stop"},
		{name: "stop_at bad", d: doc{task: `stop_at = "file:x:1"`}, path: t0 + ".stop_at", contains: ">= 4"},
		{name: "position", d: doc{task: `position = "both"`}, path: t0 + ".position", contains: `want one of "gtid", "file"`},
		{name: "schema", d: doc{task: `schema = "guess"`}, path: t0 + ".schema", contains: `"metadata", "live"`},
		{name: "on_error", d: doc{task: `on_error = "ignore"`}, path: t0 + ".on_error", contains: `"stop", "dead_letter"`},
		{name: "snapshot", d: doc{task: `snapshot = "always"`}, path: t0 + ".snapshot", contains: `"never", "initial", "initial_only"`},
		{name: "snapshot_chunk_rows zero", d: doc{task: `snapshot_chunk_rows = 0`}, path: t0 + ".snapshot_chunk_rows", contains: "out of range 1..1000000"},
		{name: "snapshot_parallel zero", d: doc{task: `snapshot_parallel = 0`}, path: t0 + ".snapshot_parallel", contains: "out of range 1..64"},
		{name: "snapshot_parallel huge", d: doc{task: `snapshot_parallel = 65`}, path: t0 + ".snapshot_parallel", contains: "out of range 1..64"},
		{name: "snapshot_locking", d: doc{task: `snapshot_locking = "ftwrl"`}, path: t0 + ".snapshot_locking", contains: `"ftwrl": want one of "none", "flush"`},
		{name: "tables empty", d: doc{task: `tables = []`}, path: t0 + ".tables", contains: "at least one"},
		{name: "tables without dot", d: doc{task: `tables = ["shop.*", "shop"]`}, path: t0 + ".tables[1]", contains: "want db.table"},
		{name: "tables two dots", d: doc{task: `tables = ["a.b.c"]`}, path: t0 + ".tables[0]", contains: "want db.table"},
		{name: "tables bad glob", d: doc{task: `tables = ["shop.[a"]`}, path: t0 + ".tables[0]", contains: `bad pattern "[a"`},
		{name: "exclude bad glob", d: doc{task: `exclude = ["[.x"]`}, path: t0 + ".exclude[0]", contains: "bad pattern"},
		{name: "key_columns pattern", d: doc{task: `key_columns = { "shop.*" = ["id"] }`}, path: t0 + `.key_columns."shop.*"`, contains: "exact db.table"},
		{name: "key_columns no dot", d: doc{task: `key_columns = { events = ["id"] }`}, path: t0 + ".key_columns.events", contains: "exact db.table"},
		{name: "key_columns empty", d: doc{task: `key_columns = { "shop.events" = [] }`}, path: t0 + `.key_columns."shop.events"`, contains: "at least one column"},
		{name: "key_columns duplicate", d: doc{task: `key_columns = { "shop.events" = ["a", "a"] }`}, path: t0 + `.key_columns."shop.events"[1]`, contains: "listed twice"},
		{name: "key_columns empty column", d: doc{task: `key_columns = { "shop.events" = [""] }`}, path: t0 + `.key_columns."shop.events"[0]`, contains: "empty column"},
		{name: "checkpoint_interval zero", d: doc{task: `checkpoint_interval = "0s"`}, path: t0 + ".checkpoint_interval", contains: "positive"},
		{name: "checkpoint_interval unitless", d: doc{task: `checkpoint_interval = "5"`}, path: t0 + ".checkpoint_interval", contains: "not a duration"},
		{name: "batch_rows zero", d: doc{task: `batch_rows = 0`}, path: t0 + ".batch_rows", contains: "out of range 1..65536"},
		{name: "batch_rows large", d: doc{task: `batch_rows = 65537`}, path: t0 + ".batch_rows", contains: "out of range"},
		{name: "queue_batches", d: doc{task: `queue_batches = 1025`}, path: t0 + ".queue_batches", contains: "out of range 1..1024"},
		{name: "group_rows negative", d: doc{task: `group_rows = -1`}, path: t0 + ".group_rows", contains: "out of range 0..1048576"},
		{name: "group_bytes zero", d: doc{task: `group_bytes = 0`}, path: t0 + ".group_bytes", contains: "out of range 1..1073741824"},
		{name: "max_batch_delay unitless", d: doc{task: `max_batch_delay = "5"`}, path: t0 + ".max_batch_delay", contains: "not a duration"},
		{name: "max_batch_delay large", d: doc{task: `max_batch_delay = "2s"`}, path: t0 + ".max_batch_delay", contains: "out of range 0s..1s"},
		{name: "max_batch_delay negative", d: doc{task: `max_batch_delay = "-1ms"`}, path: t0 + ".max_batch_delay", contains: "out of range"},
		{name: "backoff_min", d: doc{task: `backoff_min = "-1s"`}, path: t0 + ".backoff_min", contains: "positive"},
		{name: "backoff_max below min", d: doc{task: "backoff_min = \"10s\"\nbackoff_max = \"1s\""}, path: t0 + ".backoff_max", contains: "less than backoff_min"},
		{name: "failover_after", d: doc{task: `failover_after = 0`}, path: t0 + ".failover_after", contains: "out of range"},
		{name: "failover_lookback", d: doc{task: `failover_lookback = "soon"`}, path: t0 + ".failover_lookback", contains: "not a duration"},
		{name: "heartbeat", d: doc{task: `heartbeat = "0ms"`}, path: t0 + ".heartbeat", contains: "positive"},
		{name: "read_timeout not above heartbeat", d: doc{task: "heartbeat = \"2s\"\nread_timeout = \"2s\""}, path: t0 + ".read_timeout", contains: "longer than heartbeat"},
		{name: "max_failures", d: doc{task: `max_failures = -1`}, path: t0 + ".max_failures", contains: "out of range"},
		{name: "dead_letter_path empty", d: doc{task: `dead_letter_path = ""`}, path: t0 + ".dead_letter_path", contains: "empty"},
		{name: "heartbeat_table not db.table", d: doc{task: `heartbeat_table = "beats"`}, path: t0 + ".heartbeat_table", contains: "want db.table"},
		{name: "heartbeat_table glob", d: doc{task: `heartbeat_table = "p.*"`}, path: t0 + ".heartbeat_table", contains: "want db.table"},
		{name: "signal_table not db.table", d: doc{task: `signal_table = "signals"`}, path: t0 + ".signal_table", contains: "want db.table"},
		{name: "signal_table is the heartbeat_table", d: doc{task: "signal_table = \"p.t\"\nheartbeat_table = \"p.t\""}, path: t0 + ".signal_table", contains: "also the heartbeat_table"},
		{name: "no source", src: "[[task]]\nname = \"shop\"\nreplica_server_id = 1\n[[task.sender]]\nplugin = \"builtin:x\"", path: t0 + ".source", contains: "at least one [[task.source]]"},
		{name: "no sender", src: "[[task]]\nname = \"shop\"\nreplica_server_id = 1\n[[task.source]]\naddr = \"h:1\"\nuser = \"u\"", path: t0 + ".sender", contains: "at least one [[task.sender]]"},
		// [[task.source]]
		{name: "addr missing", d: doc{source: `user = "u"`}, path: t0 + ".source[0].addr", contains: "required"},
		{name: "addr without port", d: doc{source: "addr = \"db1\"\nuser = \"u\""}, path: t0 + ".source[0].addr", contains: `missing port in "db1"`},
		{name: "addr without host", d: doc{source: "addr = \":3306\"\nuser = \"u\""}, path: t0 + ".source[0].addr", contains: "missing host"},
		{name: "addr port zero", d: doc{source: "addr = \"db:0\"\nuser = \"u\""}, path: t0 + ".source[0].addr", contains: "want 1..65535"},
		{name: "addr port large", d: doc{source: "addr = \"db:65536\"\nuser = \"u\""}, path: t0 + ".source[0].addr", contains: "bad port"},
		{name: "user missing", d: doc{source: `addr = "db:1"`}, path: t0 + ".source[0].user", contains: "required"},
		{name: "user empty", d: doc{source: "addr = \"db:1\"\nuser = \"\""}, path: t0 + ".source[0].user", contains: "required"},
		{name: "password twice", d: doc{source: "password_env = \"SET\"\npassword_file = \"/p\""}, path: t0 + ".source[0].password_file", contains: "at most one of password_env and password_file"},
		{name: "password env unset", d: doc{source: `password_env = "PUMA_NOPE"`}, path: t0 + ".source[0].password_env", contains: `"PUMA_NOPE" is not set`},
		{name: "password file missing", d: doc{source: `password_file = "missing"`}, path: t0 + ".source[0].password_file", contains: filepath.Join(dir, "missing")},
		{name: "flavor", d: doc{source: `flavor = "postgres"`}, path: t0 + ".source[0].flavor", contains: `"postgres"`},
		{name: "tls", d: doc{source: `tls = "yes"`}, path: t0 + ".source[0].tls", contains: `"off", "on", "skip-verify"`},
		{name: "tls_ca_file without tls", d: doc{source: `tls_ca_file = "ca.pem"`}, path: t0 + ".source[0].tls_ca_file", contains: `needs tls = "on"`},
		{name: "tls_ca_file with skip-verify", d: doc{source: "tls = \"skip-verify\"\ntls_ca_file = \"ca.pem\""}, path: t0 + ".source[0].tls_ca_file", contains: `needs tls = "on"`},
		{name: "tls_ca_file not PEM", d: doc{source: "tls = \"on\"\ntls_ca_file = \"notpem.crt\""}, path: t0 + ".source[0].tls_ca_file", contains: "no PEM certificate"},
		{name: "tls_ca_file missing", d: doc{source: "tls = \"on\"\ntls_ca_file = \"nope.crt\""}, path: t0 + ".source[0].tls_ca_file", contains: "no such file"},
		{name: "tls_server_name without tls", d: doc{source: `tls_server_name = "db"`}, path: t0 + ".source[0].tls_server_name", contains: "needs tls"},
		// [[task.handler]] and [[task.sender]]
		{name: "plugin missing", d: doc{handler: `name = "h"`}, path: t0 + ".handler[0].plugin", contains: "required"},
		{name: "plugin not builtin nor wasm", d: doc{sender: `plugin = "kafka"`}, path: t0 + ".sender[0].plugin", contains: `"kafka": want "builtin:<name>"`},
		{name: "plugin bare .wasm", d: doc{sender: `plugin = ".wasm"`}, path: t0 + ".sender[0].plugin", contains: "want"},
		{name: "builtin name", d: doc{sender: `plugin = "builtin:"`}, path: t0 + ".sender[0].plugin", contains: `bad built-in name ""`},
		{name: "plugin name invalid", d: doc{sender: `name = "Out Put"`}, path: t0 + ".sender[0].name", contains: `bad plugin name "Out Put"`},
		{name: "default name invalid", d: doc{sender: `plugin = "My Plugin.wasm"`}, path: t0 + ".sender[0].name", contains: "set name when"},
		{name: "plugin name duplicate", d: doc{handler: `plugin = "builtin:stdout"`}, path: t0 + ".sender[0].name", contains: `duplicate plugin name "stdout", also used by ` + t0 + ".handler[0]"},
		{name: "timeout", d: doc{handler: "plugin = \"builtin:f\"\ntimeout = \"0s\""}, path: t0 + ".handler[0].timeout", contains: "positive"},
		{name: "max_memory unit", d: doc{sender: `max_memory = "64M"`}, path: t0 + ".sender[0].max_memory", contains: `unknown unit "M"`},
		{name: "max_memory no number", d: doc{sender: `max_memory = "MiB"`}, path: t0 + ".sender[0].max_memory", contains: "not a size"},
		{name: "max_memory small", d: doc{sender: `max_memory = "1000KB"`}, path: t0 + ".sender[0].max_memory", contains: "out of range 1MiB..4GiB"},
		{name: "max_memory large", d: doc{sender: `max_memory = "5GiB"`}, path: t0 + ".sender[0].max_memory", contains: "out of range"},
		{name: "max_memory overflow", d: doc{sender: `max_memory = "99999999999999999999GiB"`}, path: t0 + ".sender[0].max_memory", contains: "too large"},
	}
	e := env{"SET": "v", "EMPTY": ""}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src == "" {
				src = tt.d.String()
			}
			_, err := parseIn(t, dir, src, e)
			if err == nil {
				t.Fatalf("no error for\n%s", src)
			}
			for _, p := range problems(t, err) {
				if p.Path == tt.path && strings.Contains(p.Msg, tt.contains) {
					return
				}
			}
			t.Errorf("want a problem at %s containing %q, got:\n%v", tt.path, tt.contains, err)
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		d    doc
		src  string
		path string
		msg  string
	}{
		{name: "top level", src: "colour = 1\n" + minimal, path: "colour", msg: "unknown key"},
		{name: "top-level table", src: "[srever]\nadmin = \"\"\n" + minimal, path: "srever", msg: "unknown key: did you mean server?"},
		{name: "server", d: doc{server: `adminn = "x"`}, path: "server.adminn", msg: "unknown key: did you mean admin?"},
		{name: "server subtable", d: doc{server: "[server.tls]\ncert = 1"}, path: "server.tls", msg: "unknown key"},
		{name: "task", d: doc{task: `replica_id = 3`}, path: t0 + ".replica_id", msg: "unknown key"},
		{name: "task near miss", d: doc{task: `replica_serverid = 3`}, path: t0 + ".replica_serverid", msg: "unknown key: did you mean replica_server_id?"},
		{name: "task swapped letters", d: doc{task: `stpo_at = "x"`}, path: t0 + ".stpo_at", msg: "unknown key: did you mean stop_at?"},
		{name: "quoted key", d: doc{task: `"a.b" = 3`}, path: t0 + `."a.b"`, msg: "unknown key"},
		{name: "source", d: doc{source: `adr = "x"`}, path: t0 + ".source[0].adr", msg: "unknown key: did you mean addr?"},
		{name: "handler", d: doc{handler: "plugin = \"builtin:f\"\nconfg = {}"}, path: t0 + ".handler[0].confg", msg: "unknown key: did you mean config?"},
		{name: "sender", d: doc{sender: `retries = 3`}, path: t0 + ".sender[0].retries", msg: "unknown key"},
		{name: "second source", src: minimal + "[[task.source]]\naddr = \"h:1\"\nuser = \"u\"\nport = 1\n", path: t0 + ".source[1].port", msg: "unknown key"},
		{name: "unnamed task", src: "[[task]]\nnaem = \"shop\"", path: "task[0].naem", msg: "unknown key: did you mean name?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src == "" {
				src = tt.d.String()
			}
			_, err := parseIn(t, t.TempDir(), src, nil)
			for _, p := range problems(t, err) {
				if p.Path == tt.path && p.Msg == tt.msg {
					return
				}
			}
			t.Errorf("want %s: %s, got:\n%v", tt.path, tt.msg, err)
		})
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"filter", "http", "jsonl", "mask", "rename", "route", "stdout", "replica_server_id"}
	for _, tt := range []struct {
		got, want string
		ok        bool
	}{
		{"filtr", "filter", true},
		{"fitler", "filter", true},
		{"jsnol", "jsonl", true},
		{"jxnxl", "", false}, // two edits in a short name
		{"jsonll", "jsonl", true},
		{"htp", "http", true},
		{"routes", "route", true},
		{"replica_serverid", "replica_server_id", true},
		{"replica-server-ID", "", false},
		{"kafka", "", false},
		{"x", "", false},
		{"", "", false},
	} {
		name, ok := Suggest(tt.got, known)
		if ok != tt.ok || (ok && name != tt.want) {
			t.Errorf("Suggest(%q) = %q, %v; want %q, %v", tt.got, name, ok, tt.want, tt.ok)
		}
	}
}

func TestPluginTablesAreRaw(t *testing.T) {
	src := doc{
		handler: "plugin = \"builtin:f\"\nconfig = { anything = { at = [\"any\", { depth = 1 }] } }\n" +
			"[task.handler.grants]\nwhatever = true\n[task.handler.grants.deeper]\nx = 1",
		sender: "[task.sender.config]\nbrokers = [\"k:9092\"]",
	}.String()
	cfg, err := parseIn(t, t.TempDir(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Tasks[0].Handlers[0]
	want := map[string]any{"whatever": true, "deeper": map[string]any{"x": int64(1)}}
	if !reflect.DeepEqual(h.Grants, want) {
		t.Errorf("grants = %#v", h.Grants)
	}
	if got := cfg.Tasks[0].Senders[0].Config["brokers"]; !reflect.DeepEqual(got, []any{"k:9092"}) {
		t.Errorf("sender config brokers = %#v", got)
	}
}

func TestWrongTypes(t *testing.T) {
	tests := []struct {
		name     string
		d        doc
		src      string
		path     string
		contains string
	}{
		{name: "string for integer", d: doc{task: "name = \"shop\"\nreplica_server_id = \"x\""}, path: t0 + ".replica_server_id", contains: "want an integer, got a string"},
		{name: "float for integer", d: doc{task: `batch_rows = 1.5`}, path: t0 + ".batch_rows", contains: "want an integer, got a float"},
		{name: "integer for duration", d: doc{task: `heartbeat = 5`}, path: t0 + ".heartbeat", contains: "want a string, got an integer"},
		{name: "datetime for start", d: doc{task: `start = 2026-01-01T00:00:00Z`}, path: t0 + ".start", contains: "want a string, got a datetime"},
		{name: "bool for string", d: doc{server: `log_level = true`}, path: "server.log_level", contains: "got a boolean"},
		{name: "string for array", d: doc{task: `tables = "shop.*"`}, path: t0 + ".tables", contains: "want an array of strings, got a string"},
		{name: "array element", d: doc{task: `exclude = ["a.b", 2]`}, path: t0 + ".exclude[1]", contains: "want a string, got an integer"},
		{name: "key_columns not a table", d: doc{task: `key_columns = ["a"]`}, path: t0 + ".key_columns", contains: "want a table, got an array"},
		{name: "key_columns value", d: doc{task: `key_columns = { "a.b" = "id" }`}, path: t0 + `.key_columns."a.b"`, contains: "want an array of strings"},
		{name: "config not a table", d: doc{sender: `config = 5`}, path: t0 + ".sender[0].config", contains: "want a table, got an integer"},
		{name: "grants not a table", d: doc{sender: `grants = ["files"]`}, path: t0 + ".sender[0].grants", contains: "want a table"},
		{name: "server not a table", src: "server = 1\n" + minimal, path: "server", contains: "want a table, got an integer"},
		{name: "secrets not a table", src: "secrets = \"x\"\n" + minimal, path: "secrets", contains: "want a table"},
		{name: "task not an array", src: "[task]\nname = \"x\"", path: "task", contains: "want an array of tables, got a table"},
		{name: "source not an array", src: "[[task]]\nname = \"shop\"\n[task.source]\naddr = \"x:1\"", path: t0 + ".source", contains: "want an array of tables, got a table"},
		{name: "sender array of strings", src: "[[task]]\nname = \"shop\"\nsender = [\"x\"]", path: t0 + ".sender", contains: "want an array of tables, got an array"},
		{name: "name not a string", src: "[[task]]\nname = 5\nreplica_server_id = 1", path: "task[0].name", contains: "want a string, got an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src == "" {
				src = tt.d.String()
			}
			_, err := parseIn(t, t.TempDir(), src, nil)
			if err == nil {
				t.Fatalf("no error for\n%s", src)
			}
			found := false
			for _, p := range problems(t, err) {
				if p.Path == tt.path {
					if !found && strings.Contains(p.Msg, tt.contains) {
						found = true
						continue
					}
					t.Errorf("second problem at %s: %s", p.Path, p.Msg)
				}
			}
			if !found {
				t.Errorf("want a problem at %s containing %q, got:\n%v", tt.path, tt.contains, err)
			}
		})
	}
}

func TestSyntaxError(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unterminated string", "[[task]]\nname = \"shop\nreplica_server_id = 1\n", "line 2, column"},
		{"missing value", "[server]\nadmin =\n", "line 2, column"},
		{"duplicate key", "[server]\nadmin = \"\"\nadmin = \"\"\n", "line 3, column"},
		{"two values", "[[task]]\nname = \"a\" \"b\"\n", "line 2, column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "puma.toml")
			ps := problems(t, err)
			if len(ps) != 1 {
				t.Fatalf("got %d problems, want 1: %v", len(ps), err)
			}
			if !strings.Contains(ps[0].Msg, tt.want) || !strings.HasPrefix(err.Error(), "puma.toml: line ") {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestManyProblems(t *testing.T) {
	src := `
[server]
log_level = "loud"
[[task]]
name = "shop"
replica_server_id = "4001"
batch_rows = 0
[[task.source]]
addr = "db1"
user = "puma"
adr = "db1:3306"
[[task.sender]]
plugin = "kafka"
`
	_, err := Parse([]byte(src), "puma.toml")
	ps := problems(t, err)
	want := []string{
		`puma.toml: server.log_level: "loud": want one of "debug", "info", "warn", "error"`,
		`puma.toml: task[0] (shop).replica_server_id: want an integer, got a string`,
		`puma.toml: task[0] (shop).source[0].adr: unknown key: did you mean addr?`,
		`puma.toml: task[0] (shop).batch_rows: 0 is out of range 1..65536`,
		`puma.toml: task[0] (shop).source[0].addr: missing port in "db1"`,
		`puma.toml: task[0] (shop).sender[0].plugin: "kafka": want "builtin:<name>" or the path of a .wasm module`,
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "puma.toml")
	writeFile(t, name, minimal, 0o644)
	cfg, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dir != dir || cfg.Server.DataDir != filepath.Join(dir, "var") {
		t.Errorf("Dir = %q, DataDir = %q", cfg.Dir, cfg.Server.DataDir)
	}

	_, err = Load(filepath.Join(dir, "missing.toml"))
	if ps := problems(t, err); len(ps) != 1 || !strings.Contains(err.Error(), "missing.toml: read: no such file") {
		t.Errorf("got %v", err)
	}
}

func TestSecretFiles(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"one newline trimmed", "pw\n", "pw"},
		{"crlf trimmed", "pw\r\n", "pw"},
		{"only one newline trimmed", "pw\n\n", "pw\n"},
		{"no newline", "pw", "pw"},
		{"inner spaces kept", " p w ", " p w "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "pw"), tt.content, 0o640)
			cfg, err := parseIn(t, dir, doc{source: `password_file = "pw"`, secrets: `k_file = "pw"`}.String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Tasks[0].Sources[0].Password.Reveal(); got != tt.want {
				t.Errorf("password = %q, want %q", got, tt.want)
			}
			if got := cfg.Secrets["k"].Reveal(); got != tt.want {
				t.Errorf("secret = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "pw"), strings.Repeat("x", maxSecretFile+1), 0o600)
		_, err := parseIn(t, dir, doc{source: `password_file = "pw"`}.String(), nil)
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("got %v", err)
		}
	})
}

// TestSecretsNeverLeak checks that no secret value shows up in errors,
// fmt output, JSON or logs.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		envPW   = "hunter2-from-env"
		filePW  = "hunter2-from-file"
		token   = "hunter2-admin-token"
		hmacKey = "hunter2-hmac"
	)
	leaks := func(t *testing.T, what, s string) {
		t.Helper()
		for _, v := range []string{envPW, filePW, token, hmacKey, "hunter2"} {
			if strings.Contains(s, v) {
				t.Errorf("%s contains secret %q:\n%s", what, v, s)
			}
		}
	}
	e := env{"PW": envPW, "TOKEN": token, "HMAC": hmacKey}

	t.Run("errors", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "open.pw"), filePW, 0o666)
		writeFile(t, filepath.Join(dir, "good.pw"), filePW, 0o600)
		writeFile(t, filepath.Join(dir, "big.pw"), filePW+strings.Repeat("x", maxSecretFile), 0o600)
		tests := []doc{
			{source: `password_file = "open.pw"`},                                            // wrong mode
			{source: `password_file = "big.pw"`},                                             // too large
			{source: "password_env = \"PW\"\nflavor = \"hunter\""},                           // unrelated problem, same source
			{source: "password_env = \"PW\"\npassword_file = \"good.pw\""},                   // both given
			{source: "password_file = \"good.pw\"\ntls_ca_file = \"good.pw\"\ntls = \"on\""}, // secret read as a CA
			{secrets: `x_file = "open.pw"`, server: "admin_token_env = \"TOKEN\"\nadmin = \"1.2.3.4\""},
			{secrets: "x_env = \"HMAC\"\nx_file = \"good.pw\""},
		}
		for i, d := range tests {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				_, err := parseIn(t, dir, d.String(), e)
				if err == nil {
					t.Fatal("no error")
				}
				leaks(t, "error", err.Error())
				leaks(t, "error %+v", fmt.Sprintf("%+v", err))
			})
		}
	})

	t.Run("printing", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "pw"), filePW+"\n", 0o600)
		src := doc{
			server:  "admin = \"0.0.0.0:1\"\nadmin_token_env = \"TOKEN\"",
			secrets: `hmac_env = "HMAC"`,
			source:  `password_env = "PW"`,
		}.String() + "[[task.source]]\naddr = \"h:1\"\nuser = \"u\"\npassword_file = \"pw\"\n"
		cfg, err := parseIn(t, dir, src, e)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Tasks[0].Sources[1].Password.Reveal() != filePW || cfg.Server.AdminToken.Reveal() != token {
			t.Fatal("secrets not resolved")
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			leaks(t, verb, fmt.Sprintf(verb, cfg))
			leaks(t, verb+" value", fmt.Sprintf(verb, *cfg))
			leaks(t, verb+" source", fmt.Sprintf(verb, cfg.Tasks[0].Sources[0]))
			leaks(t, verb+" secret", fmt.Sprintf(verb, cfg.Tasks[0].Sources[0].Password))
		}
		js, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		leaks(t, "json", string(js))
		if !strings.Contains(string(js), `"Password":"[redacted]"`) {
			t.Errorf("json does not show the password redacted: %s", js)
		}
		var buf bytes.Buffer
		for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
			slog.New(h).Info("loaded", "config", cfg, "source", cfg.Tasks[0].Sources[0],
				"password", cfg.Tasks[0].Sources[0].Password, "secrets", cfg.Secrets)
		}
		leaks(t, "slog", buf.String())
		if !strings.Contains(buf.String(), "[redacted]") {
			t.Errorf("slog output shows no [redacted]: %s", buf.String())
		}
		text, _ := cfg.Secrets["hmac"].MarshalText()
		leaks(t, "MarshalText", string(text))
	})
}

func TestMatch(t *testing.T) {
	task := Task{
		Tables:  []string{"shop.*", "billing.invoice_?", "*.events"},
		Exclude: []string{"shop.audit_*", "*.events"},
	}
	tests := []struct {
		db, table string
		want      bool
	}{
		{"shop", "orders", true},
		{"shop", "audit_log", false},
		{"billing", "invoice_1", true},
		{"billing", "invoice_12", false},
		{"billing", "payments", false},
		{"shopping", "orders", false},
		{"analytics", "events", false}, // excluded wins
		{"shop", "events", false},
		{"shop.x", "y", false}, // a pattern side never matches across the dot
	}
	for _, tt := range tests {
		t.Run(tt.db+"."+tt.table, func(t *testing.T) {
			if got := task.Match(tt.db, tt.table); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
	if !(Task{Tables: []string{"*.*"}}).Match("any", "thing") {
		t.Error("*.* does not match everything")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  bool
	}{
		{"1B", 1, false},
		{"2KB", 2000, false},
		{"3MB", 3e6, false},
		{"4GB", 4e9, false},
		{"5KiB", 5 << 10, false},
		{"64MiB", 64 << 20, false},
		{"4GiB", 4 << 30, false},
		{"", 0, true},
		{"64", 0, true},
		{"MiB", 0, true},
		{"1.5MiB", 0, true},
		{"-1MiB", 0, true},
		{"64 MiB", 0, true},
		{"64mib", 0, true},
		{"17179869184GiB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ca.pem"), selfSignedPEM(t), 0o644)
	tests := []struct {
		name   string
		source string
		check  func(*testing.T, Source)
	}{
		{"off", ``, func(t *testing.T, s Source) {
			if c, err := s.TLSConfig(); c != nil || err != nil {
				t.Errorf("got %v, %v; want nil, nil", c, err)
			}
		}},
		{"skip-verify", `tls = "skip-verify"`, func(t *testing.T, s Source) {
			c, err := s.TLSConfig()
			if err != nil || !c.InsecureSkipVerify || c.ServerName != "db" {
				t.Errorf("got %+v, %v", c, err)
			}
		}},
		{"on with CA and name", "tls = \"on\"\ntls_ca_file = \"ca.pem\"\ntls_server_name = \"mysql.internal\"", func(t *testing.T, s Source) {
			c, err := s.TLSConfig()
			if err != nil || c.InsecureSkipVerify || c.RootCAs == nil || c.ServerName != "mysql.internal" {
				t.Errorf("got %+v, %v", c, err)
			}
			if s.TLSCAFile != filepath.Join(dir, "ca.pem") {
				t.Errorf("TLSCAFile = %q", s.TLSCAFile)
			}
		}},
		{"on with system roots", `tls = "on"`, func(t *testing.T, s Source) {
			c, err := s.TLSConfig()
			if err != nil || c.RootCAs != nil || c.ServerName != "db" {
				t.Errorf("got %+v, %v", c, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseIn(t, dir, doc{source: tt.source}.String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg.Tasks[0].Sources[0])
		})
	}
}

func selfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/example.toml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		string(example[:len(example)/2]), // truncated
		minimal,
		"",
		"[server]\nadmin = \"0.0.0.0:1\"\n",
		"[[task]]\nname = \"shop\nreplica_server_id = 1",
		"[[task]]\nname = 5\n[[task.source]]\naddr = 1\n[task.sender]\n",
		"task = [{ name = \"a\", source = [1] }]",
		"[secrets]\na_env = \"X\"\nb_file = \"/dev/zero\"\nc_file = \"\"\n",
		"[[task]]\nkey_columns = { \"a.b\" = [1, \"\"] }\ntables = [\"[\"]\n",
		doc{task: `stop_at = "file:x:1"`, sender: `max_memory = "99999999999999999999GiB"`}.String(),
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	lookup := env{"PUMA_ADMIN_TOKEN": "t", "PUMA_WEBHOOK_HMAC": "h", "PUMA_SHOP_PASSWORD": "p", "X": "x"}.lookup
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseWith(data, filepath.Join(dir, "puma.toml"), lookup)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 || cfg != nil {
				t.Fatalf("got %v (%T) and config %v", err, err, cfg)
			}
			if lines := strings.Count(err.Error(), "\n") + 1; lines != len(ce.Problems) {
				t.Fatalf("%d problems printed on %d lines:\n%s", len(ce.Problems), lines, err)
			}
			return
		}
		if len(cfg.Tasks) == 0 {
			t.Fatal("valid config without tasks")
		}
		for _, task := range cfg.Tasks {
			if task.Name == "" || task.ReplicaServerID == 0 || len(task.Sources) == 0 || len(task.Senders) == 0 ||
				task.Heartbeat <= 0 || task.ReadTimeout <= task.Heartbeat || task.BatchRows < 1 {
				t.Fatalf("invalid task accepted: %+v", task)
			}
		}
	})
}

// LoadServer reads [server] alone: a task's unset password variable, which
// Load reports, does not stop it.
func TestLoadServer(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "puma.toml")
	t.Setenv("PUMA_TEST_ADMIN_TOKEN", "tok")
	const tasks = `
[[task]]
name = "shop"
replica_server_id = 1
  [[task.source]]
  addr = "db:3306"
  user = "cdc"
  password_env = "PUMA_TEST_UNSET_PASSWORD"
  [[task.sender]]
  plugin = "builtin:stdout"
`
	writeFile(t, name, "[server]\nadmin = \"0.0.0.0:7000\"\nadmin_token_env = \"PUMA_TEST_ADMIN_TOKEN\"\n"+tasks, 0o644)
	if _, err := Load(name); err == nil || !strings.Contains(err.Error(), "PUMA_TEST_UNSET_PASSWORD") {
		t.Fatalf("Load: %v, want the unset password variable", err)
	}
	s, err := LoadServer(name)
	if err != nil {
		t.Fatal(err)
	}
	if s.Admin != "0.0.0.0:7000" || s.AdminToken.Reveal() != "tok" || s.UnhealthyAfter != time.Minute {
		t.Fatalf("LoadServer = %+v", s)
	}

	for _, c := range []struct{ server, path, contains string }{
		{`admin_token_env = "PUMA_TEST_UNSET_TOKEN"`, "server.admin_token_env", "is not set"},
		{`admn = "127.0.0.1:1"`, "server.admn", "unknown key"},
		{`admin = "::1:80"`, "server.admin", "not host:port"},
	} {
		writeFile(t, name, "[server]\n"+c.server+"\n"+tasks, 0o644)
		_, err := LoadServer(name)
		ps := problems(t, err)
		if len(ps) != 1 || ps[0].Path != c.path || !strings.Contains(ps[0].Msg, c.contains) {
			t.Errorf("[server] %s: %v, want one problem at %s containing %q", c.server, ps, c.path, c.contains)
		}
	}
	writeFile(t, name, "[server\n", 0o644)
	if _, err := LoadServer(name); err == nil {
		t.Error("LoadServer accepted a syntax error")
	}
}

// TestSnapshotModes checks that every snapshot mode, a chunk size, a
// parallelism and a locking mode are accepted as written.
func TestSnapshotModes(t *testing.T) {
	for _, mode := range []string{SnapshotNever, SnapshotInitial, SnapshotInitialOnly} {
		t.Run(mode, func(t *testing.T) {
			src := strings.Replace(minimal, "replica_server_id = 1", "replica_server_id = 1\nsnapshot = \""+mode+"\"\nsnapshot_chunk_rows = 7\nsnapshot_parallel = 3\nsnapshot_locking = \"flush\"", 1)
			cfg, err := parseIn(t, t.TempDir(), src, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Tasks[0]; got.Snapshot != mode || got.SnapshotChunkRows != 7 || got.SnapshotParallel != 3 || got.SnapshotLocking != SnapshotLockingFlush {
				t.Errorf("snapshot = %q, snapshot_chunk_rows = %d, snapshot_parallel = %d, snapshot_locking = %q; want %q, 7, 3, flush",
					got.Snapshot, got.SnapshotChunkRows, got.SnapshotParallel, got.SnapshotLocking, mode)
			}
		})
	}
}

// TestTargetsProblems: a [targets] table without a kind, of an unknown
// kind, or not a table is named by its path.
func TestTargetsProblems(t *testing.T) {
	const tasks = `
[[task]]
name = "t"
replica_server_id = 5
[[task.source]]
addr = "127.0.0.1:3306"
user = "cdc"
[[task.sender]]
plugin = "builtin:stdout"
`
	_, err := parseIn(t, t.TempDir(), `
targets = { flat = "x" }
`+tasks, env{})
	got := problems(t, err)
	if len(got) != 1 || got[0].Path != "targets.flat" || !strings.Contains(got[0].Msg, "a table") {
		t.Errorf("problems %+v", got)
	}
	_, err = parseIn(t, t.TempDir(), `
[targets.nokind]
url = "x"
[targets.odd]
kind = "carrier-pigeon"
`+tasks, env{})
	got = problems(t, err)
	if len(got) != 2 || got[0].Path != "targets.nokind.kind" || got[1].Path != "targets.odd.kind" ||
		!strings.Contains(got[1].Msg, `unknown kind "carrier-pigeon" (have: `) {
		t.Errorf("problems %+v", got)
	}
}
