package plugintool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/plugins/catalog"
)

// ErrFailed reports that the plugin failed a batch; what it said has been
// printed.
var ErrFailed = errors.New("the plugin failed")

// Build compiles the Go plugin package pkg (a directory or an import
// path) to out as a WASI reactor, as the host wants it:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o out pkg
//
// An empty out names the module after the package's directory.
func Build(ctx context.Context, pkg, out string, stdout, stderr io.Writer) (string, error) {
	if pkg == "" {
		pkg = "."
	}
	if out == "" {
		base := filepath.Base(pkg)
		if base == "." || base == string(filepath.Separator) {
			wd, err := os.Getwd()
			if err != nil {
				return "", err
			}
			base = filepath.Base(wd)
		}
		out = base + ".wasm"
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return out, nil
}

// PrintInfo writes what Inspect found about the module called name.
func PrintInfo(w io.Writer, name string, info *hostabi.ModuleInfo) {
	fmt.Fprintf(w, "module   %s\n", name)
	fmt.Fprintf(w, "size     %d bytes, sha256 %x\n", info.Size, info.SHA256)
	abi := strings.Join(info.ABI, ", ")
	if abi == "" {
		abi = "none (not a Puma plugin)"
	}
	fmt.Fprintf(w, "abi      %s (this Puma speaks v%d to v%d)\n", abi, wire.MinVersion, wire.Version)
	roles := strings.Join(info.Roles, ", ")
	if roles == "" {
		roles = "none"
	}
	fmt.Fprintf(w, "roles    %s\n", roles)
	grants := "none"
	if len(info.Grants) > 0 {
		grants = "grants = { " + strings.Join(info.Grants, ", ") + " }"
	}
	fmt.Fprintf(w, "needs    %s\n", grants)
	list := func(title string, items []string) {
		for i, s := range items {
			if i == 0 {
				fmt.Fprintf(w, "%-8s %s\n", title, s)
			} else {
				fmt.Fprintf(w, "%-8s %s\n", "", s)
			}
		}
		if len(items) == 0 {
			fmt.Fprintf(w, "%-8s none\n", title)
		}
	}
	list("exports", info.Exports)
	list("imports", info.Imports)
	if info.Problem != "" {
		fmt.Fprintf(w, "refused  %s\n", info.Problem)
	} else {
		fmt.Fprintln(w, "loads    yes")
	}
}

// Test describes a run of `puma plugin test`.
type Test struct {
	Host   *hostabi.Host
	Task   string
	Plugin engine.PluginConfig
	// Role is "handler" or "sender"; "" picks the module's only one, or
	// handler when it has both.
	Role string
	// JSONL prints a handler's output envelopes only.
	JSONL bool
	Out   io.Writer

	env engine.Envelopes
}

// RenderTime is the processing time (ts_ms) a handler's output is
// rendered at: the epoch, so that a fixture always prints the same
// envelopes.
var RenderTime = time.Unix(0, 0)

// Run passes bs through the plugin and prints what it did: for a
// handler, each change's verdict and the envelopes it passes on; for a
// sender, each batch's outcome; then the plugin's kv state, if any.
func (t *Test) Run(ctx context.Context, bs []*engine.Batch) error {
	role := t.Role
	if name, ok := t.Plugin.Builtin(); ok && role == "" {
		role = "handler"
		if catalog.Sender(name) {
			role = "sender"
		}
	}
	if role == "" {
		role = "handler"
		if wasm, err := moduleBytes(t.Plugin); err == nil {
			if info, err := t.Host.Inspect(ctx, wasm); err == nil && len(info.Roles) == 1 {
				role = info.Roles[0]
			}
		}
	}
	var state engine.StatefulPlugin
	var last uint64
	switch role {
	case "handler":
		hd, err := t.Host.NewHandler(ctx, t.Task, t.Plugin)
		if err != nil && t.Role == "" && strings.Contains(err.Error(), "registers no handler") {
			t.Role = "sender" // a Go SDK module exports both entry points
			return t.Run(ctx, bs)
		}
		if err != nil {
			return err
		}
		defer hd.Close()
		state = hd
		for _, b := range bs {
			if err := t.handle(ctx, hd, b); err != nil {
				return err
			}
			last = b.Seq
		}
	case "sender":
		s, err := t.Host.NewSender(ctx, t.Task, t.Plugin)
		if err != nil {
			return err
		}
		defer s.Close()
		state = s
		for _, b := range bs {
			err := s.Send(ctx, b)
			fmt.Fprintf(t.Out, "batch %d: %s: ", b.Seq, describe(b))
			if err != nil {
				fmt.Fprintf(t.Out, "%s\n", pluginMessage(err))
				return ErrFailed
			}
			fmt.Fprintln(t.Out, "ok")
			last = b.Seq
		}
	default:
		return fmt.Errorf("role %q: want handler or sender", role)
	}
	if st := state.CheckpointState(last); st != nil && !t.JSONL {
		fmt.Fprintln(t.Out, "kv state:")
		if err := wire.DecodeKV(st, func(k string, v []byte) {
			fmt.Fprintf(t.Out, "  %s = %s\n", strconv.Quote(k), showValue(v))
		}); err != nil {
			return err
		}
	}
	return nil
}

func moduleBytes(p engine.PluginConfig) ([]byte, error) {
	if _, ok := p.Builtin(); ok {
		return nil, errors.New("built-in")
	}
	return os.ReadFile(p.Plugin)
}

// showValue prints a kv value: text when it is printable, else a
// little-endian uint64 when it has 8 bytes, else hex.
func showValue(v []byte) string {
	printable := utf8.Valid(v)
	for _, r := range string(v) {
		if r < ' ' || r == 0x7f {
			printable = false
		}
	}
	switch {
	case printable:
		return strconv.Quote(string(v))
	case len(v) == 8:
		var n uint64
		for i := 7; i >= 0; i-- {
			n = n<<8 | uint64(v[i])
		}
		return fmt.Sprintf("%d (uint64)", n)
	}
	return fmt.Sprintf("%x", v)
}

func describe(b *engine.Batch) string {
	if b.Tx == nil {
		return "position only"
	}
	var flags []string
	if b.Begin {
		flags = append(flags, "begin")
	}
	if b.Commit != nil {
		flags = append(flags, "commit")
	}
	s := "tx " + b.Tx.ID
	if len(flags) > 0 {
		s += " " + strings.Join(flags, "+")
	}
	n := "changes"
	if len(b.Changes) == 1 {
		n = "change"
	}
	return fmt.Sprintf("%s, %d %s", s, len(b.Changes), n)
}

func pluginMessage(err error) string {
	var he *hostabi.Error
	if errors.As(err, &he) {
		return he.Msg
	}
	return err.Error()
}

func (t *Test) handle(ctx context.Context, hd *hostabi.Handler, b *engine.Batch) error {
	out, tr, err := hd.HandleTrace(ctx, b)
	if !t.JSONL {
		fmt.Fprintf(t.Out, "batch %d: %s\n", b.Seq, describe(b))
	}
	if err != nil {
		fmt.Fprintf(t.Out, "  error: %s\n", pluginMessage(err))
		return ErrFailed
	}
	next := 0
	t.env.Name = t.Task
	t.env.StartBatch(out, RenderTime)
	for i := range b.Changes {
		c := &b.Changes[i]
		if !t.JSONL {
			where := c.DB
			if c.Table != nil {
				where = c.Table.FullName()
			}
			v := tr.Verdicts[i]
			if tr.Text[i] != "" {
				v += " " + strconv.Quote(tr.Text[i])
			}
			fmt.Fprintf(t.Out, "  %s %s seq %d: %s\n", c.Op, where, c.Seq, v)
		}
		for range tr.Out[i] {
			if next >= len(out.Changes) {
				break
			}
			oc := &out.Changes[next]
			next++
			line := t.env.AppendOne(nil, oc)
			if t.JSONL {
				fmt.Fprintf(t.Out, "%s\n", line)
				continue
			}
			fmt.Fprintf(t.Out, "    %s\n", line)
			if oc.Route != "" {
				fmt.Fprintf(t.Out, "    route %s\n", strconv.Quote(oc.Route))
			}
		}
	}
	return nil
}
