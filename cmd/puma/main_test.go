package main

import (
	"runtime"
	"strings"
	"testing"

	"github.com/pumacdc/puma/engine"
)

func TestVersion(t *testing.T) {
	out, _, code := puma(t, "version")
	b := engine.Build()
	want := "puma " + b.Version + "\nrevision " + b.Revision + "\n" + runtime.Version() + "\n"
	if code != 0 || out != want {
		t.Fatalf("puma version: %d %q, want %q", code, out, want)
	}
	if strings.Contains(out, "dev\n") {
		t.Fatalf("puma version says dev: %q", out)
	}
}
