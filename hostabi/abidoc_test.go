package hostabi_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

// The minimal handler of ABI.md loads and keeps every change.
func TestABIDocExample(t *testing.T) {
	doc, err := os.ReadFile("ABI.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```wat\n")
	src, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no ```wat block in ABI.md")
	}
	h := newHost(t, t.TempDir())
	ctx := context.Background()
	m, err := h.Load(ctx, "doc.wasm", hostabitest.WAT(t, src))
	if err != nil {
		t.Fatal(err)
	}
	hd, err := h.StartHandler(ctx, hostabi.Spec{Task: "t", Name: "doc", Module: m, Timeout: time.Second, MaxMemory: 1 << 20, Config: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	defer hd.Close()
	in := corpus()[1]
	out, err := hd.Handle(ctx, in)
	if err != nil || out != in {
		t.Fatalf("Handle = %v, %v; want the batch itself", out, err)
	}
}
