// Package config loads and validates puma.toml: the daemon's front end
// to the engine. A task decodes into an engine.TaskConfig, its sources
// and plugins into engine.Source and engine.PluginConfig, with every
// problem named by its TOML path.
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
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/pumacdc/puma/engine"
)

// Config is a loaded puma.toml. It is a plain value: nothing in it is
// shared with the loader, and it is safe to read from any goroutine.
type Config struct {
	Server Server
	// Secrets are the [secrets] table resolved: NAME_env = "VAR" and
	// NAME_file = "/path" both become Secrets["NAME"].
	Secrets map[string]Secret
	// Targets are the [targets] tables by name: the brokers and databases
	// plugins reach through their grants.
	Targets map[string]Target
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

// Task, Source, Plugin and Secret are the engine's own types: the file
// decodes straight into what engine.NewTask runs, with every default the
// file documents applied and every value checked against its TOML path.
type (
	Task   = engine.TaskConfig
	Source = engine.Source
	Plugin = engine.PluginConfig
	Secret = engine.Secret
	Target = engine.Target
)

// Values of Task.Position, Task.Schema, Task.OnError, Task.Snapshot and
// Source.TLS, as the engine defines them.
const (
	PositionGTID = engine.PositionGTID
	PositionFile = engine.PositionFile

	SchemaMetadata = engine.SchemaMetadata
	SchemaLive     = engine.SchemaLive

	OnErrorStop       = engine.OnErrorStop
	OnErrorDeadLetter = engine.OnErrorDeadLetter

	SnapshotNever       = engine.SnapshotNever
	SnapshotInitial     = engine.SnapshotInitial
	SnapshotInitialOnly = engine.SnapshotInitialOnly
	SnapshotWhenNeeded  = engine.SnapshotWhenNeeded

	SnapshotLockingNone  = engine.SnapshotLockingNone
	SnapshotLockingFlush = engine.SnapshotLockingFlush

	TLSOff        = engine.TLSOff
	TLSOn         = engine.TLSOn
	TLSSkipVerify = engine.TLSSkipVerify
)

const builtinPrefix = "builtin:"

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

// maxSecretFile bounds what is read from a file named in the
// configuration, so a mistaken path such as a log file cannot exhaust
// memory.
const maxSecretFile = 64 << 10

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
