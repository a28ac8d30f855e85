package hostabi

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pumacdc/puma/engine"
)

// Targets are the brokers and databases of puma.toml's [targets]: each
// has a kind, which is also the name of the capability reaching it and of
// the grant naming it (grants = { kafka = ["events"] }). A capability's
// file registers its kind from init with registerTargetKind: how to decode
// a [targets.NAME] table of that kind. The host owns the connections: one
// client per plugin and target, made on first use and closed with the
// plugin.

// targetKind decodes the settings of a target of its kind.
type targetKind struct {
	// parse decodes s strictly, reporting problems through s; it returns
	// the kind's own settings value, which the capability is given.
	parse func(s *Settings) any
}

var targetKinds = map[string]targetKind{}

// registerTargetKind adds a kind of target; call it from init only.
func registerTargetKind(kind string, parse func(s *Settings) any) {
	targetKinds[kind] = targetKind{parse: parse}
}

// TargetKinds lists the kinds of target this host can reach, sorted.
func TargetKinds() []string { return slices.Sorted(maps.Keys(targetKinds)) }

// isTargetKind reports whether c names a kind of target (and so a
// capability whose grant lists target names).
func isTargetKind(c string) bool {
	_, ok := targetKinds[c]
	return ok
}

// TargetProblem is one problem with a target's settings: the key (""
// for the table itself) and what is wrong.
type TargetProblem struct{ Key, Msg string }

// TargetError lists every problem of a target's table.
type TargetError struct{ Problems []TargetProblem }

func (e *TargetError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		if p.Key != "" {
			b.WriteString(p.Key + ": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

// TargetProblems returns the problems err (from CheckTarget) lists, or
// err itself as one problem.
func TargetProblems(err error) []TargetProblem {
	var te *TargetError
	if errors.As(err, &te) {
		return te.Problems
	}
	return []TargetProblem{{Msg: err.Error()}}
}

// CheckTarget decodes t strictly, as the host will when a plugin reaches
// it: its kind must be one of TargetKinds, its settings known keys of the
// right types, and the secrets it names defined in secrets.
func CheckTarget(t engine.Target, secrets map[string]engine.Secret) error {
	_, err := parseTarget(t, secrets)
	return err
}

func parseTarget(t engine.Target, secrets map[string]engine.Secret) (any, error) {
	k, ok := targetKinds[t.Kind]
	if !ok {
		return nil, &TargetError{Problems: []TargetProblem{{Key: "kind", Msg: fmt.Sprintf("unknown kind %q (have: %s)", t.Kind, strings.Join(TargetKinds(), ", "))}}}
	}
	s := &Settings{m: t.Settings, secrets: secrets, used: map[string]bool{}}
	v := k.parse(s)
	s.finish()
	if len(s.probs) > 0 {
		return nil, &TargetError{Problems: s.probs}
	}
	return v, nil
}

// Settings decodes a target's table for its kind, collecting every
// problem with its key.
type Settings struct {
	m       map[string]any
	secrets map[string]engine.Secret
	used    map[string]bool
	probs   []TargetProblem
}

// Fail records a problem with key.
func (s *Settings) Fail(key, format string, args ...any) {
	s.probs = append(s.probs, TargetProblem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (s *Settings) get(key string) (any, bool) {
	s.used[key] = true
	v, ok := s.m[key]
	return v, ok
}

// Has reports whether key is set.
func (s *Settings) Has(key string) bool {
	_, ok := s.m[key]
	return ok
}

// String returns key's string value, def when it is not set.
func (s *Settings) String(key, def string) string {
	v, ok := s.get(key)
	if !ok {
		return def
	}
	str, ok := v.(string)
	if !ok {
		s.Fail(key, "want a string, got %s", typeName(v))
		return def
	}
	return str
}

// Required returns key's string value and records a problem when it is
// not set or empty.
func (s *Settings) Required(key, what string) string {
	v := s.String(key, "")
	if v == "" && !s.failed(key) {
		s.Fail(key, "required: %s", what)
	}
	return v
}

func (s *Settings) failed(key string) bool {
	for _, p := range s.probs {
		if p.Key == key {
			return true
		}
	}
	return false
}

// OneOf returns key's value, which must be one of options (def when not
// set).
func (s *Settings) OneOf(key, def string, options ...string) string {
	v := s.String(key, def)
	if !slices.Contains(options, v) {
		s.Fail(key, "%q is not one of %s", v, strings.Join(options, ", "))
		return def
	}
	return v
}

// Strings returns key's list of strings (nil when not set).
func (s *Settings) Strings(key string) []string {
	v, ok := s.get(key)
	if !ok {
		return nil
	}
	var out []string
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		for i, x := range v {
			str, ok := x.(string)
			if !ok {
				s.Fail(fmt.Sprintf("%s[%d]", key, i), "want a string, got %s", typeName(x))
				continue
			}
			out = append(out, str)
		}
		return out
	}
	s.Fail(key, "want a list of strings, got %s", typeName(v))
	return nil
}

// Int returns key's integer, within [lo, hi] (def when not set).
func (s *Settings) Int(key string, def, lo, hi int64) int64 {
	v, ok := s.get(key)
	if !ok {
		return def
	}
	n, ok := toInt(v)
	if !ok || n < lo || n > hi {
		s.Fail(key, "want an integer from %d to %d, got %v", lo, hi, v)
		return def
	}
	return n
}

// Bool returns key's boolean (def when not set).
func (s *Settings) Bool(key string, def bool) bool {
	v, ok := s.get(key)
	if !ok {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		s.Fail(key, "want true or false, got %s", typeName(v))
		return def
	}
	return b
}

// Duration returns key's duration ("5s", "250ms"), positive (def when not
// set).
func (s *Settings) Duration(key string, def time.Duration) time.Duration {
	str := s.String(key, "")
	if str == "" {
		return def
	}
	d, err := time.ParseDuration(str)
	if err != nil || d <= 0 {
		s.Fail(key, "want a positive duration such as \"5s\", got %q", str)
		return def
	}
	return d
}

// Secret returns the secret key names in [secrets] ("" when key is not
// set); a name not defined there is a problem. The plugin never sees it.
func (s *Settings) Secret(key string) engine.Secret {
	name := s.String(key, "")
	if name == "" {
		return ""
	}
	v, ok := s.secrets[name]
	if !ok {
		s.Fail(key, "no secret %q in [secrets] (define %s_env or %s_file there)", name, name, name)
		return ""
	}
	return v
}

// finish reports keys no decoder asked for.
func (s *Settings) finish() {
	var unknown []string
	for k := range s.m {
		if !s.used[k] {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	have := slices.Sorted(maps.Keys(s.used))
	for _, k := range unknown {
		s.Fail(k, "unknown key (have: kind, %s)", strings.Join(have, ", "))
	}
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64, int:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// SetTargets replaces the targets plugins started from now on may reach
// (after a configuration reload); running plugins keep their clients.
func (h *Host) SetTargets(targets map[string]engine.Target) {
	h.secretsMu.Lock()
	h.targets = targets
	h.secretsMu.Unlock()
}

func (h *Host) targetsNow() map[string]engine.Target {
	h.secretsMu.RLock()
	defer h.secretsMu.RUnlock()
	return h.targets
}

// checkTargetGrants finds what cannot work in g's target grants: each
// name must be a target of the grant's kind.
func checkTargetGrants(g *Grants, targets map[string]engine.Target) error {
	var errs []error
	for _, kind := range slices.Sorted(maps.Keys(g.Targets)) {
		for i, name := range g.Targets[kind] {
			t, ok := targets[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("grants.%s[%d]: no target %q in [targets] (define [targets.%s] with kind = %q)", kind, i, name, name, kind))
			case t.Kind != kind:
				errs = append(errs, fmt.Errorf("grants.%s[%d]: target %q is of kind %q, not %q", kind, i, name, t.Kind, kind))
			}
		}
	}
	return errors.Join(errs...)
}

// targetConns are one plugin's clients, by kind and target name, shared
// by its instances and closed with it.
type targetConns struct {
	targets map[string]engine.Target // the host's when the plugin started
	secrets map[string]engine.Secret
	grants  map[string][]string

	mu    sync.Mutex
	conns map[string]io.Closer
}

// conn returns the plugin's client for the target name of kind, making it
// with dial from the target's decoded settings on first use. The target
// must be granted.
func (tc *targetConns) conn(kind, name string, dial func(settings any) (io.Closer, error)) (io.Closer, error) {
	if !slices.Contains(tc.grants[kind], name) {
		return nil, fmt.Errorf("target %q is not in the plugin's %s grant", name, kind)
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	key := kind + "\x00" + name
	if c, ok := tc.conns[key]; ok {
		return c, nil
	}
	t, ok := tc.targets[name]
	if !ok || t.Kind != kind {
		return nil, fmt.Errorf("no %s target %q", kind, name)
	}
	settings, err := parseTarget(t, tc.secrets)
	if err != nil {
		return nil, fmt.Errorf("targets.%s: %w", name, err)
	}
	c, err := dial(settings)
	if err != nil {
		return nil, err
	}
	if tc.conns == nil {
		tc.conns = map[string]io.Closer{}
	}
	tc.conns[key] = c
	return c, nil
}

// drop closes and forgets the client of kind and name, after an error
// that leaves it unusable; the next call makes a new one.
func (tc *targetConns) drop(kind, name string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	key := kind + "\x00" + name
	if c, ok := tc.conns[key]; ok {
		c.Close()
		delete(tc.conns, key)
	}
}

func (tc *targetConns) close() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for k, c := range tc.conns {
		c.Close()
		delete(tc.conns, k)
	}
}
