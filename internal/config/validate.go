package config

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
)

// nameRE is what task, plugin, secret and built-in names look like: they
// end up in file names, metric labels and URLs.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// nameRule says nameRE in words, for problems.
const nameRule = `use 1 to 63 lowercase letters, digits, "_" and "-", starting with a letter or digit`

// applyDefaults fills in every key puma.toml left out. It is the one place
// defaults live. Defaults are written as they would be in the file, so a
// default goes through the same checks as a value the user wrote.
func applyDefaults(rc *rawConfig) {
	s := &rc.server
	def(&s.admin, "127.0.0.1:7878")
	def(&s.dataDir, "var")
	def(&s.logFormat, "text")
	def(&s.logLevel, "info")
	def(&s.unhealthyAfter, "60s")
	for i := range rc.tasks {
		t := &rc.tasks[i]
		def(&t.start, "checkpoint")
		def(&t.startIfNone, "latest")
		def(&t.position, PositionGTID)
		def(&t.schema, SchemaMetadata)
		def(&t.onError, OnErrorStop)
		def(&t.snapshot, SnapshotNever)
		def(&t.snapshotChunkRows, 10000)
		def(&t.snapshotParallel, 2)
		def(&t.snapshotLocking, SnapshotLockingNone)
		def(&t.includeQuery, false)
		if t.tables == nil {
			t.tables = []string{"*.*"}
		}
		def(&t.checkpointInterval, "1s")
		def(&t.batchRows, 256)
		def(&t.queueBatches, 16)
		def(&t.groupRows, 4096)
		def(&t.groupBytes, 8<<20)
		def(&t.maxBatchDelay, "0s")
		def(&t.backoffMin, "100ms")
		def(&t.backoffMax, "30s")
		def(&t.failoverAfter, 3)
		def(&t.failoverLookback, "60s")
		def(&t.heartbeat, "1s")
		if hb, err := time.ParseDuration(*t.heartbeat); err == nil && hb > 0 {
			def(&t.readTimeout, (3 * hb).String())
		} // else the heartbeat's problem is reported and read_timeout left out
		def(&t.maxFailures, 5)
		def(&t.heartbeatInterval, "1s")
		if t.name != nil {
			def(&t.deadLetterPath, filepath.Join(*s.dataDir, "deadletter", *t.name+".jsonl"))
		}
		for _, pls := range [][]rawPlugin{t.handlers, t.senders} {
			for j := range pls {
				pl := &pls[j]
				if pl.plugin != nil && pluginName(*pl.plugin) != "" {
					def(&pl.name, pluginName(*pl.plugin))
				}
				def(&pl.timeout, "5s")
				def(&pl.maxMemory, "64MiB")
			}
		}
	}
}

func def[T any](p **T, v T) {
	if *p == nil {
		*p = &v
	}
}

// pluginName is a plugin's default name: the built-in's name, or the
// module's file name without .wasm.
func pluginName(plugin string) string {
	if name, ok := strings.CutPrefix(plugin, builtinPrefix); ok {
		return name
	}
	return strings.TrimSuffix(filepath.Base(plugin), ".wasm")
}

// build checks the defaulted raw configuration and converts it, reading
// secrets as it goes.
func (p *parser) build(rc *rawConfig) *Config {
	cfg := &Config{Dir: p.dir, Secrets: make(map[string]Secret)}
	p.buildServer(&cfg.Server, &rc.server)
	p.buildSecrets(cfg.Secrets, rc.secrets)
	cfg.Targets = p.buildTargets(rc.targets, cfg.Secrets)
	if len(rc.tasks) == 0 && !p.bad["task"] {
		p.addf("task", "at least one [[task]] is required")
	}
	names := make(map[string]string) // task name → path
	ids := make(map[uint32]string)   // replica server id → path
	for i := range rc.tasks {
		t := p.buildTask(&rc.tasks[i])
		if t.Name != "" {
			if other, dup := names[t.Name]; dup {
				p.addf(rc.tasks[i].path+".name", "duplicate task name %q, also used by %s", t.Name, other)
			}
			names[t.Name] = rc.tasks[i].path
		}
		if t.ReplicaServerID != 0 {
			if other, dup := ids[t.ReplicaServerID]; dup {
				p.addf(rc.tasks[i].path+".replica_server_id", "%d is also used by %s: each task needs its own", t.ReplicaServerID, other)
			}
			ids[t.ReplicaServerID] = rc.tasks[i].path
		}
		cfg.Tasks = append(cfg.Tasks, t)
	}
	return cfg
}

func (p *parser) buildServer(s *Server, r *rawServer) {
	s.Admin = *r.admin
	s.AdminToken = p.secret("server.admin_token", r.adminTokenEnv, r.adminTokenFile)
	if s.Admin != "" {
		host, err := splitAddr(s.Admin, true)
		switch {
		case err != nil:
			p.addf("server.admin", "%v", err)
		case r.adminTokenEnv == nil && r.adminTokenFile == nil && !isLoopback(host) &&
			!p.bad["server.admin_token_env"] && !p.bad["server.admin_token_file"]:
			p.addf("server.admin", "%q is not a loopback address: set admin_token_env or admin_token_file, or listen on 127.0.0.1", s.Admin)
		}
	}
	s.DataDir = p.path("server.data_dir", r.dataDir)
	s.UnhealthyAfter = p.duration("server.unhealthy_after", r.unhealthyAfter)
	s.LogFormat = p.oneOf("server.log_format", *r.logFormat, "text", "json")
	switch lvl := p.oneOf("server.log_level", *r.logLevel, "debug", "info", "warn", "error"); lvl {
	case "debug":
		s.LogLevel = slog.LevelDebug
	case "warn":
		s.LogLevel = slog.LevelWarn
	case "error":
		s.LogLevel = slog.LevelError
	}
}

// buildTargets checks the [targets] table: each entry a table with a kind
// the host has a capability for, whose settings that capability decodes
// (hostabi.CheckTarget).
func (p *parser) buildTargets(m map[string]any, secrets map[string]Secret) map[string]Target {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]Target, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		path := join("targets", name)
		tbl, ok := m[name].(map[string]any)
		if !ok {
			p.typeProblem(path, "a table", m[name])
			continue
		}
		if !nameRE.MatchString(name) {
			p.addf(path, "bad target name %q: %s", name, nameRule)
			continue
		}
		kind, ok := tbl["kind"].(string)
		if !ok {
			p.addf(join(path, "kind"), "want the target's kind: one of %s", strings.Join(hostabi.TargetKinds(), ", "))
			continue
		}
		settings := maps.Clone(tbl)
		delete(settings, "kind")
		t := Target{Kind: kind, Settings: settings}
		if err := hostabi.CheckTarget(t, secrets); err != nil {
			for _, e := range hostabi.TargetProblems(err) {
				p.addf(join(path, e.Key), "%s", e.Msg)
			}
			continue
		}
		out[name] = t
	}
	return out
}

// buildSecrets resolves the [secrets] table: NAME_env and NAME_file keys.
func (p *parser) buildSecrets(out map[string]Secret, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		path := join("secrets", k)
		v, ok := m[k].(string)
		if !ok {
			p.typeProblem(path, "a string", m[k])
			continue
		}
		name, isEnv := strings.CutSuffix(k, "_env")
		isFile := false
		if !isEnv {
			name, isFile = strings.CutSuffix(k, "_file")
		}
		switch {
		case !isEnv && !isFile:
			p.addf(path, "want NAME_env = \"VARIABLE\" or NAME_file = \"/path\"")
			continue
		case !nameRE.MatchString(name):
			p.addf(path, "bad secret name %q: %s", name, nameRule)
			continue
		}
		if _, dup := out[name]; dup {
			p.addf(path, "secret %q is already set by %s_env: set one of %s_env and %s_file", name, name, name, name)
			continue
		}
		if isEnv {
			out[name] = p.secret(join("secrets", name), &v, nil)
		} else {
			out[name] = p.secret(join("secrets", name), nil, &v)
		}
	}
}

// secret resolves a value given as prefix_env (an environment variable)
// or prefix_file (a file): at most one may be set; neither gives "".
// Problems name the variable or file, never the value.
func (p *parser) secret(prefix string, envName, file *string) Secret {
	envPath, filePath := prefix+"_env", prefix+"_file"
	switch {
	case envName != nil && file != nil:
		p.addf(filePath, "set at most one of %s and %s", lastKey(envPath), lastKey(filePath))
	case envName != nil:
		if *envName == "" {
			p.addf(envPath, "want the name of an environment variable")
			return ""
		}
		v, ok := p.env(*envName)
		switch {
		case !ok:
			p.addf(envPath, "environment variable %q is not set", *envName)
		case v == "":
			p.addf(envPath, "environment variable %q is empty", *envName)
		}
		return Secret(v)
	case file != nil:
		if *file == "" {
			p.addf(filePath, "want a file name")
			return ""
		}
		s, err := readSecretFile(p.abs(*file))
		if err != nil {
			p.addf(filePath, "%v", err)
		}
		return s
	}
	return ""
}

func lastKey(path string) string { return path[strings.LastIndexByte(path, '.')+1:] }

func (p *parser) buildTask(r *rawTask) Task {
	at := func(key string) string { return r.path + "." + key }
	var t Task
	switch {
	case r.name != nil && nameRE.MatchString(*r.name):
		t.Name = *r.name
	case r.name != nil:
		p.addf(at("name"), "bad task name %q: %s", *r.name, nameRule)
	case !p.bad[at("name")]:
		p.addf(at("name"), "required")
	}
	switch {
	case r.replicaServerID != nil && *r.replicaServerID >= 1 && *r.replicaServerID <= 1<<32-1:
		t.ReplicaServerID = uint32(*r.replicaServerID)
	case r.replicaServerID != nil:
		p.addf(at("replica_server_id"), "%d is out of range 1..4294967295", *r.replicaServerID)
	case !p.bad[at("replica_server_id")]:
		p.addf(at("replica_server_id"), "required: a server ID no other replica of the source uses")
	}

	var err error
	if t.Start, err = position.ParseStart(*r.start); err != nil {
		p.addf(at("start"), "%v", err)
	}
	t.StartIfNone, err = position.ParseStart(*r.startIfNone)
	switch {
	case err != nil:
		p.addf(at("start_if_none"), "%v", err)
	case t.StartIfNone.Mode == position.Checkpoint:
		p.addf(at("start_if_none"), "cannot be checkpoint: it applies when there is none")
	}
	if r.stopAt != nil && *r.stopAt != "" {
		stop, err := position.ParseStart(*r.stopAt)
		switch {
		case err != nil:
			p.addf(at("stop_at"), "%v", err)
		case stop.Mode == position.Checkpoint || stop.Mode == position.Earliest || stop.Mode == position.Latest:
			p.addf(at("stop_at"), "%q is not a place to stop: want an RFC 3339 time, gtid:<set> or file:<name>:<pos>", *r.stopAt)
		default:
			t.StopAt = &stop
		}
	}
	t.Position = p.oneOf(at("position"), *r.position, PositionGTID, PositionFile)
	t.Schema = p.oneOf(at("schema"), *r.schema, SchemaMetadata, SchemaLive)
	t.OnError = p.oneOf(at("on_error"), *r.onError, OnErrorStop, OnErrorDeadLetter)

	t.Tables = p.patterns(at("tables"), r.tables)
	if len(r.tables) == 0 && !p.bad[at("tables")] {
		p.addf(at("tables"), "list at least one db.table pattern")
	}
	t.Exclude = p.patterns(at("exclude"), r.exclude)
	t.KeyColumns = p.keyColumns(at("key_columns"), r.keyColumns)
	t.Snapshot = p.oneOf(at("snapshot"), *r.snapshot, SnapshotNever, SnapshotInitial, SnapshotInitialOnly, SnapshotWhenNeeded)
	t.SnapshotChunkRows = p.intIn(at("snapshot_chunk_rows"), *r.snapshotChunkRows, 1, 1000000)
	t.SnapshotParallel = p.intIn(at("snapshot_parallel"), *r.snapshotParallel, 1, 64)
	t.SnapshotLocking = p.oneOf(at("snapshot_locking"), *r.snapshotLocking, SnapshotLockingNone, SnapshotLockingFlush)
	t.IncludeQuery = *r.includeQuery

	t.CheckpointInterval = p.duration(at("checkpoint_interval"), r.checkpointInterval)
	t.BatchRows = p.intIn(at("batch_rows"), *r.batchRows, 1, 65536)
	t.QueueBatches = p.intIn(at("queue_batches"), *r.queueBatches, 1, 1024)
	t.GroupRows = p.intIn(at("group_rows"), *r.groupRows, 0, 1<<20)
	t.GroupBytes = p.intIn(at("group_bytes"), *r.groupBytes, 1, 1<<30)
	t.MaxBatchDelay = p.delay(at("max_batch_delay"), *r.maxBatchDelay, time.Second)
	t.BackoffMin = p.duration(at("backoff_min"), r.backoffMin)
	t.BackoffMax = p.duration(at("backoff_max"), r.backoffMax)
	if t.BackoffMin > 0 && t.BackoffMax > 0 && t.BackoffMax < t.BackoffMin {
		p.addf(at("backoff_max"), "%s is less than backoff_min %s", t.BackoffMax, t.BackoffMin)
	}
	t.FailoverAfter = p.intIn(at("failover_after"), *r.failoverAfter, 1, 1<<31-1)
	t.FailoverLookback = p.duration(at("failover_lookback"), r.failoverLookback)
	t.Heartbeat = p.duration(at("heartbeat"), r.heartbeat)
	t.ReadTimeout = p.duration(at("read_timeout"), r.readTimeout)
	if t.Heartbeat > 0 && t.ReadTimeout > 0 && t.ReadTimeout <= t.Heartbeat {
		p.addf(at("read_timeout"), "%s must be longer than heartbeat %s", t.ReadTimeout, t.Heartbeat)
	}
	t.MaxFailures = p.intIn(at("max_failures"), *r.maxFailures, 1, 1<<31-1)
	t.DeadLetterPath = p.path(at("dead_letter_path"), r.deadLetterPath)
	t.HeartbeatInterval = p.duration(at("heartbeat_interval"), r.heartbeatInterval)
	t.HeartbeatTable = p.plainTable(at("heartbeat_table"), r.heartbeatTable)
	t.SignalTable = p.plainTable(at("signal_table"), r.signalTable)
	if t.SignalTable != "" && t.SignalTable == t.HeartbeatTable {
		p.addf(at("signal_table"), "%q is also the heartbeat_table: give each its own table", t.SignalTable)
	}

	for i := range r.sources {
		t.Sources = append(t.Sources, p.buildSource(&r.sources[i]))
	}
	if len(r.sources) == 0 && !p.bad[at("source")] {
		p.addf(at("source"), "at least one [[task.source]] is required")
	}
	plugins := make(map[string]string) // name → path
	t.Handlers = p.buildPlugins(r.handlers, plugins)
	t.Senders = p.buildPlugins(r.senders, plugins)
	if len(r.senders) == 0 && !p.bad[at("sender")] {
		p.addf(at("sender"), "at least one [[task.sender]] is required")
	}
	return t
}

func (p *parser) buildSource(r *rawSource) Source {
	at := func(key string) string { return r.path + "." + key }
	var s Source
	switch {
	case r.addr != nil:
		if host, err := splitAddr(*r.addr, false); err != nil {
			p.addf(at("addr"), "%v", err)
		} else if host == "" {
			p.addf(at("addr"), "missing host in %q", *r.addr)
		} else {
			s.Addr = *r.addr
		}
	case !p.bad[at("addr")]:
		p.addf(at("addr"), "required: the source's host:port")
	}
	switch {
	case r.user != nil && *r.user != "":
		s.User = *r.user
	case r.user != nil || !p.bad[at("user")]:
		p.addf(at("user"), "required: the replication user")
	}
	s.Password = p.secret(r.path+".password", r.passwordEnv, r.passwordFile)
	if r.flavor != nil {
		s.Flavor = p.oneOf(at("flavor"), *r.flavor, "", "mariadb", "mysql")
	}
	s.TLS = TLSOff
	if r.tls != nil {
		s.TLS = p.oneOf(at("tls"), *r.tls, TLSOff, TLSOn, TLSSkipVerify)
	}
	if r.tlsCAFile != nil && *r.tlsCAFile != "" {
		if s.TLS != TLSOn {
			p.addf(at("tls_ca_file"), "needs tls = %q", TLSOn)
		}
		s.TLSCAFile = p.abs(*r.tlsCAFile)
	}
	if r.tlsServerName != nil && *r.tlsServerName != "" {
		if s.TLS == TLSOff {
			p.addf(at("tls_server_name"), "needs tls = %q or %q", TLSOn, TLSSkipVerify)
		}
		s.TLSServerName = *r.tlsServerName
	}
	if s.TLS == TLSOn && s.TLSCAFile != "" {
		if _, err := s.TLSConfig(); err != nil {
			p.addf(at("tls_ca_file"), "%v", err)
		}
	}
	return s
}

// buildPlugins checks handlers or senders; names maps the plugin names
// already used in the task to their paths.
func (p *parser) buildPlugins(rs []rawPlugin, names map[string]string) []Plugin {
	var out []Plugin
	for i := range rs {
		r := &rs[i]
		at := func(key string) string { return r.path + "." + key }
		var pl Plugin
		switch {
		case r.plugin == nil:
			if !p.bad[at("plugin")] {
				p.addf(at("plugin"), `required: "builtin:<name>" or the path of a .wasm module`)
			}
		case strings.HasPrefix(*r.plugin, builtinPrefix):
			if name := strings.TrimPrefix(*r.plugin, builtinPrefix); !nameRE.MatchString(name) {
				p.addf(at("plugin"), "bad built-in name %q: %s", name, nameRule)
			} else {
				pl.Plugin = *r.plugin
			}
		case strings.HasSuffix(*r.plugin, ".wasm") && len(*r.plugin) > len(".wasm"):
			pl.Plugin = p.abs(*r.plugin)
		default:
			p.addf(at("plugin"), `%q: want "builtin:<name>" or the path of a .wasm module`, *r.plugin)
		}
		if r.name != nil {
			switch other, dup := names[*r.name]; {
			case !nameRE.MatchString(*r.name):
				p.addf(at("name"), "bad plugin name %q: %s (set name when the file name does not fit)", *r.name, nameRule)
			case dup:
				p.addf(at("name"), "duplicate plugin name %q, also used by %s; set name to tell them apart", *r.name, other)
			default:
				pl.Name = *r.name
				names[*r.name] = r.path
			}
		}
		pl.Config, pl.Grants = r.config, r.grants
		pl.Timeout = p.duration(at("timeout"), r.timeout)
		if n, err := parseSize(*r.maxMemory); err != nil {
			p.addf(at("max_memory"), "%v", err)
		} else if n < 1<<20 || n > 4<<30 {
			p.addf(at("max_memory"), "%q is out of range 1MiB..4GiB", *r.maxMemory)
		} else {
			pl.MaxMemory = n
		}
		out = append(out, pl)
	}
	return out
}

// oneOf returns v if it is one of allowed, else reports a problem and
// returns "".
func (p *parser) oneOf(path, v string, allowed ...string) string {
	if slices.Contains(allowed, v) {
		return v
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	p.addf(path, "%q: want one of %s", v, strings.Join(quoted, ", "))
	return ""
}

func (p *parser) intIn(path string, v, lo, hi int64) int {
	if v < lo || v > hi {
		p.addf(path, "%d is out of range %d..%d", v, lo, hi)
		return 0
	}
	return int(v)
}

// duration parses a positive duration; nil (a default that could not be
// computed) gives 0 without a problem.
func (p *parser) duration(path string, s *string) time.Duration {
	if s == nil {
		return 0
	}
	d, err := time.ParseDuration(*s)
	switch {
	case err != nil:
		p.addf(path, "%q is not a duration: want a number and a unit, such as \"500ms\", \"1s\" or \"2m\"", *s)
	case d <= 0:
		p.addf(path, "%q: want a positive duration", *s)
	default:
		return d
	}
	return 0
}

// delay parses a duration from 0 to hi.
func (p *parser) delay(path, s string, hi time.Duration) time.Duration {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.addf(path, "%q is not a duration: want a number and a unit, such as \"0s\", \"2ms\" or \"50ms\"", s)
	case d < 0 || d > hi:
		p.addf(path, "%q is out of range 0s..%s", s, hi)
	default:
		return d
	}
	return 0
}

// plainTable checks a table a task writes to (heartbeat_table,
// signal_table): db.table, plain names, no patterns.
func (p *parser) plainTable(at string, s *string) string {
	if s == nil {
		return ""
	}
	db, table, ok := strings.Cut(*s, ".")
	if !ok || db == "" || table == "" || strings.ContainsAny(*s, "*?[]`") || strings.Contains(table, ".") {
		p.addf(at, "%q: want db.table, plain names", *s)
		return ""
	}
	return *s
}

// path resolves a non-empty path against the configuration's directory.
func (p *parser) path(at string, s *string) string {
	if s == nil {
		return ""
	}
	if *s == "" {
		p.addf(at, "want a path, got an empty string")
		return ""
	}
	return p.abs(*s)
}

func (p *parser) abs(name string) string {
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	return filepath.Join(p.dir, name)
}

// patterns checks db.table patterns: exactly one dot, a valid path.Match
// pattern on each side.
func (p *parser) patterns(at string, pats []string) []string {
	for i, pat := range pats {
		if err := checkPattern(pat); err != nil {
			p.addf(fmt.Sprintf("%s[%d]", at, i), "%v", err)
		}
	}
	return pats
}

func checkPattern(pat string) error {
	db, table, ok := strings.Cut(pat, ".")
	if !ok || db == "" || table == "" || strings.Contains(table, ".") {
		return fmt.Errorf("%q: want db.table, each side a pattern such as shop.* or *.audit_?", pat)
	}
	for _, side := range []string{db, table} {
		if _, err := path.Match(side, ""); err != nil {
			return fmt.Errorf("%q: bad pattern %q", pat, side)
		}
	}
	return nil
}

func (p *parser) keyColumns(at string, m map[string][]string) map[string][]string {
	if m == nil {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		path := join(at, k)
		db, table, ok := strings.Cut(k, ".")
		if !ok || db == "" || table == "" || strings.Contains(table, ".") || strings.ContainsAny(k, `*?[]\`) {
			p.addf(path, "want an exact db.table, not a pattern")
		}
		cols := m[k]
		if len(cols) == 0 {
			p.addf(path, "list at least one column")
		}
		for i, c := range cols {
			switch {
			case c == "":
				p.addf(fmt.Sprintf("%s[%d]", path, i), "empty column name")
			case slices.Index(cols, c) < i:
				p.addf(fmt.Sprintf("%s[%d]", path, i), "column %q is listed twice", c)
			}
		}
	}
	return m
}

// splitAddr checks a host:port address and returns the host. Port 0 is
// allowed only when zeroPort is set.
func splitAddr(addr string, zeroPort bool) (host string, err error) {
	if !strings.Contains(addr, ":") {
		return "", fmt.Errorf("missing port in %q", addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port (write an IPv6 host as [::1]:3306)", addr)
	}
	lo := uint64(1)
	if zeroPort {
		lo = 0
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n < lo {
		return "", fmt.Errorf("bad port in %q: want %d..65535", addr, lo)
	}
	return host, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseSize parses a size such as "64MiB": a whole number and one of the
// units B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
func parseSize(s string) (uint64, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i <= 0 {
		return 0, fmt.Errorf("%q is not a size: want a whole number and a unit, such as \"64MiB\"", s)
	}
	var mult uint64
	switch s[i:] {
	case "B":
		mult = 1
	case "KB":
		mult = 1e3
	case "MB":
		mult = 1e6
	case "GB":
		mult = 1e9
	case "KiB":
		mult = 1 << 10
	case "MiB":
		mult = 1 << 20
	case "GiB":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("%q: unknown unit %q: want B, KB, MB, GB, KiB, MiB or GiB", s, s[i:])
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil || n > (1<<64-1)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}
