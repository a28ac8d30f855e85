package engine

import (
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// metricSet holds every puma_* metric of the process. Counters are keyed by
// task name, so a task restarted by a reload continues its series.
var metricSet = metrics.NewSet()

// WriteMetrics writes Puma's metrics and the process's in the Prometheus
// text format.
func WriteMetrics(w io.Writer) {
	metricSet.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}

// liveTasks maps a task name to the Task whose gauges report under it.
var liveTasks sync.Map // string -> *Task

// taskMetrics are one task's series.
type taskMetrics struct {
	task         string
	transactions *metrics.Counter
	ddl          *metrics.Counter
	bytesRead    *metrics.Counter
	reconnects   *metrics.Counter
	deadLettered *metrics.Counter

	mu   sync.Mutex
	rows map[rowSeries]*metrics.Counter
	plug map[string]*pluginMetrics
}

type rowSeries struct {
	db, table string
	op        Op
}

type pluginMetrics struct {
	calls  *metrics.Histogram
	errors *metrics.Counter
}

func label(task string) string { return `task=` + strconv.Quote(task) }

func newTaskMetrics(t *Task) *taskMetrics {
	name := t.cfg.Name
	l := label(name)
	liveTasks.Store(name, t)
	gauge := func(metric string, f func(s StatsSnapshot) float64) {
		metricSet.GetOrCreateGauge(metric+"{"+l+"}", func() float64 {
			v, ok := liveTasks.Load(name)
			if !ok {
				return 0
			}
			return f(v.(*Task).stats.Snapshot())
		})
	}
	gauge("puma_lag_seconds", func(s StatsSnapshot) float64 { return s.Lag })
	gauge("puma_seconds_since_last_event", func(s StatsSnapshot) float64 {
		if s.LastEvent.IsZero() {
			return 0
		}
		return time.Since(s.LastEvent).Seconds()
	})
	gauge("puma_checkpoint_age_seconds", func(s StatsSnapshot) float64 {
		if s.LastCheckpoint.IsZero() {
			return 0
		}
		return time.Since(s.LastCheckpoint).Seconds()
	})
	gauge("puma_queue_depth", func(s StatsSnapshot) float64 { return float64(s.QueueDepth) })
	if t.cfg.HeartbeatTable != "" {
		gauge("puma_heartbeat_lag_seconds", func(s StatsSnapshot) float64 { return s.HeartbeatLag })
	}
	gauge("puma_paused", func(s StatsSnapshot) float64 {
		if s.State == "paused" {
			return 1
		}
		return 0
	})
	return &taskMetrics{
		task:         name,
		transactions: metricSet.GetOrCreateCounter("puma_transactions_total{" + l + "}"),
		ddl:          metricSet.GetOrCreateCounter("puma_ddl_total{" + l + "}"),
		bytesRead:    metricSet.GetOrCreateCounter("puma_bytes_read_total{" + l + "}"),
		reconnects:   metricSet.GetOrCreateCounter("puma_reconnects_total{" + l + "}"),
		deadLettered: metricSet.GetOrCreateCounter("puma_dead_lettered_total{" + l + "}"),
		rows:         map[rowSeries]*metrics.Counter{},
		plug:         map[string]*pluginMetrics{},
	}
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
			calls:  metricSet.GetOrCreateHistogram(`puma_plugin_call_duration_seconds{` + l + `}`),
			errors: metricSet.GetOrCreateCounter(`puma_plugin_errors_total{` + l + `}`),
		}
		m.plug[name] = p
	}
	return p
}

// failover counts a switch of source.
func (m *taskMetrics) failover(reason string) {
	metricSet.GetOrCreateCounter(`puma_failovers_total{` + label(m.task) + `,reason=` + strconv.Quote(reason) + `}`).Inc()
}
