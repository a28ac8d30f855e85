// Package config loads and validates puma.toml.
//
// Load reads the file, Parse takes its bytes. Either returns a *Config with
// every default applied, every relative path resolved against the file's
// directory and every secret read from its environment variable or file,
// or an *Error listing every problem at once, each with its TOML path.
//
// Decoding works on the generic tree BurntSushi/toml produces rather than
// on tagged structs: the struct decoder stops at the first wrong type and
// its undecoded keys carry no array index, while walking the tree with the
// schema in hand finds every unknown key and every wrong type with an exact
// path such as task[1] (shop).source[0].adr. The tables under a plugin's
// config and grants keys are left raw for the plugin's loader to decode.
package config

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/pumacdc/puma/engine/position"
)

// Config is a loaded puma.toml. It is a plain value: nothing in it is
// shared with the loader, and it is safe to read from any goroutine.
type Config struct {
	Server Server
	// Secrets are the [secrets] table resolved: NAME_env = "VAR" and
	// NAME_file = "/path" both become Secrets["NAME"].
	Secrets map[string]Secret
	Tasks   []Task
	// Dir is the absolute directory of the configuration file, against
	// which every relative path in it was resolved.
	Dir string
}

// Server is the [server] table.
type Server struct {
	// Admin is the admin listener's host:port; empty disables it. Port 0
	// picks a free port.
	Admin string
	// AdminToken is the bearer token the admin listener requires, from
	// admin_token_env or admin_token_file; empty when neither is set,
	// which is allowed only on a loopback address.
	AdminToken Secret
	// DataDir holds checkpoints, dead letters and the module cache. It is
	// absolute.
	DataDir string
	// LogFormat is "text" or "json".
	LogFormat string
	// LogLevel is the minimum level logged.
	LogLevel slog.Level
	// UnhealthyAfter is how long a task may go without streaming
	// (connecting, locating, reconnecting) before /healthz reports it.
	UnhealthyAfter time.Duration
}

// Values of Task.Position, Task.Schema, Task.OnError, Task.Snapshot and
// Source.TLS.
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

	TLSOff        = "off"
	TLSOn         = "on"
	TLSSkipVerify = "skip-verify" // encrypt without checking the certificate
)

// Task is one [[task]]: a replication stream from one of its sources
// through its handlers to its senders.
type Task struct {
	// Name is unique among tasks and matches ^[a-z0-9][a-z0-9_-]{0,62}$.
	Name string
	// ReplicaServerID is the server ID the task registers with; unique
	// among tasks.
	ReplicaServerID uint32
	// Start is where to begin; StartIfNone is where to begin when Start
	// is checkpoint and the task has none (never checkpoint itself).
	Start, StartIfNone position.Start
	// StopAt, when not nil, is where the task stops: a time, GTID set or
	// file position.
	StopAt *position.Start
	// Position is PositionGTID or PositionFile.
	Position string
	// Schema is SchemaMetadata or SchemaLive.
	Schema string
	// OnError is OnErrorStop or OnErrorDeadLetter.
	OnError string
	// Tables and Exclude are "db.table" patterns in path.Match syntax,
	// one pattern for each side of the single dot; see Match.
	Tables, Exclude []string
	// Snapshot is SnapshotNever, SnapshotInitial, SnapshotInitialOnly or
	// SnapshotWhenNeeded: whether a task without a checkpoint first reads
	// its tables' rows.
	Snapshot string
	// SnapshotChunkRows is how many rows a snapshot reads per query and
	// delivers per transaction-like batch.
	SnapshotChunkRows int
	// KeyColumns gives the key of tables without a primary key, by exact
	// "db.table".
	KeyColumns map[string][]string
	// CheckpointInterval is how often acknowledged positions are saved.
	CheckpointInterval time.Duration
	// BatchRows is the most changes in a batch handed down the pipeline.
	BatchRows int
	// QueueBatches is the depth of the bounded queue between stages.
	QueueBatches int
	// GroupRows and GroupBytes bound a group: the consecutive batches a
	// sender that takes groups (engine.GroupSender) gets in one call. A
	// batch joins the group while the group's changes stay within
	// GroupRows and its row images' estimated size within GroupBytes; a
	// lone batch above them still goes alone. GroupRows 0 sends every
	// batch on its own.
	GroupRows, GroupBytes int
	// MaxBatchDelay is how long a sender stage waits for more batches to
	// join a group once the queue is empty; 0 sends what is queued at
	// once.
	MaxBatchDelay time.Duration
	// BackoffMin and BackoffMax bound the reconnect back-off.
	BackoffMin, BackoffMax time.Duration
	// FailoverAfter is how many failed connection attempts move the task
	// to the next source.
	FailoverAfter int
	// FailoverLookback is how far before the checkpoint's commit time a
	// file-position failover starts reading.
	FailoverLookback time.Duration
	// Heartbeat is the heartbeat period asked of the source.
	Heartbeat time.Duration
	// ReadTimeout is how long a silent connection is trusted; more than
	// Heartbeat.
	ReadTimeout time.Duration
	// MaxFailures is how many consecutive plugin failures trigger OnError.
	MaxFailures int
	// DeadLetterPath is the absolute path of the dead-letter file.
	DeadLetterPath string
	// HeartbeatTable, when set ("db.table"), is a table Puma writes a row
	// to every HeartbeatInterval on the source it reads (creating it if
	// needed), to measure end-to-end lag from the row's microsecond
	// timestamp to its acknowledgement by every sender.
	HeartbeatTable    string
	HeartbeatInterval time.Duration
	// Sources are the servers to read from, in failover order; at least
	// one.
	Sources []Source
	// Handlers run in order on each batch; Senders (at least one) receive
	// what the handlers leave.
	Handlers, Senders []Plugin
}

// Source is one [[task.source]]: a server to replicate from.
type Source struct {
	// Addr is host:port.
	Addr string
	User string
	// Password comes from password_env or password_file; empty when
	// neither is set.
	Password Secret
	// Flavor is "mariadb", "mysql", or empty to detect on connect.
	Flavor string
	// TLS is TLSOff, TLSOn or TLSSkipVerify; TLSCAFile (absolute, only
	// with TLSOn) and TLSServerName refine it. See TLSConfig.
	TLS           string
	TLSCAFile     string
	TLSServerName string
}

// Plugin is one [[task.handler]] or [[task.sender]].
type Plugin struct {
	// Plugin is "builtin:<name>" or the absolute path of a .wasm module.
	Plugin string
	// Name identifies the plugin within its task (in logs, metrics and
	// the admin API); unique within the task.
	Name string
	// Config and Grants are the plugin's tables, raw, for its loader to
	// decode strictly; nil when absent.
	Config, Grants map[string]any
	// Timeout bounds one call into the plugin.
	Timeout time.Duration
	// MaxMemory bounds a Wasm plugin's linear memory, in bytes.
	MaxMemory uint64
}

// Builtin returns the name of a built-in plugin, or false for a Wasm
// module.
func (p Plugin) Builtin() (name string, ok bool) {
	return strings.CutPrefix(p.Plugin, builtinPrefix)
}

const builtinPrefix = "builtin:"

// Match reports whether t captures changes to db.table: some pattern in
// Tables matches and none in Exclude does. A pattern's part before its dot
// matches db and the part after it matches table, so "shop*.*" does not
// match the table "shop.x" of database "other".
func (t Task) Match(db, table string) bool {
	return matchAny(t.Tables, db, table) && !matchAny(t.Exclude, db, table)
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

// Load reads and parses the configuration file at path, looking secrets up
// in the process environment.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already the Error's prefix
		}
		return nil, &Error{File: path, Problems: []Problem{{Msg: "read: " + err.Error()}}}
	}
	return Parse(data, path)
}

// Parse parses the contents of a configuration file; filename labels
// problems and anchors relative paths. Secrets are looked up in the
// process environment.
func Parse(data []byte, filename string) (*Config, error) {
	return ParseWith(data, filename, os.LookupEnv)
}

// ParseWith is Parse with env in place of os.LookupEnv, for tests.
// Secret files are read from disk.
func ParseWith(data []byte, filename string, env func(string) (string, bool)) (*Config, error) {
	label := filename
	if label == "" {
		label = "puma.toml"
	}
	dir, err := filepath.Abs(filepath.Dir(filename))
	if err != nil {
		return nil, &Error{File: label, Problems: []Problem{{Msg: "resolve directory: " + err.Error()}}}
	}
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		return nil, &Error{File: label, Problems: []Problem{syntaxProblem(err)}}
	}
	p := &parser{dir: dir, env: env, bad: make(map[string]bool)}
	raw := p.decode(tree)
	applyDefaults(raw)
	cfg := p.build(raw)
	if len(p.probs) > 0 {
		// Group problems by task, keeping their order within a task.
		slices.SortStableFunc(p.probs, func(a, b Problem) int {
			return cmp.Compare(taskIndex(a.Path), taskIndex(b.Path))
		})
		return nil, &Error{File: label, Problems: p.probs}
	}
	return cfg, nil
}

// LoadServer reads only the [server] table of the configuration file at
// path, for commands that talk to a running daemon: they need its admin
// address and token, not the tasks' sources, whose password variables
// need not be set where they run. Problems in [server] are reported as
// Load reports them; the rest of the file is checked for TOML syntax only.
func LoadServer(path string) (*Server, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{File: path, Problems: []Problem{{Msg: "read: " + err.Error()}}}
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, &Error{File: path, Problems: []Problem{{Msg: "resolve directory: " + err.Error()}}}
	}
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		return nil, &Error{File: path, Problems: []Problem{syntaxProblem(err)}}
	}
	p := &parser{dir: dir, env: os.LookupEnv, bad: make(map[string]bool)}
	rc := &rawConfig{}
	var server map[string]any
	if v, ok := tree["server"]; ok {
		p.value("server", v, &server)
	}
	p.decodeServer(server, &rc.server)
	applyDefaults(rc)
	var s Server
	p.buildServer(&s, &rc.server)
	if len(p.probs) > 0 {
		return nil, &Error{File: path, Problems: p.probs}
	}
	return &s, nil
}

// taskIndex returns i for a path in task[i], and -1 for any other path.
func taskIndex(path string) int {
	rest, ok := strings.CutPrefix(path, "task[")
	if !ok {
		return -1
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return -1
	}
	i, err := strconv.Atoi(rest[:end])
	if err != nil {
		return -1
	}
	return i
}

// syntaxProblem turns a TOML parse error into a Problem with its line and
// column. ErrorWithPosition's multi-line excerpt would break the one
// problem per line rule.
func syntaxProblem(err error) Problem {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return Problem{Msg: oneLine(fmt.Sprintf("line %d, column %d: syntax error: %s", pe.Position.Line, pe.Position.Col, pe.Message))}
	}
	return Problem{Msg: oneLine("syntax error: " + strings.TrimPrefix(err.Error(), "toml: "))}
}

// maxSecretFile and maxCAFile bound what is read from a file named in the
// configuration, so a mistaken path such as a log file cannot exhaust
// memory.
const (
	maxSecretFile = 64 << 10
	maxCAFile     = 1 << 20
)

// readSecretFile reads a secret: a regular file that neither group nor
// others can write (a writable file lets anyone swap the secret; readable
// is allowed because container runtimes mount secrets 0644 or 0444), at
// most 64 KiB, not empty once one trailing newline is trimmed. Its errors
// name the file, never its contents.
func readSecretFile(name string) (Secret, error) {
	b, mode, err := readRegular(name, maxSecretFile)
	if err != nil {
		return "", err
	}
	if mode.Perm()&0o022 != 0 {
		return "", fmt.Errorf("%s is writable by group or others (mode %#o): run chmod go-w on it", name, mode.Perm())
	}
	s := strings.TrimSuffix(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	if s == "" {
		return "", fmt.Errorf("%s is empty", name)
	}
	return Secret(s), nil
}

func readCA(name string) (*x509.CertPool, error) {
	b, _, err := readRegular(name, maxCAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("no PEM certificate in %s", name)
	}
	return pool, nil
}

// readRegular reads a regular file of at most limit bytes, refusing
// devices and pipes before opening them, and returns its mode.
func readRegular(name string, limit int64) ([]byte, fs.FileMode, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, 0, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return b, fi.Mode(), nil
}
