package hostabi

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Grants are the capabilities a plugin may use, from its `grants` table.
type Grants struct {
	// Files are the directories the files capability may write in, as
	// absolute paths; nil denies it.
	Files []string
	// Stdout allows writing the process's standard output.
	Stdout bool
	// HTTP lists what the http capability may reach; nil denies it.
	HTTP []HTTPAllow
	// AllowPrivate lets http connect to loopback and private addresses
	// (see ipClass); without it they are refused whatever the name.
	AllowPrivate bool
	// Secrets names the secrets the plugin may have the host use on its
	// behalf (HTTP headers, HMAC keys); it never sees their values.
	Secrets []string
	// KV allows the kv capability, with at most KVMaxBytes of keys and
	// values (0: DefaultKVMaxBytes).
	KV         bool
	KVMaxBytes int
	// Targets lists, by kind (kafka, nats, redis, amqp, postgres, mysql),
	// the [targets] the capability of that kind may reach.
	Targets map[string][]string
}

// Has reports whether capability c is granted.
func (g *Grants) Has(c string) bool {
	switch c {
	case "":
		return true
	case wire.CapFiles:
		return len(g.Files) > 0
	case wire.CapStdout:
		return g.Stdout
	case wire.CapHTTP:
		return len(g.HTTP) > 0
	case wire.CapSecrets:
		// An empty list passes the load-time check and grants no secret:
		// a built-in importing secret_hmac for an option not configured.
		return g.Secrets != nil
	case wire.CapKV:
		return g.KV
	case wire.CapSQL:
		return len(g.Targets[wire.CapPostgres]) > 0 || len(g.Targets[wire.CapMySQL]) > 0
	}
	return len(g.Targets[c]) > 0
}

// Add adds o's grants to g's (a built-in's own grants to its table's).
func (g *Grants) Add(o Grants) {
	g.Files = append(g.Files, o.Files...)
	g.Stdout = g.Stdout || o.Stdout
	g.HTTP = append(g.HTTP, o.HTTP...)
	g.AllowPrivate = g.AllowPrivate || o.AllowPrivate
	if g.Secrets == nil && o.Secrets != nil {
		g.Secrets = []string{}
	}
	for _, s := range o.Secrets {
		if !slices.Contains(g.Secrets, s) {
			g.Secrets = append(g.Secrets, s)
		}
	}
	g.KV = g.KV || o.KV
	g.KVMaxBytes = max(g.KVMaxBytes, o.KVMaxBytes)
	for kind, names := range o.Targets {
		if g.Targets == nil {
			g.Targets = map[string][]string{}
		}
		for _, n := range names {
			if !slices.Contains(g.Targets[kind], n) {
				g.Targets[kind] = append(g.Targets[kind], n)
			}
		}
	}
}

// hint is the grants table entry that grants capability c, for messages.
func grantHint(c string) string {
	switch c {
	case wire.CapFiles:
		return `grants = { files = ["<dir>"] }`
	case wire.CapStdout:
		return "grants = { stdout = true }"
	case wire.CapHTTP:
		return `grants = { http = ["https://<host>"] }`
	case wire.CapSecrets:
		return `grants = { secrets = ["<name in [secrets]>"] }`
	case wire.CapKV:
		return "grants = { kv = true }"
	case wire.CapSQL:
		return `grants = { postgres = ["<name of a [targets] table of kind postgres>"] } (or mysql = [...])`
	}
	if isTargetKind(c) {
		return "grants = { " + c + ` = ["<name of a [targets] table of kind ` + c + `>"] }`
	}
	return "grants = { " + c + " = ... }"
}

// DefaultKVMaxBytes bounds a plugin's kv state (keys and values) unless
// its grant says otherwise: the state is written with every checkpoint.
const DefaultKVMaxBytes = 1 << 20

// MaxKVMaxBytes is the most a kv grant may allow.
const MaxKVMaxBytes = 64 << 20

var grantKeys = []string{wire.CapFiles, wire.CapStdout, wire.CapHTTP, "allow_private", wire.CapSecrets, wire.CapKV}

// ParseGrants decodes a plugin's raw grants table strictly. Directories
// are absolute, or relative to dir (puma.toml's directory), and may not
// contain "..": a grant names the directory it grants, so that a reader
// of the configuration sees what a plugin may write (the file system's
// root is refused).
//
//	grants = { files = ["out", "archive/2026", "/var/lib/puma/out"], stdout = true }
//	grants = { http = ["https://hooks.example.com/puma/", "https://*.example.org"],
//	           secrets = ["webhook_hmac"] }
//	grants = { http = ["http://127.0.0.1:8080"], allow_private = true }
//	grants = { kv = true }                      # or kv = { max_bytes = 4194304 }
//
// http entries are scheme://host[:port][/path-prefix]: the scheme is http
// or https, the host a name, "*." and a domain (any name below it, not the
// domain itself) or an IP address; the port defaults to the scheme's; a
// path prefix limits the paths requested. Names are checked again when
// they resolve: see HTTPAllow and the http capability in ABI.md.
// Whether a secret exists is checked when the plugin starts, against the
// [secrets] the host was given.
func ParseGrants(raw map[string]any, dir string) (Grants, error) {
	var g Grants
	var errs []error
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := raw[k]
		switch k {
		case wire.CapFiles:
			list, err := stringList(k, v, "directories")
			if err != nil {
				errs = append(errs, err)
			}
			for i, s := range list {
				d, err := grantDir(s, dir)
				if err != nil {
					errs = append(errs, fmt.Errorf("grants.files[%d]: %w", i, err))
					continue
				}
				g.Files = append(g.Files, d)
			}
		case wire.CapStdout:
			b, ok := v.(bool)
			if !ok {
				errs = append(errs, fmt.Errorf("grants.stdout: want true or false, got %T", v))
				continue
			}
			g.Stdout = b
		case wire.CapHTTP:
			list, err := stringList(k, v, "URLs")
			if err != nil {
				errs = append(errs, err)
			}
			for i, s := range list {
				a, err := ParseHTTPAllow(s)
				if err != nil {
					errs = append(errs, fmt.Errorf("grants.http[%d]: %w", i, err))
					continue
				}
				g.HTTP = append(g.HTTP, a)
			}
		case "allow_private":
			b, ok := v.(bool)
			if !ok {
				errs = append(errs, fmt.Errorf("grants.allow_private: want true or false, got %T", v))
				continue
			}
			g.AllowPrivate = b
		case wire.CapSecrets:
			list, err := stringList(k, v, "secret names")
			if err != nil {
				errs = append(errs, err)
			}
			if g.Secrets == nil {
				g.Secrets = []string{}
			}
			for i, s := range list {
				if s == "" {
					errs = append(errs, fmt.Errorf("grants.secrets[%d]: empty name", i))
					continue
				}
				if !slices.Contains(g.Secrets, s) {
					g.Secrets = append(g.Secrets, s)
				}
			}
		case wire.CapKV:
			switch v := v.(type) {
			case bool:
				g.KV = v
			case map[string]any:
				g.KV = true
				for mk, mv := range v {
					if mk != "max_bytes" {
						errs = append(errs, fmt.Errorf("grants.kv: unknown key %q (have: max_bytes)", mk))
						continue
					}
					n, ok := toInt(mv)
					if !ok || n <= 0 || n > MaxKVMaxBytes {
						errs = append(errs, fmt.Errorf("grants.kv.max_bytes: want a number of bytes from 1 to %d, got %v", MaxKVMaxBytes, mv))
						continue
					}
					g.KVMaxBytes = int(n)
				}
			default:
				errs = append(errs, fmt.Errorf("grants.kv: want true, false or { max_bytes = N }, got %T", v))
			}
		default:
			if isTargetKind(k) {
				list, err := stringList(k, v, "target names")
				if err != nil {
					errs = append(errs, err)
				}
				if g.Targets == nil {
					g.Targets = map[string][]string{}
				}
				for i, name := range list {
					if name == "" {
						errs = append(errs, fmt.Errorf("grants.%s[%d]: empty target name", k, i))
						continue
					}
					if !slices.Contains(g.Targets[k], name) {
						g.Targets[k] = append(g.Targets[k], name)
					}
				}
				continue
			}
			errs = append(errs, fmt.Errorf("grants: unknown capability %q (have: %s)", k, strings.Join(append(slices.Clone(grantKeys), TargetKinds()...), ", ")))
		}
	}
	return g, errors.Join(errs...)
}

// check finds what cannot work in g, a plugin's complete grants (its
// table's and, for a built-in, its own).
func (g *Grants) check() error {
	var errs []error
	if g.AllowPrivate && len(g.HTTP) == 0 {
		errs = append(errs, errors.New("grants.allow_private: it applies to http, which is not granted"))
	}
	if !g.AllowPrivate {
		for _, a := range g.HTTP {
			if ip, err := netip.ParseAddr(a.Host); err == nil {
				if c := ipClass(ip); c != "public" {
					errs = append(errs, fmt.Errorf("grants.http: %s is a %s address: add allow_private = true to reach it", a, c))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// stringList reads a TOML array of strings.
func stringList(key string, v any, what string) ([]string, error) {
	switch v := v.(type) {
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		var errs []error
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				errs = append(errs, fmt.Errorf("grants.%s[%d]: want a string, got %T", key, i, x))
				continue
			}
			out = append(out, s)
		}
		return out, errors.Join(errs...)
	}
	return nil, fmt.Errorf("grants.%s: want a list of %s, got %T", key, what, v)
}

func toInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case float64:
		if v == float64(int64(v)) {
			return int64(v), true
		}
	}
	return 0, false
}

// grantDir resolves a granted directory against dir: an absolute one
// stays as it is, a relative one is taken from dir.
func grantDir(s, dir string) (string, error) {
	if err := checkPath(s); err != nil {
		return "", err
	}
	d := filepath.Clean(filepath.FromSlash(s))
	if !filepath.IsAbs(d) {
		return filepath.Join(dir, d), nil
	}
	if d == filepath.VolumeName(d)+string(filepath.Separator) {
		return "", fmt.Errorf("%q is the root of the file system: grant the directory the plugin writes in", s)
	}
	return d, nil
}

// checkPath accepts a slash- or OS-separated path, relative or absolute,
// without ".." elements: a path names what it names, never a way around.
func checkPath(s string) error {
	switch {
	case s == "":
		return errors.New("empty path")
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("%q contains a NUL byte", s)
	}
	for _, el := range strings.FieldsFunc(s, func(r rune) bool { return r == '/' || r == filepath.Separator }) {
		if el == ".." {
			return fmt.Errorf("%q contains \"..\"", s)
		}
	}
	return nil
}
