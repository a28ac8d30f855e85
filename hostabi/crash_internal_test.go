package hostabi

import (
	"log/slog"
	"strings"
	"testing"
)

// goCrash reads the reports a Go runtime prints, as logWriter keeps them.
func TestGoCrash(t *testing.T) {
	tests := []struct {
		name, stderr  string
		what, msg, at string
	}{
		{
			name: "panic raised again by the SDK",
			stderr: `panic: poisoned row [recovered, repanicked]

goroutine 1 [running]:
github.com/pumacdc/puma/sdk.(*plugin).recovered(0x1a1560, {0x15080, 0x41368})
	github.com/pumacdc/puma/sdk/plugin.go:80 +0x11
panic({0x15080, 0x41368})
	runtime/panic.go:860 +0x1c
main.init.0.func2(0x1a1710)
	example.com/p/main.go:33 +0x31
github.com/pumacdc/puma/sdk.(*plugin).handleRow(0x1a1560, 0x1a1710, 0x2ec000)
	github.com/pumacdc/puma/sdk/plugin.go:256 +0x22
`,
			what: "panic", msg: "poisoned row", at: "example.com/p/main.go:33",
		},
		{
			name: "runtime error in the runtime's own frames",
			stderr: `panic: assignment to entry in nil map

goroutine 1 [running]:
internal/runtime/maps.(*Map).assign(0x1, 0x2)
	internal/runtime/maps/map.go:10 +0x1
runtime.mapassign_fast64(0x1, 0x2)
	runtime/map_fast64.go:20 +0x2
main.count(0x5)
	example.com/p/count.go:7 +0x3
`,
			what: "panic", msg: "assignment to entry in nil map", at: "example.com/p/count.go:7",
		},
		{
			name: "older Go: recovered and raised again",
			stderr: `panic: boom [recovered]
	panic: boom

goroutine 1 [running]:
main.f()
	/src/main.go:3 +0x1
`,
			what: "panic", msg: "boom", at: "/src/main.go:3",
		},
		{
			name: "fatal error; other goroutines are not read",
			stderr: `some earlier output
fatal error: all goroutines are asleep - deadlock!

goroutine 1 [select (no cases)]:
main.wait()
	/src/main.go:9 +0x1

goroutine 2 [chan receive]:
main.other()
	/src/other.go:1 +0x1
`,
			what: "fatal error", msg: "all goroutines are asleep - deadlock!", at: "/src/main.go:9",
		},
		{name: "no frames", stderr: "panic: early\n", what: "panic", msg: "early"},
		{name: "not a Go crash", stderr: "error: something\n  panic: not at the start\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &logWriter{log: slog.New(slog.DiscardHandler)}
			w.Write([]byte(tc.stderr))
			c := w.takeCrash()
			what, msg, at := goCrash(c)
			if what != tc.what || msg != tc.msg || at != tc.at {
				t.Errorf("goCrash = %q, %q, %q; want %q, %q, %q\nkept:\n%s", what, msg, at, tc.what, tc.msg, tc.at, strings.Join(c, "\n"))
			}
			if strings.Contains(strings.Join(c, "\n"), "goroutine 2") {
				t.Error("kept the stack of another goroutine")
			}
			if w.takeCrash() != nil {
				t.Error("takeCrash did not forget the report")
			}
		})
	}
}
