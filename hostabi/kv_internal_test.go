package hostabi

import (
	"maps"
	"testing"

	"github.com/pumacdc/puma/hostabi/wire"
)

// kvState decodes a snapshot.
func kvState(t *testing.T, b []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	if err := wire.DecodeKV(b, func(k string, v []byte) { m[k] = string(v) }); err != nil {
		t.Fatal(err)
	}
	return m
}

// call runs one plugin call on s: writes, then success or failure.
func call(t *testing.T, s *kvStore, seq uint64, begin, commit, ok bool, kvs ...string) {
	t.Helper()
	s.begin(seq, begin)
	for i := 0; i < len(kvs); i += 2 {
		if kvs[i+1] == "-" {
			if _, err := s.put(kvs[i], nil, true); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := s.put(kvs[i], []byte(kvs[i+1]), false); err != nil {
			t.Fatal(err)
		}
	}
	s.end(ok, commit)
}

func TestKVStore(t *testing.T) {
	type step struct {
		seq               uint64
		begin, commit, ok bool
		kvs               []string
		snapshot          uint64            // 0: none
		want              map[string]string // the snapshot's state
		head              map[string]string // what reads see after the step
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"snapshot covers only batches up to seq", []step{
			{seq: 1, begin: true, ok: true, kvs: []string{"a", "1"}},
			{seq: 2, commit: true, ok: true, kvs: []string{"b", "2"}},
			{seq: 3, begin: true, ok: true, kvs: []string{"a", "3"}},
			{seq: 4, ok: true, snapshot: 2, want: map[string]string{"a": "1", "b": "2"}, head: map[string]string{"a": "3", "b": "2"}},
		}},
		{"a failed call leaves nothing", []step{
			{seq: 1, begin: true, commit: true, ok: false, kvs: []string{"a", "1"}},
			{seq: 1, begin: true, commit: true, ok: true, kvs: []string{"b", "1"}, snapshot: 1, want: map[string]string{"b": "1"}},
		}},
		{"an abandoned transaction is dropped when the next begins", []step{
			{seq: 1, begin: true, commit: true, ok: true, kvs: []string{"n", "1"}},
			{seq: 2, begin: true, ok: true, kvs: []string{"a", "2"}},
			{seq: 3, ok: true, kvs: []string{"b", "3", "n", "-"}, head: map[string]string{"a": "2", "b": "3"}},
			// The connection dropped; the transaction is read again.
			{seq: 4, begin: true, ok: true, kvs: []string{"c", "4"}, head: map[string]string{"n": "1", "c": "4"}},
			{seq: 5, commit: true, ok: true, snapshot: 5, want: map[string]string{"n": "1", "c": "4"}},
		}},
		{"a batch sent again voids what came of it", []step{
			{seq: 1, begin: true, ok: true, kvs: []string{"x", "1"}},
			{seq: 1, begin: true, ok: true, kvs: []string{"x", "2"}, head: map[string]string{"x": "2"}},
		}},
		{"deletes", []step{
			{seq: 1, begin: true, commit: true, ok: true, kvs: []string{"a", "1", "b", "1"}, snapshot: 1, want: map[string]string{"a": "1", "b": "1"}},
			{seq: 2, begin: true, commit: true, ok: true, kvs: []string{"a", "-"}, snapshot: 2, want: map[string]string{"b": "1"}},
		}},
		{"snapshots in between keep pending deltas", []step{
			{seq: 1, begin: true, ok: true, kvs: []string{"a", "1"}},
			{seq: 2, commit: true, ok: true},
			{seq: 3, begin: true, ok: true, kvs: []string{"a", "2"}},
			{seq: 4, ok: true, snapshot: 2, want: map[string]string{"a": "1"}},
			{seq: 5, begin: true, ok: true, kvs: []string{"a", "9"}, head: map[string]string{"a": "9"}}, // tx 3-4 abandoned
			{seq: 6, commit: true, ok: true, snapshot: 6, want: map[string]string{"a": "9"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newKVStore(0)
			for i, st := range tc.steps {
				call(t, s, st.seq, st.begin, st.commit, st.ok, st.kvs...)
				if st.snapshot > 0 {
					if got := kvState(t, s.snapshot(st.snapshot)); !maps.Equal(got, st.want) {
						t.Fatalf("step %d: snapshot(%d) = %v, want %v", i, st.snapshot, got, st.want)
					}
				}
				if st.head != nil && !maps.Equal(s.head, st.head) {
					t.Fatalf("step %d: head %v, want %v", i, s.head, st.head)
				}
			}
		})
	}
}

func TestKVStoreRestoreAndLimits(t *testing.T) {
	s := newKVStore(20)
	if st := s.snapshot(1); st != nil {
		t.Fatalf("empty store snapshot %x, want nil", st)
	}
	if _, err := s.put("a", []byte("1"), false); err == nil {
		t.Fatal("a write outside a batch was accepted")
	}
	s.begin(1, true)
	if _, err := s.put("key", []byte("0123456789"), false); err != nil {
		t.Fatal(err)
	}
	if errno, err := s.put("other", []byte("0123456789"), false); errno != wire.ErrnoLimit {
		t.Fatalf("over the limit: %v %v", errno, err)
	}
	// Replacing a value counts the difference only.
	if _, err := s.put("key", []byte("012345678901234"), false); err != nil {
		t.Fatal(err)
	}
	s.end(true, true)
	snap := s.snapshot(1)
	r := newKVStore(20)
	if err := r.restore(snap); err != nil {
		t.Fatal(err)
	}
	if v, ok := r.get("key"); !ok || v != "012345678901234" {
		t.Fatalf("restored %q %v", v, ok)
	}
	if err := r.restore([]byte{1, 2}); err == nil {
		t.Fatal("a corrupt state was restored")
	}
}
