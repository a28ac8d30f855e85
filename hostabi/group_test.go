package hostabi_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

// TestJSONLGroup: builtin:jsonl given the corpus in groups writes what it
// writes given it batch by batch: each batch's changes (the envelope host
// function follows group_batch), its markers, and tables announced by an
// earlier batch of the same group.
func TestJSONLGroup(t *testing.T) {
	bs := corpus()
	for _, tc := range []struct {
		name  string
		split []int // group sizes
	}{
		{"one group", []int{len(bs)}},
		{"a transaction across groups", []int{1, 2, len(bs) - 3}},
		{"groups of one", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := newHost(t, dir)
			s, err := h.NewSender(context.Background(), "shop", plugin("jsonl", "builtin:jsonl",
				map[string]any{"path": "out/x.jsonl", "markers": true},
				map[string]any{"files": []any{"out"}}))
			if err != nil {
				t.Fatal(err)
			}
			split := tc.split
			if split == nil {
				for range bs {
					split = append(split, 1)
				}
			}
			rest := bs
			for _, n := range split {
				writes := hostabi.FileWrites(s)
				if err := s.SendGroup(context.Background(), rest[:n]); err != nil {
					t.Fatalf("SendGroup of batches %d..%d: %v", rest[0].Seq, rest[n-1].Seq, err)
				}
				// A call's lines go to the file in one write.
				if got := hostabi.FileWrites(s) - writes; got > 1 {
					t.Errorf("SendGroup of batches %d..%d wrote %d times, want once", rest[0].Seq, rest[n-1].Seq, got)
				}
				rest = rest[n:]
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "out", "x.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if want := envelopes(bs, true); !bytes.Equal(got, want) {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// A v1 sender: no puma_send_group.
const v1Sender = `(module
  (memory (export "memory") 4)
  (func (export "puma_abi_v1"))
  (func (export "puma_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "puma_init") (param i32 i32) (result i64) (i64.const 0))
  (func (export "puma_send") (param i32 i32) (result i64) (i64.const 0)))`

// A sender taking groups of exactly two batches: group_batch(1) must
// succeed and group_batch(2) fail with -2 (invalid), or it traps.
const twoBatchGroups = `(module
  (import "puma" "group_batch" (func $gb (param i32) (result i32)))
  (memory (export "memory") 4)
  (func (export "puma_abi_v1"))
  (func (export "puma_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "puma_init") (param i32 i32) (result i64) (i64.const 0))
  (func (export "puma_send") (param i32 i32) (result i64)
    (if (i32.ne (call $gb (i32.const 0)) (i32.const -2)) (then unreachable))
    (i64.const 0))
  (func (export "puma_send_group") (param i32 i32) (result i64)
    (if (i32.ne (call $gb (i32.const 1)) (i32.const 0)) (then unreachable))
    (if (i32.ne (call $gb (i32.const 2)) (i32.const -2)) (then unreachable))
    (i64.const 0)))`

func TestGroupExport(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, t.TempDir())
	start := func(t *testing.T, src string) *hostabi.Sender {
		m, err := h.Load(ctx, "s.wasm", hostabitest.WAT(t, src))
		if err != nil {
			t.Fatal(err)
		}
		s, err := h.StartSender(ctx, hostabi.Spec{Task: "t", Name: "s", Module: m, Timeout: time.Second, MaxMemory: 1 << 20, Config: []byte("{}")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	bs := corpus()
	t.Run("a v1 module takes no groups", func(t *testing.T) {
		s := start(t, v1Sender)
		if err := s.SendGroup(ctx, bs[:2]); !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("SendGroup = %v, want errors.ErrUnsupported", err)
		}
		sendAll(t, s, bs)
	})
	t.Run("group_batch selects within the group only", func(t *testing.T) {
		s := start(t, twoBatchGroups)
		if err := s.SendGroup(ctx, bs[:2]); err != nil {
			t.Fatalf("SendGroup: %v", err)
		}
		if err := s.Send(ctx, bs[2]); err != nil {
			t.Fatalf("Send (group_batch outside a group): %v", err)
		}
		if err := s.SendGroup(ctx, bs[:3]); err == nil {
			t.Fatal("SendGroup of three batches passed a module trapping on a third")
		}
	})
	t.Run("a plugin with kv takes no groups", func(t *testing.T) {
		s, err := h.NewSender(ctx, "t", plugin("stdout", "builtin:stdout", nil, map[string]any{"kv": true}))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.SendGroup(ctx, bs[:2]); !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("SendGroup = %v, want errors.ErrUnsupported", err)
		}
	})
	t.Run("position-only batches are not sent", func(t *testing.T) {
		s := start(t, twoBatchGroups)
		pos := &engine.Batch{Seq: 9}
		// Two batches with a position-only one between: the module
		// sees a group of two.
		if err := s.SendGroup(ctx, []*engine.Batch{bs[0], pos, bs[1]}); err != nil {
			t.Fatalf("SendGroup: %v", err)
		}
	})
}
