package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
)

// parser turns the generic TOML tree into a Config, collecting problems
// instead of stopping at the first.
type parser struct {
	dir   string
	env   func(string) (string, bool)
	probs []Problem
	// bad holds the paths of values of the wrong type; they are left unset
	// so that no second problem (such as "required") is reported for them.
	bad map[string]bool
}

func (p *parser) addf(path, format string, args ...any) {
	p.probs = append(p.probs, Problem{Path: path, Msg: oneLine(fmt.Sprintf(format, args...))})
}

// oneLine escapes control characters, such as a newline in a file name
// quoted by an os error, so that each problem stays on one line.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// The raw* types hold puma.toml as written: a nil pointer or slice is a key
// left out. applyDefaults fills them, build checks and converts them.
type (
	rawConfig struct {
		server  rawServer
		secrets map[string]any
		targets map[string]any
		tasks   []rawTask
	}
	rawServer struct {
		admin, adminTokenEnv, adminTokenFile *string
		dataDir, logFormat, logLevel         *string
		unhealthyAfter                       *string
	}
	rawTask struct {
		path                                       string // task[i] or task[i] (name)
		name, start, startIfNone, stopAt           *string
		position, schema, onError                  *string
		replicaServerID                            *int64
		tables, exclude                            []string
		keyColumns                                 map[string][]string
		checkpointInterval, backoffMin, backoffMax *string
		failoverLookback, heartbeat, readTimeout   *string
		batchRows, queueBatches, failoverAfter     *int64
		maxFailures                                *int64
		groupRows, groupBytes                      *int64
		maxBatchDelay                              *string
		deadLetterPath                             *string
		snapshot                                   *string
		snapshotChunkRows, snapshotParallel        *int64
		snapshotLocking                            *string
		includeQuery                               *bool
		heartbeatTable, heartbeatInterval          *string
		signalTable                                *string
		sources                                    []rawSource
		handlers, senders                          []rawPlugin
	}
	rawSource struct {
		path                                  string
		addr, user, passwordEnv, passwordFile *string
		flavor, tls, tlsCAFile, tlsServerName *string
	}
	rawPlugin struct {
		path               string
		plugin, name       *string
		config, grants     map[string]any
		timeout, maxMemory *string
	}
)

// field binds a key of a table to where its value goes. dst is one of
// **string, **int64, *[]string, *map[string]any (a table),
// *[]map[string]any (an array of tables) or *map[string][]string.
type field struct {
	key string
	dst any
}

// join appends key to path, quoting it the way TOML would if needed.
func join(path, key string) string {
	k := toml.Key{key}.String()
	if path == "" {
		return k
	}
	return path + "." + k
}

// table stores m's values in fields and reports every key of m no field
// names. A nil m (a table left out) stores nothing.
func (p *parser) table(path string, m map[string]any, fields ...field) {
	known := make(map[string]bool, len(fields))
	names := make([]string, len(fields))
	for i, f := range fields {
		known[f.key] = true
		names[i] = f.key
		if v, ok := m[f.key]; ok {
			p.value(join(path, f.key), v, f.dst)
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !known[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if near, ok := Suggest(k, names); ok {
			p.addf(join(path, k), "unknown key: did you mean %s?", near)
			continue
		}
		p.addf(join(path, k), "unknown key")
	}
}

func (p *parser) value(path string, v any, dst any) {
	switch dst := dst.(type) {
	case **string:
		if s, ok := v.(string); ok {
			*dst = &s
			return
		}
		p.typeProblem(path, "a string", v)
	case **bool:
		if b, ok := v.(bool); ok {
			*dst = &b
			return
		}
		p.typeProblem(path, "true or false", v)
	case **int64:
		if n, ok := v.(int64); ok {
			*dst = &n
			return
		}
		p.typeProblem(path, "an integer", v)
	case *[]string:
		if s, ok := p.strings(path, v); ok {
			*dst = s
		}
	case *map[string]any:
		if m, ok := v.(map[string]any); ok {
			*dst = m
			return
		}
		p.typeProblem(path, "a table", v)
	case *[]map[string]any:
		if ts, ok := tables(v); ok {
			*dst = ts
			return
		}
		p.typeProblem(path, "an array of tables", v)
	case *map[string][]string:
		m, ok := v.(map[string]any)
		if !ok {
			p.typeProblem(path, "a table", v)
			return
		}
		out := make(map[string][]string, len(m))
		for k, v := range m {
			if s, ok := p.strings(join(path, k), v); ok {
				out[k] = s
			}
		}
		*dst = out
	default:
		panic(fmt.Sprintf("config: field %s has unsupported destination %T", path, dst))
	}
}

// strings converts an array of strings; an empty array gives a non-nil
// empty slice, telling it apart from a key left out.
func (p *parser) strings(path string, v any) ([]string, bool) {
	a, ok := v.([]any)
	if !ok {
		p.typeProblem(path, "an array of strings", v)
		return nil, false
	}
	out := make([]string, 0, len(a))
	good := true
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			p.typeProblem(fmt.Sprintf("%s[%d]", path, i), "a string", e)
			good = false
			continue
		}
		out = append(out, s)
	}
	if !good {
		p.bad[path] = true
	}
	return out, good
}

// tables accepts both [[x]] arrays of tables and inline x = [{...}] ones.
func tables(v any) ([]map[string]any, bool) {
	switch v := v.(type) {
	case []map[string]any:
		return v, true
	case []any:
		out := make([]map[string]any, len(v))
		for i, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

func (p *parser) typeProblem(path, want string, got any) {
	p.bad[path] = true
	p.addf(path, "want %s, got %s", want, tomlType(got))
}

// tomlType names the TOML type of a decoded value.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// decode walks the tree, filling a rawConfig and reporting unknown keys and
// wrong types.
func (p *parser) decode(tree map[string]any) *rawConfig {
	rc := &rawConfig{}
	var server map[string]any
	var tasks []map[string]any
	p.table("", tree,
		field{"server", &server},
		field{"secrets", &rc.secrets},
		field{"targets", &rc.targets},
		field{"task", &tasks},
	)
	p.decodeServer(server, &rc.server)
	for i, m := range tasks {
		rc.tasks = append(rc.tasks, p.decodeTask(i, m))
	}
	return rc
}

// decodeServer decodes the [server] table (nil when left out).
func (p *parser) decodeServer(server map[string]any, s *rawServer) {
	p.table("server", server,
		field{"admin", &s.admin},
		field{"admin_token_env", &s.adminTokenEnv},
		field{"admin_token_file", &s.adminTokenFile},
		field{"data_dir", &s.dataDir},
		field{"log_format", &s.logFormat},
		field{"log_level", &s.logLevel},
		field{"unhealthy_after", &s.unhealthyAfter},
	)
}

func (p *parser) decodeTask(i int, m map[string]any) rawTask {
	t := rawTask{path: fmt.Sprintf("task[%d]", i)}
	// Every path below names the task, so look at its name first.
	if name, ok := m["name"].(string); ok && nameRE.MatchString(name) {
		t.path = fmt.Sprintf("task[%d] (%s)", i, name)
	}
	var sources, handlers, senders []map[string]any
	p.table(t.path, m,
		field{"name", &t.name},
		field{"replica_server_id", &t.replicaServerID},
		field{"start", &t.start},
		field{"start_if_none", &t.startIfNone},
		field{"stop_at", &t.stopAt},
		field{"position", &t.position},
		field{"schema", &t.schema},
		field{"on_error", &t.onError},
		field{"tables", &t.tables},
		field{"exclude", &t.exclude},
		field{"key_columns", &t.keyColumns},
		field{"snapshot", &t.snapshot},
		field{"snapshot_chunk_rows", &t.snapshotChunkRows},
		field{"snapshot_parallel", &t.snapshotParallel},
		field{"snapshot_locking", &t.snapshotLocking},
		field{"include_query", &t.includeQuery},
		field{"checkpoint_interval", &t.checkpointInterval},
		field{"batch_rows", &t.batchRows},
		field{"queue_batches", &t.queueBatches},
		field{"group_rows", &t.groupRows},
		field{"group_bytes", &t.groupBytes},
		field{"max_batch_delay", &t.maxBatchDelay},
		field{"backoff_min", &t.backoffMin},
		field{"backoff_max", &t.backoffMax},
		field{"failover_after", &t.failoverAfter},
		field{"failover_lookback", &t.failoverLookback},
		field{"heartbeat", &t.heartbeat},
		field{"read_timeout", &t.readTimeout},
		field{"max_failures", &t.maxFailures},
		field{"dead_letter_path", &t.deadLetterPath},
		field{"heartbeat_table", &t.heartbeatTable},
		field{"heartbeat_interval", &t.heartbeatInterval},
		field{"signal_table", &t.signalTable},
		field{"source", &sources},
		field{"handler", &handlers},
		field{"sender", &senders},
	)
	for j, m := range sources {
		s := rawSource{path: fmt.Sprintf("%s.source[%d]", t.path, j)}
		p.table(s.path, m,
			field{"addr", &s.addr},
			field{"user", &s.user},
			field{"password_env", &s.passwordEnv},
			field{"password_file", &s.passwordFile},
			field{"flavor", &s.flavor},
			field{"tls", &s.tls},
			field{"tls_ca_file", &s.tlsCAFile},
			field{"tls_server_name", &s.tlsServerName},
		)
		t.sources = append(t.sources, s)
	}
	t.handlers = p.decodePlugins(t.path+".handler", handlers)
	t.senders = p.decodePlugins(t.path+".sender", senders)
	return t
}

func (p *parser) decodePlugins(path string, ms []map[string]any) []rawPlugin {
	var out []rawPlugin
	for i, m := range ms {
		pl := rawPlugin{path: fmt.Sprintf("%s[%d]", path, i)}
		p.table(pl.path, m,
			field{"plugin", &pl.plugin},
			field{"name", &pl.name},
			field{"config", &pl.config},
			field{"grants", &pl.grants},
			field{"timeout", &pl.timeout},
			field{"max_memory", &pl.maxMemory},
		)
		out = append(out, pl)
	}
	return out
}
