// Command build compiles the built-in plugins to Wasm for package embedded:
// go generate runs it from plugins/embedded (make wasm). It writes two
// files, both committed:
//
//   - builtins.wasm, the one module holding every built-in, built with fixed
//     flags and environment so that a toolchain builds the same bytes from the
//     same sources wherever it runs;
//   - builtins.inputs, what the module was built from: the toolchain, the
//     build command, the module's go and godebug settings, and a SHA-256 of
//     every source file of the main module it compiles. The package's
//     TestModuleCurrent rebuilds both and compares, so a change to the
//     built-ins' sources that was not followed by `make wasm` fails the tests.
//
// Usage:
//
//	go run ./internal/build [-o dir]   # dir defaults to wasm
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// pkg is the module built.
const pkg = "github.com/pumacdc/puma/plugins/builtins"

// env fixes what, besides the sources and the toolchain, changes the bytes
// go build writes: the target, cgo, and flags or experiments a user's
// environment may set.
var env = []string{"GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=", "GOWASM=", "GOEXPERIMENT="}

// buildArgs are go build's arguments but the output: -trimpath keeps
// directories out of the module, -buildvcs=false the commit.
var buildArgs = []string{"build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false"}

const header = `# What builtins.wasm was built from, written with it by ` + "`make wasm`" + `.
# TestModuleCurrent (plugins/embedded) compares it with the tree. If that
# test fails, run ` + "`make wasm`" + ` and commit plugins/embedded/wasm.
`

func main() {
	out := flag.String("o", "wasm", "directory to write builtins.wasm and builtins.inputs to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "build built-in plugins:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	version, err := goCmd("env", "GOVERSION")
	if err != nil {
		return err
	}
	sources, err := listSources()
	if err != nil {
		return err
	}
	// Build next to the target and rename, so a failed build leaves the
	// last good module in place.
	tmp, err := os.CreateTemp(out, ".builtins-*.wasm")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	abs, err := filepath.Abs(tmp.Name())
	if err != nil {
		return err
	}
	if _, err := goCmd(append(slices.Clone(buildArgs), "-o", abs, pkg)...); err != nil {
		return fmt.Errorf("builtins: %w", err)
	}
	wasm, err := os.ReadFile(abs)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(wasm)

	var b strings.Builder
	b.WriteString(header)
	fmt.Fprintf(&b, "toolchain %s\n", strings.TrimSpace(version))
	fmt.Fprintf(&b, "wasm %s %d\n", hex.EncodeToString(sum[:]), len(wasm))
	fmt.Fprintf(&b, "build %s go %s %s\n", strings.Join(env, " "), strings.Join(buildArgs, " "), pkg)
	b.WriteString(sources)

	if err := os.Rename(abs, filepath.Join(out, "builtins.wasm")); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "builtins.inputs"), []byte(b.String()), 0o644)
}

// goCmd runs the go command with env and returns its standard output.
func goCmd(args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.String(), nil
}

// listed is the part of `go list -json` used here.
type listed struct {
	Dir            string
	ImportPath     string
	Standard       bool
	DefaultGODEBUG string
	Module         *struct {
		Path      string
		Version   string
		Main      bool
		Dir       string
		GoVersion string
		Replace   *struct{ Path, Version string }
	}
	GoFiles, SFiles, EmbedFiles []string
}

// listSources returns the lines of builtins.inputs that describe the
// sources: the main module's go version, the module's default GODEBUG,
// each required module the build uses (path and version; none today), and
// one line per source file of the main module with its SHA-256, sorted.
// The standard library is the toolchain's, recorded on its own line.
func listSources() (string, error) {
	out, err := goCmd("list", "-deps", "-json=Dir,ImportPath,Standard,DefaultGODEBUG,Module,GoFiles,SFiles,EmbedFiles", pkg)
	if err != nil {
		return "", err
	}
	var (
		goVersion, godebug string
		modules, files     []string
	)
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("go list: %w", err)
		}
		switch {
		case p.Standard:
		case p.Module == nil:
			return "", fmt.Errorf("go list: package %s is in no module", p.ImportPath)
		case !p.Module.Main:
			m := "module " + p.Module.Path + " " + p.Module.Version
			if r := p.Module.Replace; r != nil {
				m += " => " + r.Path + " " + r.Version
			}
			if !slices.Contains(modules, m) {
				modules = append(modules, m)
			}
		default:
			goVersion = p.Module.GoVersion
			if p.ImportPath == pkg {
				godebug = p.DefaultGODEBUG
			}
			for _, f := range slices.Concat(p.GoFiles, p.SFiles, p.EmbedFiles) {
				line, err := fileLine(p.Module.Dir, filepath.Join(p.Dir, f))
				if err != nil {
					return "", err
				}
				files = append(files, line)
			}
		}
	}
	slices.Sort(modules)
	slices.Sort(files)
	var b strings.Builder
	fmt.Fprintf(&b, "go %s\n", goVersion)
	fmt.Fprintf(&b, "godebug %s\n", godebug)
	for _, l := range slices.Concat(modules, files) {
		b.WriteString(l + "\n")
	}
	return b.String(), nil
}

// fileLine returns "source <path from the module root> <sha256>".
func fileLine(root, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return "source " + filepath.ToSlash(rel) + " " + hex.EncodeToString(sum[:]), nil
}
