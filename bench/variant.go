package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/config"
	"github.com/pumacdc/puma/internal/jsonsink"
)

// Env is what one variant run reads: a source and the binary-log range
// starting at Start. The end arrives through the Probe.
type Env struct {
	// Addr is the source's host:port; the user is root, no password.
	Addr string
	// Start is where the range begins: the position recorded before the
	// workload was loaded.
	Start Pos
	// Table is the workload's "db.table".
	Table string
	// Dir is a scratch directory the run may fill; it is removed after.
	Dir string
	// ServerID is the replica server id to register with; each run gets
	// its own, so a previous run's lingering connection never collides.
	ServerID uint32
	// Log receives warnings and errors.
	Log *slog.Logger
	// Workload names the workload whose range this is.
	Workload string
	// SinkURL is where a variant with Sink set posts (the harness's
	// httpSink); empty otherwise.
	SinkURL string
	// TargetPort and TargetDB are, for a variant with Target set, the
	// loopback port of the database target (the harness's round-trip
	// counting proxy in front of it) and the run's database there.
	TargetPort int
	TargetDB   string
	// Broker is where a variant with Broker set publishes; nil
	// otherwise.
	Broker *BrokerEnv
}

// Variant is one consumer of the binary-log range: a name and either a
// function building a Puma task (config and engine.Deps) or, for the floor,
// a raw consumer.
type Variant struct {
	Name  string
	Label string
	// Filtered marks a variant whose handlers drop the rows for which the
	// workload's Keep predicate does not hold: the harness expects its
	// senders to deliver as many rows as MariaDB counts with that
	// predicate, not every row of the range.
	Filtered bool
	// Sink, when set, makes the harness run an httpSink for each run of
	// the variant, outside the measured process, and pass its URL in
	// Env.SinkURL. The rows it received, each batch once, must be the
	// rows the probe counted; Sink checks the first body that carried
	// rows (that the handlers did their work).
	Sink func(w Workload, first []byte) error
	// Target, when set ("postgres" or "mysql"), makes the harness start a
	// private server of that kind once, outside the measured process,
	// and give each run a fresh database on it (Env.TargetPort,
	// Env.TargetDB). The target table must then hold the rows the probe
	// counted, and the run reports its round trips to the target.
	Target string
	// Workloads, when set, are the only workloads the variant runs on.
	Workloads []string
	// Broker, when set ("nats", "redis" or "kafka"), makes the harness
	// start a private broker of that kind for each run of the variant,
	// outside the measured process, and pass where it is in Env.Broker.
	// The broker must then hold the rows the probe counted, each once.
	Broker string
	// Snapshot marks a variant that reads the workload's table with an
	// initial snapshot instead of its binary-log range: it measures batch
	// workloads only (a steady workload's rows arrive while it runs).
	Snapshot bool
	// Engine builds a Puma task. The harness wraps every sender it makes
	// in a probe that counts rows, records lag and notices the end.
	Engine func(env *Env) (*Setup, error)
	// Raw consumes the range without the engine; it calls ready once it is
	// reading and reports what it decodes to p.
	Raw func(ctx context.Context, env *Env, p *Probe, ready func()) error
}

// Setup is a Puma task ready to run.
type Setup struct {
	Task engine.TaskConfig
	Deps engine.Deps
	// WasmTime returns the time spent inside Wasm plugins so far; nil when
	// the variant runs none.
	WasmTime func() time.Duration
	// Close releases what the setup holds after the task stopped; may be
	// nil.
	Close func() error
}

// Variants returns every variant, in report order.
func Variants() []Variant {
	return []Variant{
		{Name: "floor", Label: "floor: go-mysql decode only", Raw: runFloor},
		{Name: "decode", Label: "Puma's row decoder alone (same syncer)", Raw: runDecode},
		{Name: "null", Label: "puma → null", Engine: engineVariant(nullSenders)},
		{Name: "jsonl", Label: "puma → jsonl (Go, fsync per group)", Engine: engineVariant(jsonlSenders(true))},
		{Name: "jsonl-nofsync", Label: "puma → jsonl (Go, no fsync)", Engine: engineVariant(jsonlSenders(false))},
		{Name: "filter-jsonl", Label: "puma → filter → jsonl (native filter and jsonl, no fsync)", Engine: wasmVariant(wasmFilterJSONL(false))},
		{Name: "filter-jsonl-wasm", Label: "puma → filter → jsonl (both Wasm, no fsync)", Workloads: []string{"narrow"},
			Engine: wasmVariant(allWasm(wasmFilterJSONL(false)))},
		{Name: "filter-jsonl-fsync", Label: "puma → filter → jsonl (native filter and jsonl, fsync per group)", Engine: wasmVariant(wasmFilterJSONL(true))},
		{Name: "snapshot", Label: "puma snapshot → jsonl (Go, fsync per group)", Snapshot: true,
			Engine: engineVariantWith("snapshot = \"initial\"\n", jsonlSenders(true))},
		{Name: "snapshot-serial", Label: "puma snapshot, one connection → jsonl (Go, fsync per group)", Snapshot: true,
			Engine: engineVariantWith("snapshot = \"initial\"\nsnapshot_parallel = 1\n", jsonlSenders(true))},
		{Name: "snapshot-null", Label: "puma snapshot → null", Snapshot: true,
			Engine: engineVariantWith("snapshot = \"initial\"\n", nullSenders)},
		{Name: "filter-postgres", Label: "puma → filter → sqlapply into PostgreSQL (Wasm sqlapply, exactly once)", Target: "postgres",
			Workloads: []string{"narrow"}, Engine: wasmVariant(wasmFilterSQLApply("postgres"))},
		{Name: "filter-mariadb", Label: "puma → filter → sqlapply into MariaDB (Wasm sqlapply, exactly once)", Target: "mysql",
			Workloads: []string{"narrow"}, Engine: wasmVariant(wasmFilterSQLApply("mysql"))},
		{Name: "filter-nats", Label: "puma → filter → nats (Wasm nats, exactly once)", Broker: "nats", Engine: wasmVariant(wasmFilterBroker("nats"))},
		{Name: "filter-redis", Label: "puma → filter → redis (Wasm redis, exactly once)", Broker: "redis", Engine: wasmVariant(wasmFilterBroker("redis"))},
		{Name: "filter-kafka", Label: "puma → filter → kafka (Wasm kafka, exactly once)", Broker: "kafka", Engine: wasmVariant(wasmFilterBroker("kafka"))},
		{Name: "filter-mask-jsonl", Label: "puma → filter + mask → jsonl (all native, no fsync)", Filtered: true,
			Engine: wasmVariant(wasmFilterMask(false))},
		{Name: "filter-mask-jsonl-http", Label: "puma → filter + mask → jsonl + http (all native, no fsync)", Filtered: true, Sink: checkMasked,
			Engine: wasmVariant(wasmFilterMask(true))},
	}
}

// runsOn reports whether v measures workload w.
func (v Variant) runsOn(w Workload) bool {
	return len(v.Workloads) == 0 || slices.Contains(v.Workloads, w.Name)
}

// VariantByName finds a variant.
func VariantByName(name string) (Variant, bool) {
	for _, v := range Variants() {
		if v.Name == name {
			return v, true
		}
	}
	return Variant{}, false
}

// senderSpec is the [[task.sender]] (and [[task.handler]]) TOML of a
// variant and the factory building its senders.
type senderSpec struct {
	toml      func(env *Env) string
	newSender func(cfg *config.Config) func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Sender, error)
}

// engineVariant builds a task through the real config parser with the
// task defaults, reading env.Table from env.Start, checkpointing to a file
// store as cmd/puma does.
func engineVariant(s senderSpec) func(env *Env) (*Setup, error) {
	return engineVariantWith("", s)
}

// engineVariantWith is engineVariant with task the TOML of more task keys.
func engineVariantWith(task string, s senderSpec) func(env *Env) (*Setup, error) {
	return func(env *Env) (*Setup, error) {
		cfg, err := parseTaskConfig(env, task, s.toml(env))
		if err != nil {
			return nil, err
		}
		return newSetup(cfg, env, s.newSender(cfg))
	}
}

// parseConfig parses a configuration (in env.Dir/puma.toml, which need not
// exist) of one task reading env.Table from env.Start, with plugins the
// TOML tables plugins, through the real config parser.
func parseConfig(env *Env, plugins string) (*config.Config, error) {
	return parseTaskConfig(env, "", plugins)
}

// parseTaskConfig is parseConfig with task the TOML of more task keys.
func parseTaskConfig(env *Env, task, plugins string) (*config.Config, error) {
	doc := fmt.Sprintf(`
[server]
data_dir = %q
[[task]]
name = "bench"
replica_server_id = %d
start = "file:%s:%d"
tables = [%q]
%s  [[task.source]]
  addr = %q
  user = "root"
%s`, filepath.Join(env.Dir, "var"), env.ServerID, env.Start.File, env.Start.Pos, env.Table, task, env.Addr, plugins)
	cfg, err := config.Parse([]byte(doc), filepath.Join(env.Dir, "puma.toml"))
	if err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	return cfg, nil
}

// newSetup is cfg's task with a file checkpoint store, as cmd/puma runs
// it.
func newSetup(cfg *config.Config, env *Env, newSender func(context.Context, engine.TaskConfig, engine.PluginConfig) (engine.Sender, error)) (*Setup, error) {
	store, err := checkpoint.NewFileStore(filepath.Join(cfg.Server.DataDir, "checkpoints"))
	if err != nil {
		return nil, err
	}
	return &Setup{
		Task: cfg.Tasks[0],
		Deps: engine.Deps{Store: store, Log: env.Log, NewSender: newSender},
	}, nil
}

// nullSenders: one sender that accepts every batch at once. It is the
// measurement seam: what is left is the engine's own cost.
var nullSenders = senderSpec{
	toml: func(*Env) string { return "  [[task.sender]]\n  plugin = \"builtin:null\"\n" },
	newSender: func(*config.Config) func(context.Context, engine.TaskConfig, engine.PluginConfig) (engine.Sender, error) {
		return func(context.Context, engine.TaskConfig, engine.PluginConfig) (engine.Sender, error) {
			return nullSender{}, nil
		}
	},
}

type nullSender struct{}

func (nullSender) Send(context.Context, *engine.Batch) error { return nil }
func (nullSender) Close() error                              { return nil }

// jsonlSenders: the Go sender cmd/puma builds for builtin:jsonl, with its
// default config apart from fsync.
func jsonlSenders(fsync bool) senderSpec {
	return senderSpec{
		toml: func(*Env) string {
			return "  [[task.sender]]\n  plugin = \"builtin:jsonl\"\n  config = { path = \"out/bench.jsonl\", fsync = " + strconv.FormatBool(fsync) + " }\n"
		},
		newSender: func(cfg *config.Config) func(context.Context, engine.TaskConfig, engine.PluginConfig) (engine.Sender, error) {
			return func(_ context.Context, _ engine.TaskConfig, p engine.PluginConfig) (engine.Sender, error) {
				sc, err := jsonsink.DecodeConfig(p.Config)
				if err != nil {
					return nil, err
				}
				return jsonsink.NewJSONL(sc, cfg.Dir)
			}
		},
	}
}

// floorSyncerConfig mirrors engine's syncerConfig (unexported: engine/
// preflight.go), so the floor decodes exactly as Puma does: UseDecimal,
// timestamps as strings in UTC, checksums verified, the same event cache,
// heartbeat and read timeout as the task defaults (1 s, 3 s). Keep the two
// in step.
func floorSyncerConfig(env *Env) (replication.BinlogSyncerConfig, error) {
	host, portStr, err := net.SplitHostPort(env.Addr)
	if err != nil {
		return replication.BinlogSyncerConfig{}, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return replication.BinlogSyncerConfig{}, err
	}
	return replication.BinlogSyncerConfig{
		ServerID:                env.ServerID,
		Flavor:                  mysql.MariaDBFlavor,
		Host:                    host,
		Port:                    uint16(port),
		User:                    "root",
		Localhost:               "puma-bench",
		Charset:                 "utf8mb4",
		TimestampStringLocation: time.UTC,
		UseDecimal:              true,
		HeartbeatPeriod:         time.Second,
		ReadTimeout:             3 * time.Second,
		DisableRetrySync:        true,
		VerifyChecksum:          true,
		Logger:                  slog.New(slog.DiscardHandler),
		EventCacheCount:         engine.EventCacheCount,
		Dialer:                  (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}, nil
}

// runFloor decodes every event of the range with go-mysql and does nothing
// else: no conversion, no batching, no pipeline.
func runFloor(ctx context.Context, env *Env, p *Probe, ready func()) error {
	return runSyncer(ctx, "floor", env, p, ready, func(*replication.BinlogSyncerConfig) rowsOf {
		return func(e *replication.RowsEvent) ([][]any, error) { return e.Rows, nil }
	})
}

// runDecode is runFloor with the rows decoded by Puma's decoder
// (engine.RowsDecoder, the RowsEventDecodeFunc a task installs) instead
// of go-mysql's: the same syncer and options, no reader, no pipeline.
func runDecode(ctx context.Context, env *Env, p *Probe, ready func()) error {
	return runSyncer(ctx, "decode", env, p, ready, func(cfg *replication.BinlogSyncerConfig) rowsOf {
		dec := engine.NewRowsDecoder(cfg.Flavor)
		cfg.RowsEventDecodeFunc = dec.Decode
		return dec.Rows
	})
}

// rowsOf returns the row images of a decoded rows event.
type rowsOf func(e *replication.RowsEvent) ([][]any, error)

// runSyncer reads the range with a go-mysql syncer configured as
// floorSyncerConfig, which setup may amend (its row decoder), counting
// the rows of every rows event as rows returns them.
func runSyncer(ctx context.Context, name string, env *Env, p *Probe, ready func(), setup func(*replication.BinlogSyncerConfig) rowsOf) error {
	cfg, err := floorSyncerConfig(env)
	if err != nil {
		return err
	}
	rows := setup(&cfg)
	s := replication.NewBinlogSyncer(cfg)
	defer s.Close()
	st, err := s.StartSync(mysql.Position{Name: env.Start.File, Pos: env.Start.Pos})
	if err != nil {
		return fmt.Errorf("%s: start sync: %w", name, err)
	}
	ready()
	file := env.Start.File
	tsCol := map[uint64]int{} // table id → index of TSColumn, for lag
	for {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		switch e := ev.Event.(type) {
		case *replication.RotateEvent:
			file = string(e.NextLogName)
		case *replication.RowsEvent:
			images, err := rows(e)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			n := len(images)
			switch ev.Header.EventType {
			case replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2:
				n /= 2
			}
			p.addRows(n)
			if p.lag {
				i, ok := tsCol[e.TableID]
				if !ok {
					i = -1
					for j, name := range e.Table.ColumnNameString() {
						if name == TSColumn {
							i = j
						}
					}
					tsCol[e.TableID] = i
				}
				if i >= 0 {
					now := time.Now()
					for _, row := range images {
						if s, ok := row[i].(string); ok {
							p.addLag(s, now)
						}
					}
				}
			}
		}
		if ev.Header.LogPos > 0 && p.reached(0, Pos{File: file, Pos: ev.Header.LogPos}) {
			return nil
		}
	}
}
