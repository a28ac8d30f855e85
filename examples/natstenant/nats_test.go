package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/internal/testnats"
)

func TestMain(m *testing.M) {
	code := m.Run()
	hostabitest.Cleanup()
	os.Exit(code)
}

var accounts = &engine.Table{
	DB: "saas", Name: "accounts", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1,
	Columns: []engine.Column{{Name: "id", Kind: engine.KindInt}, {Name: "tenant_id", Kind: engine.KindString}},
}

// txs are n transactions, GTIDs 0-1-1 to 0-1-n, each inserting a row for
// tenant t<i> and one for tenant shared.
func txs(n int) []*engine.Batch {
	var bs []*engine.Batch
	for i := 1; i <= n; i++ {
		gtid := fmt.Sprintf("0-1-%d", i)
		tx := &engine.Tx{ID: gtid, GTID: gtid, ServerID: 1, File: "bin.000001", Pos: uint32(1000 * i)}
		row := func(seq uint32, tenant string) engine.Change {
			return engine.Change{Op: engine.OpInsert, Table: accounts, Tx: tx, Seq: seq, File: tx.File, Pos: tx.Pos + 10*seq,
				After: []any{int64(10*i) + int64(seq), tenant}}
		}
		bs = append(bs, &engine.Batch{Seq: uint64(i), Tx: tx, Begin: true,
			Changes: []engine.Change{row(1, fmt.Sprintf("t%d", i)), row(2, "shared")},
			Commit:  &position.Position{ServerID: 1, Flavor: "mariadb", File: "bin.000001", Pos: uint32(1000*i + 500), GTIDSet: gtid}})
	}
	return bs
}

// TestNATSTenantServer runs the example built to Wasm against a private
// nats-server: every change on its tenant's subject once, the position
// stored, and a new instance that resends everything (a restart) skipped
// up to it, past the stream's duplicates window.
func TestNATSTenantServer(t *testing.T) {
	srv := testnats.Start(t, testnats.Options{})
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A stream made beforehand, with a short duplicates window, which
	// the example leaves as it is.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PUMA_TENANTS",
		Subjects: []string{"puma.tenant.*", "puma.position.saas.natstenant"}, Duplicates: time.Second}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "natstenant.wasm")
	if err := os.WriteFile(path, hostabitest.BuildGo(t, "./examples/natstenant"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := hostabitest.NewHost(t, dir, hostabi.Options{
		Targets: map[string]engine.Target{"events": {Kind: "nats", Settings: map[string]any{"url": srv.URL()}}},
	})
	open := func() *hostabi.Sender {
		t.Helper()
		s, err := h.NewSender(ctx, "saas", engine.PluginConfig{
			Plugin: path, Name: "natstenant", Timeout: 10 * time.Second, MaxMemory: 64 << 20,
			Config: map[string]any{"target": "events", "tenant_column": "tenant_id"},
			Grants: map[string]any{"nats": []any{"events"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !s.Positioned() {
			t.Fatal("the sender does not keep its position: the host would not skip what the stream holds")
		}
		return s
	}
	bs := txs(4)
	s := open()
	if err := s.SendGroup(ctx, bs[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // past the duplicates window
	s = open()
	defer s.Close()
	if err := s.SendGroup(ctx, bs); err != nil {
		t.Fatal(err)
	}

	st, err := js.Stream(ctx, "PUMA_TENANTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got, positions []string
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject == "puma.position.saas.natstenant" {
			positions = append(positions, string(m.Data))
			continue
		}
		got = append(got, m.Subject+" "+m.Header.Get("Nats-Msg-Id"))
	}
	var want []string
	for i := 1; i <= 4; i++ {
		want = append(want, fmt.Sprintf("puma.tenant.t%d 0-1-%d:1:0", i, i), fmt.Sprintf("puma.tenant.shared 0-1-%d:2:0", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("stream holds\n%q\nwant each change once, on its tenant's subject:\n%q", got, want)
	}
	if len(positions) != 2 {
		t.Fatalf("%d positions, want one per call: %q", len(positions), positions)
	}
	if p, err := hostabi.ParsePositionToken([]byte(positions[1])); err != nil || p.GTIDSet != "0-1-4" {
		t.Errorf("last position %s (%v), want the commit of 0-1-4", positions[1], err)
	}
}
