// Package daemon runs a configuration's tasks: it starts them, serves the
// admin API over them, and applies a reloaded configuration task by task.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"sync"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/admin"
	"github.com/pumacdc/puma/internal/config"
)

// Plugins builds a task's plugins under the configuration in force.
type Plugins struct {
	NewHandler func(ctx context.Context, cfg *config.Config, task engine.TaskConfig, p engine.PluginConfig) (engine.Handler, error)
	NewSender  func(ctx context.Context, cfg *config.Config, task engine.TaskConfig, p engine.PluginConfig) (engine.Sender, error)
}

// Options configure a Daemon.
type Options struct {
	Log     *slog.Logger
	Plugins Plugins
	// Load re-reads the configuration for Reload; nil disables reloading.
	Load func() (*config.Config, error)
	// AdminReady, when set, receives the admin listener's address.
	AdminReady func(net.Addr)
}

// Daemon owns the running tasks. Its methods are safe for concurrent use.
type Daemon struct {
	opts  Options
	log   *slog.Logger
	store checkpoint.Store

	mu     sync.Mutex
	cfg    *config.Config
	tasks  map[string]*running
	ctx    context.Context // Run's, for tasks started by Reload
	failed []error
	wake   chan struct{}
	// reported is set once the failure of every task was logged (Run only).
	reported bool
}

type running struct {
	cfg    engine.TaskConfig
	task   *engine.Task
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

var _ admin.Controller = (*Daemon)(nil)

// New prepares a daemon for cfg; nothing runs until Run.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	store, err := checkpoint.NewFileStore(filepath.Join(cfg.Server.DataDir, "checkpoints"))
	if err != nil {
		return nil, err
	}
	return &Daemon{opts: opts, log: opts.Log, store: store, cfg: cfg, tasks: map[string]*running{}, wake: make(chan struct{}, 1)}, nil
}

// Run starts every task and the admin listener, and returns when ctx is
// cancelled (after every task stopped and checkpointed) or when no task is
// left running. The error joins the errors of the tasks that failed.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.mu.Lock()
	d.ctx = ctx
	cfg := d.cfg
	for _, tc := range cfg.Tasks {
		if err := d.startLocked(tc); err != nil {
			d.mu.Unlock()
			d.stopAll()
			return err
		}
	}
	d.mu.Unlock()

	adminDone := make(chan error, 1)
	if cfg.Server.Admin != "" {
		h := admin.NewHandler(d, admin.Options{Token: cfg.Server.AdminToken.Reveal(), Log: d.log, Metrics: engine.WriteMetrics, UnhealthyAfter: cfg.Server.UnhealthyAfter})
		go func() { adminDone <- admin.Serve(ctx, cfg.Server.Admin, h, d.adminReady) }()
	} else {
		close(adminDone)
	}

	for {
		select {
		case <-ctx.Done():
		case err := <-adminDone:
			if err != nil {
				d.log.Error("admin listener failed", "err", err)
				cancel()
				d.stopAll()
				return err
			}
			adminDone = nil
			continue
		case <-d.wake:
			if d.anyRunning() {
				continue
			}
			if failed := d.failedCount(); failed > 0 && adminDone != nil {
				// Keep reporting the failure: /healthz answers 503 and
				// /tasks says why until an operator fixes the cause and
				// reloads or restarts. Exiting would leave a monitor
				// with a refused connection and no reason.
				if !d.reported {
					d.reported = true
					d.log.Error("no task is running; serving the admin API to report the failure", "failed", failed)
				}
				continue
			}
			d.log.Info("no task is running")
			cancel()
		}
		break
	}
	d.stopAll()
	if adminDone != nil {
		<-adminDone
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return errors.Join(d.failed...)
}

func (d *Daemon) adminReady(a net.Addr) {
	d.log.Info("admin listening", "addr", a.String())
	if d.opts.AdminReady != nil {
		d.opts.AdminReady(a)
	}
}

// failedCount returns how many tasks ended with an error.
func (d *Daemon) failedCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, r := range d.tasks {
		select {
		case <-r.done:
			if r.err != nil {
				n++
			}
		default:
		}
	}
	return n
}

func (d *Daemon) anyRunning() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.tasks {
		select {
		case <-r.done:
		default:
			return true
		}
	}
	return false
}

// startLocked starts one task; d.mu is held.
func (d *Daemon) startLocked(tc engine.TaskConfig) error {
	cfg := d.cfg
	deps := engine.Deps{
		Store: d.store,
		Log:   d.log,
		NewSender: func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Sender, error) {
			return d.opts.Plugins.NewSender(ctx, cfg, task, p)
		},
	}
	if d.opts.Plugins.NewHandler != nil {
		deps.NewHandler = func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Handler, error) {
			return d.opts.Plugins.NewHandler(ctx, cfg, task, p)
		}
	}
	t, err := engine.NewTask(tc, deps)
	if err != nil {
		return fmt.Errorf("task %s: %w", tc.Name, err)
	}
	ctx, cancel := context.WithCancel(d.ctx)
	r := &running{cfg: tc, task: t, cancel: cancel, done: make(chan struct{})}
	d.tasks[tc.Name] = r
	go func() {
		err := t.Run(ctx)
		d.mu.Lock()
		r.err = err
		if err != nil {
			d.failed = append(d.failed, err)
		}
		d.mu.Unlock()
		if err != nil {
			d.log.Error("task stopped", "task", tc.Name, "err", err)
		} else {
			d.log.Info("task stopped", "task", tc.Name)
		}
		close(r.done)
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}()
	return nil
}

func (d *Daemon) stopAll() {
	d.mu.Lock()
	var rs []*running
	for _, r := range d.tasks {
		r.cancel()
		rs = append(rs, r)
	}
	d.mu.Unlock()
	for _, r := range rs {
		<-r.done
	}
}

// Tasks reports every task, by name.
func (d *Daemon) Tasks() []admin.TaskStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]admin.TaskStatus, 0, len(d.tasks))
	for name, r := range d.tasks {
		out = append(out, admin.TaskStatus{Name: name, StatsSnapshot: r.task.Snapshot()})
	}
	slices.SortFunc(out, func(a, b admin.TaskStatus) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

func (d *Daemon) task(name string) (*engine.Task, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.tasks[name]
	if !ok {
		return nil, fmt.Errorf("task %q: %w", name, admin.ErrNoTask)
	}
	return r.task, nil
}

// Pause pauses a task.
func (d *Daemon) Pause(ctx context.Context, name string) error {
	t, err := d.task(name)
	if err != nil {
		return err
	}
	return t.Pause(ctx)
}

// Resume resumes a paused task.
func (d *Daemon) Resume(ctx context.Context, name string) error {
	t, err := d.task(name)
	if err != nil {
		return err
	}
	return t.Resume(ctx)
}

// StopAt makes a task run to at and stop.
func (d *Daemon) StopAt(ctx context.Context, name, at string) error {
	t, err := d.task(name)
	if err != nil {
		return err
	}
	return t.StopAt(ctx, at)
}

// Snapshot starts an incremental snapshot of tables in a task.
func (d *Daemon) Snapshot(ctx context.Context, name string, tables []string) error {
	t, err := d.task(name)
	if err != nil {
		return err
	}
	return t.SnapshotTables(ctx, tables)
}

// CancelSnapshot stops a task's incremental snapshot.
func (d *Daemon) CancelSnapshot(ctx context.Context, name string) error {
	t, err := d.task(name)
	if err != nil {
		return err
	}
	return t.CancelSnapshot(ctx)
}

// Reload re-reads the configuration and applies it task by task: removed
// tasks stop, changed tasks restart from their checkpoint, new tasks start,
// unchanged tasks keep running. An invalid configuration changes nothing.
// Changes to [server] need a restart; they are logged, not applied.
func (d *Daemon) Reload(ctx context.Context) error {
	if d.opts.Load == nil {
		return errors.New("reload: this daemon has no configuration file to re-read")
	}
	cfg, err := d.opts.Load()
	if err != nil {
		return fmt.Errorf("reload: configuration unchanged: %w", err)
	}
	d.mu.Lock()
	if d.ctx == nil || d.ctx.Err() != nil {
		d.mu.Unlock()
		return errors.New("reload: the daemon is not running")
	}
	if !reflect.DeepEqual(cfg.Server, d.cfg.Server) {
		d.log.Warn("reload: [server] changed; restart puma to apply it")
	}
	want := map[string]engine.TaskConfig{}
	for _, tc := range cfg.Tasks {
		want[tc.Name] = tc
	}
	var stop []*running
	for name, r := range d.tasks {
		tc, keep := want[name]
		if keep && reflect.DeepEqual(tc, r.cfg) && reflect.DeepEqual(cfg.Secrets, d.cfg.Secrets) && reflect.DeepEqual(cfg.Targets, d.cfg.Targets) {
			select {
			case <-r.done: // ended: start it again below
			default:
				delete(want, name)
				continue
			}
		}
		r.cancel()
		stop = append(stop, r)
	}
	d.mu.Unlock()
	for _, r := range stop {
		<-r.done
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range stop {
		delete(d.tasks, r.cfg.Name)
	}
	d.cfg = cfg
	var errs []error
	for _, tc := range cfg.Tasks {
		if _, ok := want[tc.Name]; !ok {
			continue
		}
		if err := d.startLocked(tc); err != nil {
			errs = append(errs, err)
		}
	}
	d.log.Info("reloaded", "restarted_or_started", len(want), "stopped", len(stop))
	return errors.Join(errs...)
}
