package engine

import (
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// metricSet holds every puma_* metric of the process. Counters are keyed by
// task name, so a task restarted by a reload continues its series.
var metricSet = metrics.NewSet()

func init() {
	// # HELP and # TYPE lines: Prometheus needs the type to treat a
	// histogram's _bucket series as one.
	metrics.ExposeMetadata(true)
	b := Build()
	metricSet.NewGauge(`puma_build_info{version=`+strconv.Quote(b.Version)+`,revision=`+strconv.Quote(b.Revision)+
		`,go_version=`+strconv.Quote(b.GoVersion)+`}`, func() float64 { return 1 })
}

// WriteMetrics writes Puma's metrics and the process's in the Prometheus
// text format, with # TYPE lines.
func WriteMetrics(w io.Writer) {
	metricSet.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}

// States are the values of StatsSnapshot.State, in the order a task
// usually passes through them; puma_task_state has a series for each.
var States = []string{
	"new", "connecting", "snapshot", "locating", "streaming", "reconnecting", "retrying",
	"pausing", "paused", "resuming", "failed", "stopped", "stopped-at",
}

// pluginCallBuckets are the upper bounds, in seconds, of
// puma_plugin_call_duration_seconds: a call handles one batch, from tens
// of microseconds for a filter to the default 5 s timeout of a sender.
var pluginCallBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// groupBuckets are the upper bounds of puma_sender_group_batches: the
// batches a sender took in one call.
var groupBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096}

// failoverReasons are the reason labels of puma_failovers_total.
var failoverReasons = []string{"errors", "relocate_by_time"}

// liveTasks maps a task name to the Task whose gauges report under it.
var liveTasks sync.Map // string -> *Task

// taskMetrics are one task's series.
type taskMetrics struct {
	task         string
	transactions *metrics.Counter
	ddl          *metrics.Counter
	bytesRead    *metrics.Counter
	reconnects   *metrics.Counter
	// resnapshots counts snapshots taken because the source no longer
	// served the checkpoint's position (snapshot = "when_needed").
	resnapshots  *metrics.Counter
	deadLettered *metrics.Counter
	// txLatency is from reading a transaction's commit to every sender
	// acknowledging it.
	txLatency *metrics.PrometheusHistogram

	mu   sync.Mutex
	rows map[rowSeries]*metrics.Counter
	plug map[string]*pluginMetrics
}

type rowSeries struct {
	db, table string
	op        Op
}

type pluginMetrics struct {
	calls  *metrics.PrometheusHistogram
	errors *metrics.Counter
	// group counts the batches of each sender call (1 for a handler's).
	group *metrics.PrometheusHistogram
}

func label(task string) string { return `task=` + strconv.Quote(task) }

// newTaskMetrics registers t's series, every counter at 0 (those of its
// configured plugins and of each failover reason included), so that a task
// failing before it reads anything has its series.
func newTaskMetrics(t *Task) *taskMetrics {
	name := t.cfg.Name
	l := label(name)
	liveTasks.Store(name, t)
	gauge := func(metric string, f func(s StatsSnapshot) float64) {
		metricSet.GetOrCreateGauge(metric, func() float64 {
			v, ok := liveTasks.Load(name)
			if !ok {
				return 0
			}
			return f(v.(*Task).Snapshot())
		})
	}
	gauge("puma_lag_seconds{"+l+"}", func(s StatsSnapshot) float64 { return s.Lag })
	gauge("puma_seconds_since_last_event{"+l+"}", func(s StatsSnapshot) float64 {
		if s.LastEvent.IsZero() {
			return 0
		}
		return time.Since(s.LastEvent).Seconds()
	})
	gauge("puma_checkpoint_age_seconds{"+l+"}", func(s StatsSnapshot) float64 {
		if s.LastCheckpoint.IsZero() {
			return 0
		}
		return time.Since(s.LastCheckpoint).Seconds()
	})
	gauge("puma_queue_depth{"+l+"}", func(s StatsSnapshot) float64 { return float64(s.QueueDepth) })
	if t.cfg.HeartbeatTable != "" {
		gauge("puma_heartbeat_lag_seconds{"+l+"}", func(s StatsSnapshot) float64 { return s.HeartbeatLag })
	}
	is := func(state string) func(s StatsSnapshot) float64 {
		return func(s StatsSnapshot) float64 {
			if s.State == state {
				return 1
			}
			return 0
		}
	}
	// The snapshot in progress: rows per second and the ETA in seconds,
	// -1 while unknown; both 0 when none runs.
	gauge("puma_snapshot_rows_per_second{"+l+"}", func(s StatsSnapshot) float64 {
		if p := s.SnapshotProgress; p != nil && p.Finished.IsZero() {
			return p.RowsPerSecond
		}
		return 0
	})
	gauge("puma_snapshot_eta_seconds{"+l+"}", func(s StatsSnapshot) float64 {
		switch p := s.SnapshotProgress; {
		case p == nil || !p.Finished.IsZero():
			return 0
		case p.ETA == nil:
			return -1
		default:
			return *p.ETA
		}
	})
	gauge("puma_paused{"+l+"}", is("paused"))
	gauge("puma_task_up{"+l+"}", is("streaming"))
	for _, st := range States {
		gauge("puma_task_state{"+l+",state="+strconv.Quote(st)+"}", is(st))
	}
	m := &taskMetrics{
		task:         name,
		transactions: metricSet.GetOrCreateCounter("puma_transactions_total{" + l + "}"),
		ddl:          metricSet.GetOrCreateCounter("puma_ddl_total{" + l + "}"),
		bytesRead:    metricSet.GetOrCreateCounter("puma_bytes_read_total{" + l + "}"),
		reconnects:   metricSet.GetOrCreateCounter("puma_reconnects_total{" + l + "}"),
		resnapshots:  metricSet.GetOrCreateCounter("puma_snapshots_when_needed_total{" + l + "}"),
		deadLettered: metricSet.GetOrCreateCounter("puma_dead_lettered_total{" + l + "}"),
		txLatency:    metricSet.GetOrCreatePrometheusHistogramExt(`puma_transaction_latency_seconds{`+l+`}`, pluginCallBuckets),
		rows:         map[rowSeries]*metrics.Counter{},
		plug:         map[string]*pluginMetrics{},
	}
	for _, reason := range failoverReasons {
		m.failoverCounter(reason)
	}
	for _, p := range t.cfg.Senders {
		m.sender(p.Name)
	}
	for _, pls := range [][]PluginConfig{t.cfg.Handlers, t.cfg.Senders} {
		for _, p := range pls {
			m.plugin(p.Name)
		}
	}
	return m
}

// delivered counts a batch every sender acknowledged.
func (m *taskMetrics) delivered(b *Batch) {
	if len(b.Changes) > 0 {
		m.mu.Lock()
		var last *metrics.Counter
		var lastKey rowSeries
		for i := range b.Changes {
			c := &b.Changes[i]
			if c.Op == OpDDL {
				m.ddl.Inc()
				continue
			}
			k := rowSeries{op: c.Op}
			if c.Table != nil {
				k.db, k.table = c.Table.DB, c.Table.Name
			}
			if last == nil || k != lastKey {
				last = m.rows[k]
				if last == nil {
					last = metricSet.GetOrCreateCounter(`puma_rows_total{` + label(m.task) +
						`,db=` + strconv.Quote(k.db) + `,table=` + strconv.Quote(k.table) + `,op=` + strconv.Quote(k.op.String()) + `}`)
					m.rows[k] = last
				}
				lastKey = k
			}
			last.Inc()
		}
		m.mu.Unlock()
	}
	if b.Commit != nil && b.Tx != nil {
		m.transactions.Inc()
	}
}

func (m *taskMetrics) plugin(name string) *pluginMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.plug[name]
	if p == nil {
		l := label(m.task) + `,plugin=` + strconv.Quote(name)
		p = &pluginMetrics{
			calls:  metricSet.GetOrCreatePrometheusHistogramExt(`puma_plugin_call_duration_seconds{`+l+`}`, pluginCallBuckets),
			errors: metricSet.GetOrCreateCounter(`puma_plugin_errors_total{` + l + `}`),
		}

		m.plug[name] = p
	}
	return p
}

// sender is plugin with the series only senders have.
func (m *taskMetrics) sender(name string) *pluginMetrics {
	p := m.plugin(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.group == nil {
		p.group = metricSet.GetOrCreatePrometheusHistogramExt(`puma_sender_group_batches{`+label(m.task)+`,plugin=`+strconv.Quote(name)+`}`, groupBuckets)
	}
	return p
}

// snapshotChunk counts a snapshot chunk of table ("db.table") delivered
// with rows rows; kind is "initial" or "incremental".
func (m *taskMetrics) snapshotChunk(kind, table string, rows int) {
	db, name, _ := strings.Cut(table, ".")
	l := label(m.task) + `,db=` + strconv.Quote(db) + `,table=` + strconv.Quote(name) + `,snapshot=` + strconv.Quote(kind)
	metricSet.GetOrCreateCounter(`puma_snapshot_chunks_total{` + l + `}`).Inc()
	metricSet.GetOrCreateCounter(`puma_snapshot_rows_total{` + l + `}`).Add(rows)
}

// snapshotTable registers the progress gauges of table ("db.table") in a
// snapshot of kind ("initial" or "incremental"). They report the table's
// latest snapshot of that kind, across snapshots.
func (m *taskMetrics) snapshotTable(kind, table string) {
	db, name, _ := strings.Cut(table, ".")
	l := label(m.task) + `,db=` + strconv.Quote(db) + `,table=` + strconv.Quote(name) + `,snapshot=` + strconv.Quote(kind)
	task := m.task
	gauge := func(metric string, f func(p TableProgress) float64) {
		metricSet.GetOrCreateGauge(metric+`{`+l+`}`, func() float64 {
			v, ok := liveTasks.Load(task)
			if !ok {
				return 0
			}
			p, ok := v.(*Task).stats.snap.table(kind, table)
			if !ok {
				return 0
			}
			return f(p)
		})
	}
	gauge("puma_snapshot_table_rows_estimated", func(p TableProgress) float64 { return float64(p.RowsEstimated) })
	gauge("puma_snapshot_table_chunks_estimated", func(p TableProgress) float64 { return float64(p.ChunksEstimated) })
	gauge("puma_snapshot_table_progress_ratio", func(p TableProgress) float64 {
		switch {
		case p.State == tableDone:
			return 1
		case p.RowsEstimated == 0:
			return 0
		}
		return float64(p.RowsRead) / float64(p.RowsEstimated)
	})
}

// failover counts a switch of source.
func (m *taskMetrics) failover(reason string) { m.failoverCounter(reason).Inc() }

func (m *taskMetrics) failoverCounter(reason string) *metrics.Counter {
	return metricSet.GetOrCreateCounter(`puma_failovers_total{` + label(m.task) + `,reason=` + strconv.Quote(reason) + `}`)
}
