package hostabi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

// ledger is the destination of testdata/ledger: it applies each commit
// (keys and position) atomically, and can be told to lose the reply of
// the next one after applying it, as a broker whose acknowledgement is
// lost does.
type ledger struct {
	mu       sync.Mutex
	keys     []string
	position string
	loseNext bool
	commits  int
}

func (l *ledger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch r.URL.Path {
	case "/position":
		io.WriteString(w, l.position)
	case "/commit":
		var c struct {
			Keys     []string `json:"keys"`
			Position string   `json:"position"`
		}
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		l.keys = append(l.keys, c.Keys...)
		if c.Position != "" {
			l.position = c.Position
		}
		l.commits++
		if l.loseNext {
			l.loseNext = false
			http.Error(w, "reply lost", 503)
		}
	default:
		http.NotFound(w, r)
	}
}

func ledgerBatches() []*engine.Batch {
	var bs []*engine.Batch
	for i := 1; i <= 4; i++ {
		gtid := "0-1-" + string(rune('0'+i))
		tx := &engine.Tx{ID: gtid, GTID: gtid, ServerID: 1, File: "bin.000001", Pos: uint32(100 * i)}
		bs = append(bs, &engine.Batch{Seq: uint64(i), Tx: tx, Begin: true,
			Changes: []engine.Change{{Op: engine.OpInsert, Tx: tx, Seq: 1}, {Op: engine.OpInsert, Tx: tx, Seq: 2}},
			Commit:  &position.Position{ServerID: 1, Flavor: "mariadb", File: "bin.000001", Pos: uint32(100*i + 50), GTIDSet: gtid}})
	}
	return bs
}

func startLedger(t *testing.T, l *ledger, cfg map[string]any) (*hostabi.Sender, error) {
	t.Helper()
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ledger.wasm"), hostabitest.BuildGo(t, "./hostabi/testdata/ledger"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := hostabitest.NewHost(t, dir, hostabi.Options{})
	if cfg == nil {
		cfg = map[string]any{}
	}
	cfg["url"] = srv.URL
	return h.NewSender(context.Background(), "t", plugin("ledger", filepath.Join(dir, "ledger.wasm"), cfg,
		map[string]any{"http": []any{srv.URL}, "allow_private": true}))
}

// TestAppliedPositionSkipsWhatIsApplied: a sender reporting its applied
// position is positioned; a group whose reply was lost after the
// destination applied it is not applied again when sent again, and a
// restarted sender skips what its destination already holds.
func TestAppliedPositionSkipsWhatIsApplied(t *testing.T) {
	l := &ledger{}
	s, err := startLedger(t, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Positioned() {
		t.Fatal("Positioned() = false after the sender reported its position")
	}
	bs := ledgerBatches()
	ctx := context.Background()
	if err := s.SendGroup(ctx, bs[:2]); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.loseNext = true
	l.mu.Unlock()
	if err := s.SendGroup(ctx, bs[2:3]); err == nil {
		t.Fatal("SendGroup succeeded though the ledger answered 503")
	}
	// Sent again, as the pipeline retries: the new instance reads the
	// position, which includes batch 3.
	if err := s.SendGroup(ctx, bs[2:3]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart: the engine's checkpoint lags, so it sends everything
	// again; only batch 4 is new to the ledger.
	s2, err := startLedger(t, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.SendGroup(ctx, bs); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var want []string
	for _, b := range bs {
		want = append(want, b.Tx.ID+"/1", b.Tx.ID+"/2")
	}
	if !slices.Equal(l.keys, want) {
		t.Errorf("ledger holds %q, want each change once: %q", l.keys, want)
	}
	if l.commits != 3 {
		t.Errorf("%d commits, want 3 (batches 1-2, 3 whose reply was lost, 4)", l.commits)
	}
	if p, err := hostabi.ParsePositionToken([]byte(l.position)); err != nil || p.GTIDSet != "0-1-4" {
		t.Errorf("ledger position %q (%v), want batch 4's commit", l.position, err)
	}
}

func TestAppliedPositionRefusals(t *testing.T) {
	t.Run("a token the host did not write", func(t *testing.T) {
		_, err := startLedger(t, &ledger{position: `{"file":"x","pos":4,"what":1}`}, nil)
		if err == nil || !strings.Contains(err.Error(), "not a position token") {
			t.Fatalf("err = %v, want a refused token", err)
		}
	})
	t.Run("outside init", func(t *testing.T) {
		s, err := startLedger(t, &ledger{}, map[string]any{"misuse": true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = s.SendGroup(context.Background(), ledgerBatches()[:1])
		if err == nil || !strings.Contains(err.Error(), "only a sender's puma_init") {
			t.Fatalf("err = %v, want applied_position refused outside init", err)
		}
	})
}
