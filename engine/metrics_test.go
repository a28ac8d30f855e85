package engine_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/config"
)

// scrape parses WriteMetrics's output with Prometheus's own text-format
// parser.
func scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	var buf bytes.Buffer
	engine.WriteMetrics(&buf)
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("the Prometheus parser rejects /metrics: %v\n%s", err, buf.String())
	}
	return fams
}

// series finds the metric of family name whose labels include want.
func series(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		return m
	}
	t.Fatalf("no %s%v", name, want)
	return nil
}

// A task that fails before reading anything has every series, parsed by
// Prometheus's parser with their types: counters at 0, the plugin-call
// histogram with le buckets, its state.
func TestMetricsFromTaskCreation(t *testing.T) {
	cfg, err := config.Parse([]byte(`
[server]
data_dir = "data"
[[task]]
name = "metrics-init"
replica_server_id = 77
  [[task.source]]
  addr = "127.0.0.1:1"
  user = "root"
  [[task.sender]]
  plugin = "builtin:capture"
  name = "out"
`), filepath.Join(t.TempDir(), "puma.toml"))
	if err != nil {
		t.Fatal(err)
	}
	task, err := engine.NewTask(cfg.Tasks[0], engine.Deps{
		Store: checkpoint.NewMemStore(),
		NewSender: func(context.Context, engine.TaskConfig, engine.PluginConfig) (engine.Sender, error) {
			return nil, errors.New("the destination is down")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Run(context.Background()); err == nil {
		t.Fatal("task with a failing sender ran")
	}

	fams := scrape(t)
	for name, f := range fams {
		if f.GetType() == dto.MetricType_UNTYPED {
			t.Errorf("%s has no # TYPE", name)
		}
	}
	task1 := map[string]string{"task": "metrics-init"}
	for _, name := range []string{
		"puma_transactions_total", "puma_ddl_total", "puma_bytes_read_total",
		"puma_reconnects_total", "puma_dead_lettered_total",
	} {
		if c := series(t, fams, name, task1).GetCounter(); c == nil || c.GetValue() != 0 {
			t.Errorf("%s = %v, want a counter at 0", name, c)
		}
	}
	for _, reason := range []string{"errors", "relocate_by_time"} {
		m := series(t, fams, "puma_failovers_total", map[string]string{"task": "metrics-init", "reason": reason})
		if m.GetCounter() == nil || m.GetCounter().GetValue() != 0 {
			t.Errorf("puma_failovers_total{reason=%q} = %v, want 0", reason, m)
		}
	}
	plugin := map[string]string{"task": "metrics-init", "plugin": "out"}
	if m := series(t, fams, "puma_plugin_errors_total", plugin); m.GetCounter().GetValue() != 0 {
		t.Errorf("puma_plugin_errors_total = %v", m)
	}
	if f := fams["puma_plugin_call_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("puma_plugin_call_duration_seconds is a %v, want a histogram", f.GetType())
	}
	h := series(t, fams, "puma_plugin_call_duration_seconds", plugin).GetHistogram()
	if len(h.GetBucket()) < 10 || h.GetBucket()[0].GetUpperBound() <= 0 {
		t.Errorf("plugin call histogram has buckets %v, want le bounds", h.GetBucket())
	}

	states := 0
	for _, m := range fams["puma_task_state"].GetMetric() {
		var task, state string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "task":
				task = l.GetValue()
			case "state":
				state = l.GetValue()
			}
		}
		if task != "metrics-init" {
			continue
		}
		states++
		want := 0.0
		if state == "failed" {
			want = 1
		}
		if v := m.GetGauge().GetValue(); v != want {
			t.Errorf("puma_task_state{state=%q} = %v, want %v", state, v, want)
		}
	}
	if states != len(engine.States) {
		t.Errorf("%d puma_task_state series, want one per state (%d)", states, len(engine.States))
	}
	if v := series(t, fams, "puma_task_up", task1).GetGauge().GetValue(); v != 0 {
		t.Errorf("puma_task_up = %v for a failed task", v)
	}
	b := engine.Build()
	info := series(t, fams, "puma_build_info", map[string]string{"version": b.Version, "revision": b.Revision, "go_version": runtime.Version()})
	if info.GetGauge().GetValue() != 1 {
		t.Errorf("puma_build_info = %v", info)
	}
}
