package engine

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pumacdc/puma/engine/position"
)

// Values of TaskConfig.Position, TaskConfig.Schema, TaskConfig.OnError,
// TaskConfig.Snapshot and Source.TLS.
const (
	PositionGTID = "gtid" // resume and fail over by GTID set
	PositionFile = "file" // resume by file:pos, fail over by time look-back

	SchemaMetadata = "metadata" // table schemas from binlog_row_metadata=FULL
	SchemaLive     = "live"     // table schemas queried from the source

	OnErrorStop       = "stop"        // a failing plugin stops the task
	OnErrorDeadLetter = "dead_letter" // a failing batch goes to DeadLetterPath

	SnapshotNever       = "never"        // stream only, no snapshot
	SnapshotInitial     = "initial"      // snapshot the tables once, then stream
	SnapshotInitialOnly = "initial_only" // snapshot the tables once, then stop
	SnapshotWhenNeeded  = "when_needed"  // snapshot without a checkpoint, or when the source no longer has its position

	SnapshotLockingNone  = "none"  // MariaDB: no lock; the read views' binary-log position comes with them
	SnapshotLockingFlush = "flush" // FLUSH TABLES WITH READ LOCK while the read views open (needed on MySQL)

	TLSOff        = "off"
	TLSOn         = "on"
	TLSSkipVerify = "skip-verify" // encrypt without checking the certificate
)

// TaskConfig is what a Task does: a replication stream from one of its
// sources through its handlers to its senders.
//
// A zero field takes the default given in its comment; WithDefaults
// applies them all, and NewTask calls it, so a program sets only what it
// means. Name, ReplicaServerID, Sources and Senders have no default.
// The daemon fills every field from puma.toml, whose defaults are the
// same except where noted.
type TaskConfig struct {
	// Name identifies the task in logs, metrics and its checkpoint; it
	// is required, unique among tasks and matches
	// ^[a-z0-9][a-z0-9_-]{0,62}$.
	Name string
	// ReplicaServerID is the server ID the task registers with; required,
	// unique among the source's replicas.
	ReplicaServerID uint32
	// Start is where to begin (default: the checkpoint); StartIfNone is
	// where to begin when Start is the checkpoint and the task has none
	// (default: latest; never the checkpoint itself).
	Start, StartIfNone position.Start
	// StopAt, when not nil, is where the task stops: a time, GTID set or
	// file position.
	StopAt *position.Start
	// Position is PositionGTID (default) or PositionFile.
	Position string
	// Schema is SchemaMetadata (default) or SchemaLive.
	Schema string
	// OnError is OnErrorStop (default) or OnErrorDeadLetter.
	OnError string
	// Tables and Exclude are "db.table" patterns in path.Match syntax,
	// one pattern for each side of the single dot; see Match. Tables
	// defaults to every table, "*.*".
	Tables, Exclude []string
	// Snapshot is SnapshotNever (default), SnapshotInitial,
	// SnapshotInitialOnly or SnapshotWhenNeeded: whether a task without a
	// checkpoint first reads its tables' rows, and whether one whose
	// position the source no longer has reads them again.
	Snapshot string
	// SnapshotChunkRows is how many rows a snapshot reads per query and
	// delivers per transaction-like batch; default 10000.
	SnapshotChunkRows int
	// SnapshotParallel is how many connections an initial snapshot reads
	// chunks over at once, all at the same consistent point; default 2.
	SnapshotParallel int
	// SnapshotLocking is SnapshotLockingNone (default) or
	// SnapshotLockingFlush: how the snapshot's read views are opened at one
	// binary-log position.
	SnapshotLocking string
	// IncludeQuery fills each row change's Query with the SQL statement
	// that made it, from the annotate (MariaDB) or rows-query (MySQL)
	// events the server logs before a statement's rows: MariaDB with
	// binlog_annotate_row_events on (its default), MySQL with
	// binlog_rows_query_log_events on. The envelope then carries it as
	// source.query.
	IncludeQuery bool
	// KeyColumns gives the key of tables without a primary key, by exact
	// "db.table".
	KeyColumns map[string][]string
	// CheckpointInterval is how often acknowledged positions are saved;
	// default 1s.
	CheckpointInterval time.Duration
	// BatchRows is the most changes in a batch handed down the pipeline;
	// default 256.
	BatchRows int
	// QueueBatches is the depth of the bounded queue between stages;
	// default 16. Between two handlers, and in front of a sender whose
	// groups collect while its call runs (its queue is the group
	// collecting), the queue holds two batches.
	QueueBatches int
	// GroupRows and GroupBytes bound a group: the consecutive batches a
	// sender that takes groups (GroupSender) gets in one call. A batch
	// joins the group while the group's changes stay within GroupRows
	// and its row images' estimated size within GroupBytes; a lone batch
	// above them still goes alone. GroupRows 0 (the zero value; the
	// daemon's default is 4096) sends every batch on its own; GroupBytes
	// defaults to 8 MiB.
	GroupRows, GroupBytes int
	// MaxBatchDelay is how long a sender stage waits for more batches to
	// join a group once the queue is empty; 0 (default) sends what is
	// queued at once.
	MaxBatchDelay time.Duration
	// BackoffMin and BackoffMax bound the reconnect back-off; defaults
	// 100ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// FailoverAfter is how many failed connection attempts move the task
	// to the next source; default 3.
	FailoverAfter int
	// FailoverLookback is how far before the checkpoint's commit time a
	// file-position failover starts reading; default 60s.
	FailoverLookback time.Duration
	// Heartbeat is the heartbeat period asked of the source; default 1s.
	Heartbeat time.Duration
	// ReadTimeout is how long a silent connection is trusted; more than
	// Heartbeat, default three heartbeats.
	ReadTimeout time.Duration
	// MaxFailures is how many consecutive plugin failures trigger
	// OnError; default 5.
	MaxFailures int
	// DeadLetterPath is the absolute path of the dead-letter file;
	// required with OnErrorDeadLetter. The daemon's default is
	// <data_dir>/deadletter/<name>.jsonl.
	DeadLetterPath string
	// HeartbeatTable, when set ("db.table"), is a table Puma writes a row
	// to every HeartbeatInterval (default 1s) on the source it reads
	// (creating it if needed), to measure end-to-end lag from the row's
	// microsecond timestamp to its acknowledgement by every sender.
	HeartbeatTable    string
	HeartbeatInterval time.Duration
	// SignalTable, when set ("db.table"), is a table of the source the
	// user creates and lets Puma write to, with the columns id, type and
	// data (see the README): incremental snapshots are requested through
	// it and mark each chunk's read with a low and a high watermark row
	// there. Its rows are never delivered.
	SignalTable string
	// Sources are the servers to read from, in failover order; at least
	// one.
	Sources []Source
	// Handlers run in order on each batch; Senders (at least one) receive
	// what the handlers leave.
	Handlers, Senders []PluginConfig
}

// Source is a server to replicate from.
type Source struct {
	// Addr is host:port; required.
	Addr string
	// User is the replication user; required.
	User     string
	Password Secret
	// Flavor is "mariadb", "mysql", or empty to detect on connect.
	Flavor string
	// TLS is TLSOff (default, also when empty), TLSOn or TLSSkipVerify;
	// TLSCAFile (absolute, only with TLSOn) and TLSServerName refine it.
	// See TLSConfig.
	TLS           string
	TLSCAFile     string
	TLSServerName string
}

// PluginConfig is one handler or sender of a task.
type PluginConfig struct {
	// Plugin is "builtin:<name>" or the absolute path of a .wasm module;
	// what it means is up to Deps.NewHandler and Deps.NewSender.
	Plugin string
	// Name identifies the plugin within its task (in logs, metrics and
	// the admin API); unique within the task. It defaults to the
	// built-in's name or the module file's base name without .wasm.
	Name string
	// Config and Grants are the plugin's tables, raw, for its loader to
	// decode strictly; nil when absent.
	Config, Grants map[string]any
	// Timeout bounds one call into the plugin; default 5s.
	Timeout time.Duration
	// MaxMemory bounds a Wasm plugin's linear memory, in bytes; default
	// 64 MiB.
	MaxMemory uint64
}

// Defaults of the PluginConfig fields.
const (
	DefaultPluginTimeout   = 5 * time.Second
	DefaultPluginMaxMemory = 64 << 20
)

const builtinPrefix = "builtin:"

// Builtin returns the name of a built-in plugin, or false for a Wasm
// module.
func (p PluginConfig) Builtin() (name string, ok bool) {
	return strings.CutPrefix(p.Plugin, builtinPrefix)
}

// WithDefaults returns p with every zero field that has a default set to
// it.
func (p PluginConfig) WithDefaults() PluginConfig {
	if p.Name == "" {
		if name, ok := p.Builtin(); ok {
			p.Name = name
		} else {
			p.Name = strings.TrimSuffix(filepath.Base(p.Plugin), ".wasm")
		}
	}
	def(&p.Timeout, DefaultPluginTimeout)
	def(&p.MaxMemory, DefaultPluginMaxMemory)
	return p
}

// WithDefaults returns c with every zero field that has a default set to
// it, its handlers' and senders' included. It is the one place the
// engine's defaults live; c itself is not changed.
func (c TaskConfig) WithDefaults() TaskConfig {
	def(&c.Start.Mode, position.Checkpoint)
	def(&c.StartIfNone.Mode, position.Latest)
	def(&c.Position, PositionGTID)
	def(&c.Schema, SchemaMetadata)
	def(&c.OnError, OnErrorStop)
	if len(c.Tables) == 0 {
		c.Tables = []string{"*.*"}
	}
	def(&c.Snapshot, SnapshotNever)
	def(&c.SnapshotChunkRows, 10000)
	def(&c.SnapshotParallel, 2)
	def(&c.SnapshotLocking, SnapshotLockingNone)
	def(&c.CheckpointInterval, time.Second)
	def(&c.BatchRows, 256)
	def(&c.QueueBatches, 16)
	def(&c.GroupBytes, 8<<20)
	def(&c.BackoffMin, 100*time.Millisecond)
	def(&c.BackoffMax, 30*time.Second)
	def(&c.FailoverAfter, 3)
	def(&c.FailoverLookback, 60*time.Second)
	def(&c.Heartbeat, time.Second)
	def(&c.ReadTimeout, 3*c.Heartbeat)
	def(&c.MaxFailures, 5)
	def(&c.HeartbeatInterval, time.Second)
	c.Handlers = pluginDefaults(c.Handlers)
	c.Senders = pluginDefaults(c.Senders)
	return c
}

func pluginDefaults(ps []PluginConfig) []PluginConfig {
	if ps == nil {
		return nil
	}
	out := make([]PluginConfig, len(ps))
	for i, p := range ps {
		out[i] = p.WithDefaults()
	}
	return out
}

func def[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports every problem of c at once, joined, each naming the
// offending field and value. It checks c as given: call it on
// c.WithDefaults() to check what NewTask runs.
func (c TaskConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("engine: task %q: "+format, append([]any{c.Name}, args...)...))
	}
	if c.Name == "" {
		bad("Name is empty: give the task a name, used by its checkpoint")
	}
	if c.ReplicaServerID == 0 {
		bad("ReplicaServerID is 0: set a server ID no other replica of the source uses")
	}
	if c.StartIfNone.Mode == position.Checkpoint {
		bad("StartIfNone is the checkpoint: it applies when there is none")
	}
	oneOf := func(field, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad("%s %q: want one of %q", field, v, allowed)
	}
	oneOf("Position", c.Position, PositionGTID, PositionFile)
	oneOf("Schema", c.Schema, SchemaMetadata, SchemaLive)
	oneOf("OnError", c.OnError, OnErrorStop, OnErrorDeadLetter)
	oneOf("Snapshot", c.Snapshot, SnapshotNever, SnapshotInitial, SnapshotInitialOnly, SnapshotWhenNeeded)
	oneOf("SnapshotLocking", c.SnapshotLocking, SnapshotLockingNone, SnapshotLockingFlush)
	for field, v := range map[string]string{"HeartbeatTable": c.HeartbeatTable, "SignalTable": c.SignalTable} {
		if db, table, ok := strings.Cut(v, "."); v != "" && (!ok || db == "" || table == "" || strings.Contains(table, ".")) {
			bad("%s %q: want db.table", field, v)
		}
	}
	if c.SignalTable != "" && c.SignalTable == c.HeartbeatTable {
		bad("SignalTable %q is also the HeartbeatTable: give each its own table", c.SignalTable)
	}
	if c.OnError == OnErrorDeadLetter && c.DeadLetterPath == "" {
		bad("OnError %q needs a DeadLetterPath", c.OnError)
	}
	if len(c.Tables) == 0 {
		bad("Tables is empty: list at least one db.table pattern")
	}
	for _, pats := range [][]string{c.Tables, c.Exclude} {
		for _, p := range pats {
			db, table, _ := strings.Cut(p, ".")
			_, errDB := path.Match(db, "")
			_, errTable := path.Match(table, "")
			if db == "" || table == "" || strings.Contains(table, ".") || errDB != nil || errTable != nil {
				bad("table pattern %q: want db.table, each side in path.Match syntax", p)
			}
		}
	}
	positive := func(field string, v int) {
		if v <= 0 {
			bad("%s %d: want a positive number", field, v)
		}
	}
	positive("SnapshotChunkRows", c.SnapshotChunkRows)
	positive("SnapshotParallel", c.SnapshotParallel)
	positive("BatchRows", c.BatchRows)
	positive("QueueBatches", c.QueueBatches)
	positive("GroupBytes", c.GroupBytes)
	positive("FailoverAfter", c.FailoverAfter)
	positive("MaxFailures", c.MaxFailures)
	if c.GroupRows < 0 {
		bad("GroupRows %d: want 0 or more", c.GroupRows)
	}
	if c.MaxBatchDelay < 0 {
		bad("MaxBatchDelay %s: want 0 or more", c.MaxBatchDelay)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"CheckpointInterval", c.CheckpointInterval},
		{"BackoffMin", c.BackoffMin},
		{"BackoffMax", c.BackoffMax},
		{"FailoverLookback", c.FailoverLookback},
		{"Heartbeat", c.Heartbeat},
		{"ReadTimeout", c.ReadTimeout},
		{"HeartbeatInterval", c.HeartbeatInterval},
	} {
		if d.v <= 0 {
			bad("%s %s: want a positive duration", d.field, d.v)
		}
	}
	if c.BackoffMax < c.BackoffMin {
		bad("BackoffMax %s is less than BackoffMin %s", c.BackoffMax, c.BackoffMin)
	}
	if c.ReadTimeout <= c.Heartbeat {
		bad("ReadTimeout %s must be longer than Heartbeat %s", c.ReadTimeout, c.Heartbeat)
	}
	if len(c.Sources) == 0 {
		bad("no Sources: give at least one server to read from")
	}
	for i, s := range c.Sources {
		if _, _, err := net.SplitHostPort(s.Addr); err != nil {
			bad("Sources[%d].Addr %q: want host:port", i, s.Addr)
		}
		if s.User == "" {
			bad("Sources[%d].User is empty: set the replication user", i)
		}
		oneOf(fmt.Sprintf("Sources[%d].TLS", i), s.TLS, "", TLSOff, TLSOn, TLSSkipVerify)
	}
	if len(c.Senders) == 0 {
		bad("no Senders: give at least one")
	}
	names := make(map[string]bool)
	for _, ps := range []struct {
		field string
		list  []PluginConfig
	}{{"Handlers", c.Handlers}, {"Senders", c.Senders}} {
		for i, p := range ps.list {
			if p.Plugin == "" {
				bad("%s[%d].Plugin is empty: want \"builtin:<name>\" or the path of a .wasm module", ps.field, i)
			}
			if p.Name == "" {
				bad("%s[%d].Name is empty", ps.field, i)
			} else if names[p.Name] {
				bad("%s[%d].Name %q is used twice in the task: give each plugin its own", ps.field, i, p.Name)
			}
			names[p.Name] = true
			if p.Timeout <= 0 {
				bad("%s[%d].Timeout %s: want a positive duration", ps.field, i, p.Timeout)
			}
		}
	}
	return errors.Join(errs...)
}

// Match reports whether c captures changes to db.table: some pattern in
// Tables matches and none in Exclude does. A pattern's part before its dot
// matches db and the part after it matches table, so "shop*.*" does not
// match the table "shop.x" of database "other".
func (c TaskConfig) Match(db, table string) bool {
	return matchAny(c.Tables, db, table) && !matchAny(c.Exclude, db, table)
}

func matchAny(patterns []string, db, table string) bool {
	for _, p := range patterns {
		pdb, ptable, _ := strings.Cut(p, ".")
		if ok, _ := path.Match(pdb, db); !ok {
			continue
		}
		if ok, _ := path.Match(ptable, table); ok {
			return true
		}
	}
	return false
}

// TLSConfig returns the TLS configuration for connecting to s, or nil when
// TLS is off. It reads TLSCAFile on each call, so a rotated CA is picked
// up on the next connection. The server name defaults to Addr's host.
func (s Source) TLSConfig() (*tls.Config, error) {
	name := s.TLSServerName
	if name == "" {
		name, _, _ = net.SplitHostPort(s.Addr)
	}
	switch s.TLS {
	case TLSOff, "":
		return nil, nil
	case TLSSkipVerify:
		// The user asked for encryption without authentication.
		return &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, nil //nolint:gosec
	case TLSOn:
		c := &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12}
		if s.TLSCAFile != "" {
			pool, err := readCA(s.TLSCAFile)
			if err != nil {
				return nil, err
			}
			c.RootCAs = pool
		}
		return c, nil
	}
	return nil, fmt.Errorf("config: tls %q: want %s, %s or %s", s.TLS, TLSOff, TLSOn, TLSSkipVerify)
}

// maxCAFile bounds a CA file, so a mistaken path such as a log file cannot
// exhaust memory.
const maxCAFile = 1 << 20

func readCA(name string) (*x509.CertPool, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCAFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxCAFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxCAFile)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("no PEM certificate in %s", name)
	}
	return pool, nil
}
