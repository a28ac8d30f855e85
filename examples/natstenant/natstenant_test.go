package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/nats"
	"github.com/pumacdc/puma/sdk/sdktest"
)

var (
	orders = &sdktest.Table{DB: "shop", Name: "orders", Columns: []sdk.Column{
		{Name: "id", Kind: sdk.KindInt}, {Name: "tenant_id", Kind: sdk.KindString, Nullable: true}, {Name: "note", Kind: sdk.KindString},
	}}
	notes = &sdktest.Table{DB: "shop", Name: "notes", Columns: []sdk.Column{{Name: "id", Kind: sdk.KindInt}}}
)

const config = `{"target":"events","tenant_column":"tenant_id"}`

// stored is what the fake stream holds: each message's subject and, for
// changes, its envelope's id and op.
func stored(t *testing.T, f *nats.FakeServer) (changes []string, positions []string) {
	t.Helper()
	for _, m := range f.Messages("PUMA_TENANTS") {
		if !strings.HasPrefix(m.Subject, subjectPrefix) {
			positions = append(positions, string(m.Data))
			continue
		}
		var env struct {
			Op    string         `json:"op"`
			After map[string]any `json:"after"`
		}
		if err := json.Unmarshal(m.Data, &env); err != nil {
			t.Fatalf("message on %s: %v: %s", m.Subject, err, m.Data)
		}
		id := env.After["id"]
		if env.Op == "d" {
			id = "-"
		}
		changes = append(changes, m.Subject+" "+env.Op+" "+strings.TrimSuffix(strings.TrimPrefix(jsonText(id), `"`), `"`)+" "+m.Get("Nats-Msg-Id"))
	}
	return changes, positions
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestNATSTenant(t *testing.T) {
	defer nats.ResetFakes()
	f := nats.Fake("events")
	if err := sdktest.InitSender(config); err != nil {
		t.Fatal(err)
	}
	if tok, ok := sdktest.Applied(); !ok || tok != "" {
		t.Fatalf("Init reported %q, %v; want the empty position of a new stream", tok, ok)
	}
	if got := f.Streams(); len(got) != 1 || got[0] != "PUMA_TENANTS" {
		t.Fatalf("streams %v, want PUMA_TENANTS made by Init", got)
	}

	// sdktest gives every transaction the same id: one transaction
	// holds the changes whose messages are compared.
	tx := []sdktest.Change{
		sdktest.Insert(orders, int64(1), "acme", "a"),
		sdktest.Insert(orders, int64(2), "umbrella.eu", "b"),
		sdktest.Update(orders, []any{int64(1), "acme", "a"}, []any{int64(1), "acme", "c"}),
		sdktest.Delete(orders, int64(2), "umbrella.eu", "b"),
		sdktest.Insert(orders, int64(3), nil, "no tenant"),
	}
	if err := sdktest.SendGroup(tx); err != nil {
		t.Fatal(err)
	}
	changes, positions := stored(t, f)
	want := []string{
		"puma.tenant.acme c 1 0-1-1:1:0",
		"puma.tenant.umbrella_eu c 2 0-1-1:2:0",
		"puma.tenant.acme u 1 0-1-1:3:0",
		"puma.tenant.umbrella_eu d - 0-1-1:4:0",
		"puma.tenant._ c 3 0-1-1:5:0",
	}
	if strings.Join(changes, "\n") != strings.Join(want, "\n") {
		t.Errorf("messages:\n%s\nwant:\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
	}
	if len(positions) != 1 || !strings.Contains(positions[0], `"pos":205`) {
		t.Fatalf("positions %q, want one: the commit of the transaction", positions)
	}
	last := f.Messages("PUMA_TENANTS")
	if m := last[len(last)-1]; m.Subject != "puma.position.test.test" {
		t.Errorf("last message on %s, want the position after the data", m.Subject)
	}

	// A new instance (after a crash) reports what the stream holds.
	if err := sdktest.InitSender(config); err != nil {
		t.Fatal(err)
	}
	if tok, _ := sdktest.Applied(); tok != positions[0] {
		t.Errorf("Init reported %q, want the stored %q", tok, positions[0])
	}

	// A call failing on an unreachable server is retried (not fatal)
	// and stores no position.
	f.SetDown(true)
	err := sdktest.SendGroup(tx)
	if err == nil || strings.HasPrefix(err.Error(), "fatal") {
		t.Fatalf("publishing to a server that is down: %v, want a retryable error", err)
	}
	f.SetDown(false)
	if _, p := stored(t, f); len(p) != 1 {
		t.Errorf("%d positions after a failed call, want still 1", len(p))
	}
	// Sent again (a reply lost after the stream stored the data): the
	// message IDs keep the copies out.
	if err := sdktest.SendGroup(tx); err != nil {
		t.Fatal(err)
	}
	changes, positions = stored(t, f)
	if len(changes) != len(want) || len(positions) != 2 {
		t.Errorf("after sending again: %d changes and %d positions, want %d and 2", len(changes), len(positions), len(want))
	}

	// A change without a tenant stops the task.
	for _, c := range []sdktest.Change{sdktest.Insert(notes, int64(1))} {
		if err := sdktest.SendGroup([]sdktest.Change{c}); err == nil || !strings.HasPrefix(err.Error(), "fatal") || !strings.Contains(err.Error(), "no column tenant_id") {
			t.Errorf("a table without the tenant column: %v, want a fatal error naming it", err)
		}
	}
}

// TestNATSTenantGroup: a call of several transactions stores the
// position of its last commit.
func TestNATSTenantGroup(t *testing.T) {
	defer nats.ResetFakes()
	f := nats.Fake("events")
	if err := sdktest.InitSender(config); err != nil {
		t.Fatal(err)
	}
	// sdktest's commits differ by position: 200 + the number of changes.
	a := []sdktest.Change{sdktest.Insert(orders, int64(1), "a", "x")}
	b := []sdktest.Change{sdktest.Insert(orders, int64(2), "b", "x"), sdktest.Insert(orders, int64(3), "b", "x")}
	if err := sdktest.SendGroup(a, b); err != nil {
		t.Fatal(err)
	}
	if _, p := stored(t, f); len(p) != 1 || !strings.Contains(p[0], `"pos":202`) {
		t.Errorf("positions %q, want the second commit's alone", p)
	}
}

func TestNATSTenantConfig(t *testing.T) {
	defer nats.ResetFakes()
	nats.Fake("events")
	for _, tc := range []struct{ config, want string }{
		{`{}`, "target is required"},
		{`{"target":"events"}`, "tenant_column is required"},
		{`{"target":"events","tenant_column":"t","position_subject":"puma.tenant.pos"}`, "must lie outside puma.tenant.*"},
		{`{"target":"events","tenant_column":"t","tennant":"x"}`, "tennant"},
		{`{"target":"elsewhere","tenant_column":"t"}`, "not granted"},
	} {
		err := sdktest.InitSender(tc.config)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %s: %v, want an error saying %q", tc.config, err, tc.want)
		}
	}
}
