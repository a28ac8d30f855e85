package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/internal/config"
)

// Deps are what a Task needs from the daemon around it.
type Deps struct {
	Store checkpoint.Store
	Log   *slog.Logger
	// NewHandler and NewSender build the task's plugins. NewHandler may be
	// nil when the task has no handlers.
	NewHandler func(ctx context.Context, task config.Task, p config.Plugin) (Handler, error)
	NewSender  func(ctx context.Context, task config.Task, p config.Plugin) (Sender, error)
	// DrainTimeout bounds how long a stopping task waits for in-flight
	// batches; 0 means 30 s.
	DrainTimeout time.Duration
}

// Task is the executor of one [[task]]: it connects to a source, finds
// where to start, streams the binary log through the pipeline and keeps
// the checkpoint, reconnecting (and failing over) on errors.
type Task struct {
	cfg   config.Task
	deps  Deps
	log   *slog.Logger
	stats Stats
	seq   atomic.Uint64
}

// NewTask returns a task for cfg; it does nothing until Run.
func NewTask(cfg config.Task, deps Deps) (*Task, error) {
	if deps.Store == nil || deps.NewSender == nil {
		return nil, errors.New("engine: NewTask needs a checkpoint store and a sender factory")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.DrainTimeout == 0 {
		deps.DrainTimeout = 30 * time.Second
	}
	t := &Task{cfg: cfg, deps: deps, log: deps.Log.With("task", cfg.Name)}
	t.stats.setState("new", "", nil)
	return t, nil
}

// Name returns the task's name.
func (t *Task) Name() string { return t.cfg.Name }

// Stats returns the task's live counters.
func (t *Task) Stats() *Stats { return &t.stats }

// fatalError marks errors that reconnecting cannot cure.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

func fatal(err error) error { return &fatalError{err} }

// Run streams until ctx is cancelled (then it drains in-flight batches,
// writes the checkpoint and returns nil) or a fatal error occurs.
func (t *Task) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			t.stats.setState("failed", "", err)
		} else {
			t.stats.setState("stopped", "", nil)
		}
	}()
	handlers, senders, err := t.buildPlugins(ctx)
	defer func() {
		for _, h := range handlers {
			if cerr := h.h.Close(); cerr != nil {
				t.log.Warn("close handler", "plugin", h.name, "err", cerr)
			}
		}
		for _, s := range senders {
			if cerr := s.s.Close(); cerr != nil {
				t.log.Warn("close sender", "plugin", s.name, "err", cerr)
			}
		}
	}()
	if err != nil {
		return err
	}
	cp, err := t.deps.Store.Load(ctx, t.cfg.Name)
	switch {
	case errors.Is(err, checkpoint.ErrNotFound):
		cp = &checkpoint.Checkpoint{Task: t.cfg.Name}
	case err != nil:
		return fmt.Errorf("task %s: load checkpoint: %w", t.cfg.Name, err)
	}
	if !cp.Position.IsZero() {
		t.stats.setAcked(cp.Position)
	}

	p := newPipeline(t.log, t.cfg, t.deps.Store, *cp, handlers, senders, &t.stats)
	pipeCtx, pipeCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pipeCancel()
	pipeDone := make(chan error, 1)
	go func() { pipeDone <- p.run(pipeCtx) }()

	// A failed pipeline stops the reader even while it waits for events.
	readCtx, readCancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-p.failed:
			readCancel()
		case <-readCtx.Done():
		}
	}()
	readErr := t.read(readCtx, p, cp)
	readCancel()
	close(p.in)
	// Drain: let the stages finish what is queued, within DrainTimeout.
	timer := time.AfterFunc(t.deps.DrainTimeout, pipeCancel)
	pipeErr := <-pipeDone
	timer.Stop()
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return errors.Join(readErr, ignoreCanceled(pipeErr))
	}
	if pipeErr != nil && !errors.Is(pipeErr, context.Canceled) {
		return pipeErr
	}
	if ctx.Err() == nil && readErr != nil {
		return readErr
	}
	return nil
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (t *Task) buildPlugins(ctx context.Context) ([]namedHandler, []*senderStage, error) {
	var handlers []namedHandler
	var senders []*senderStage
	for i, pc := range t.cfg.Handlers {
		if t.deps.NewHandler == nil {
			return handlers, senders, fmt.Errorf("task %s: handler[%d] %s: no handler plugins available", t.cfg.Name, i, pc.Name)
		}
		h, err := t.deps.NewHandler(ctx, t.cfg, pc)
		if err != nil {
			return handlers, senders, fmt.Errorf("task %s: handler[%d] %s: %w", t.cfg.Name, i, pc.Name, err)
		}
		handlers = append(handlers, namedHandler{name: pc.Name, h: h})
	}
	for i, pc := range t.cfg.Senders {
		s, err := t.deps.NewSender(ctx, t.cfg, pc)
		if err != nil {
			return handlers, senders, fmt.Errorf("task %s: sender[%d] %s: %w", t.cfg.Name, i, pc.Name, err)
		}
		senders = append(senders, &senderStage{name: pc.Name, s: s})
	}
	return handlers, senders, nil
}

// read is the reconnect loop: connect, locate, dump, decode; on failure back
// off and resume from the last complete transaction, moving to the next
// source after FailoverAfter consecutive failures.
func (t *Task) read(ctx context.Context, p *pipeline, cp *checkpoint.Checkpoint) error {
	r := &reader{
		log:       t.log,
		match:     t.cfg.Match,
		matchDB:   t.matchDB,
		batchRows: t.cfg.BatchRows,
		nextSeq:   func() uint64 { return t.seq.Add(1) },
		pos:       cp.Position,
	}
	if r.pos.GTIDSet != "" {
		set, err := r.pos.GTIDs()
		if err != nil {
			return fatal(fmt.Errorf("task %s: checkpoint: %w", t.cfg.Name, err))
		}
		r.gset = set
	}
	started := !r.pos.IsZero()
	src, failures := 0, 0
	backoff := t.cfg.BackoffMin
	for {
		progressed, err := t.stream(ctx, p, r, t.cfg.Sources[src], &started)
		if ctx.Err() != nil {
			return nil
		}
		var fe *fatalError
		if errors.As(err, &fe) {
			return fe.err
		}
		select {
		case <-p.failed:
			return nil // the pipeline's error is reported by Run
		default:
		}
		if progressed {
			failures, backoff = 0, t.cfg.BackoffMin
		}
		failures++
		t.stats.reconnects.Add(1)
		t.stats.setState("reconnecting", "", err)
		t.log.Warn("source failed", "source", t.cfg.Sources[src].Addr, "failures", failures, "backoff", backoff, "err", err)
		if failures >= t.cfg.FailoverAfter && len(t.cfg.Sources) > 1 {
			next := (src + 1) % len(t.cfg.Sources)
			t.log.Warn("failing over", "from", t.cfg.Sources[src].Addr, "to", t.cfg.Sources[next].Addr, "failures", failures)
			src, failures = next, 0
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, t.cfg.BackoffMax)
	}
}

func (t *Task) matchDB(db string) bool {
	for _, pat := range t.cfg.Tables {
		if matchDBPattern(pat, db) {
			return true
		}
	}
	return false
}

// stream runs one connection. progressed reports whether it delivered at
// least one transaction, which resets the failure count.
func (t *Task) stream(ctx context.Context, p *pipeline, r *reader, src config.Source, started *bool) (progressed bool, err error) {
	t.stats.setState("connecting", src.Addr, nil)
	conn, err := connect(ctx, src)
	if err != nil {
		return false, err
	}
	info, err := inspect(conn, src)
	if err != nil {
		conn.Close()
		return false, err
	}
	rep := &Report{Task: t.cfg.Name, Source: src.Addr}
	preflightInfo(rep, t.cfg, info)
	preflightReplica(rep, conn, info)
	if err := rep.Err(); err != nil {
		conn.Close()
		return false, fatal(err)
	}
	// A duplicate replica id is retried rather than fatal: right after a
	// restart the server may still list this task's previous connection
	// until its next heartbeat fails.
	peers := &Report{Task: t.cfg.Name, Source: src.Addr}
	preflightPeers(peers, conn, t.cfg, info)
	if err := peers.Err(); err != nil {
		conn.Close()
		return false, err
	}
	if !*started {
		start := t.cfg.Start
		if start.Mode == position.Checkpoint {
			start = t.cfg.StartIfNone
		}
		pos, err := locate(conn, info, start)
		if err != nil {
			conn.Close()
			return false, fatal(fmt.Errorf("task %s: start %s on %s: %w", t.cfg.Name, start, src.Addr, err))
		}
		r.pos = pos
		r.gset = nil
		if pos.GTIDSet != "" || pos.Flavor == mysql.MariaDBFlavor {
			if r.gset, err = position.ParseGTIDSet(pos.Flavor, pos.GTIDSet); err != nil {
				conn.Close()
				return false, fatal(err)
			}
		}
		t.log.Info("starting", "source", src.Addr, "start", start.String(), "position", pos.String())
	}
	conn.Close()

	r.schemas = newSchemas(info.Collations, t.cfg.KeyColumns)
	r.pos.Flavor, r.pos.ServerUUID = info.Flavor, info.ServerUUID
	cfg, err := syncerConfig(t.cfg, src, info, t.cfg.ReplicaServerID, goMySQLLogger(t.log))
	if err != nil {
		return false, fatal(err)
	}
	syncer := replication.NewBinlogSyncer(cfg)
	defer syncer.Close()

	var st *replication.BinlogStreamer
	switch {
	case r.pos.File != "" && (r.pos.ServerID == info.ServerID || r.pos.ServerID == 0):
		st, err = syncer.StartSync(mysql.Position{Name: r.pos.File, Pos: r.pos.Pos})
	case r.gset != nil:
		st, err = syncer.StartSyncGTID(r.gset.Clone())
	default:
		return false, fatal(fmt.Errorf("task %s: position %s was read from server %d and has no GTID set to resume from on server %d", t.cfg.Name, r.pos, r.pos.ServerID, info.ServerID))
	}
	if err != nil {
		return false, err
	}
	*started = true
	r.resetConnection(info.ServerID)
	t.stats.setState("streaming", src.Addr, nil)
	t.log.Info("streaming", "source", src.Addr, "server_id", info.ServerID, "position", r.pos.String())

	emit := func(ctx context.Context, b *Batch) error {
		if err := p.emit(ctx, b); err != nil {
			return err
		}
		if b.Commit != nil {
			progressed = true
		}
		return nil
	}
	for {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			return progressed, err
		}
		if err := r.handle(ctx, ev, emit); err != nil {
			if ctx.Err() != nil || p.isFailed() {
				return progressed, err
			}
			return progressed, fatal(fmt.Errorf("task %s: source %s: %w", t.cfg.Name, src.Addr, err))
		}
	}
}

// locate turns a start specification into a position on the connected
// server.
func locate(conn *client.Conn, info *serverInfo, start position.Start) (position.Position, error) {
	p := position.Position{ServerID: info.ServerID, ServerUUID: info.ServerUUID, Flavor: info.Flavor}
	var err error
	switch start.Mode {
	case position.Latest:
		var gtid string
		p.File, p.Pos, gtid, err = masterStatus(conn)
		if err != nil {
			return p, err
		}
		p.GTIDSet = gtid
	case position.Earliest:
		files, err := binaryLogs(conn)
		if err != nil {
			return p, err
		}
		if len(files) == 0 {
			return p, errors.New("the server has no binary logs")
		}
		p.File, p.Pos = files[0], 4
	case position.File:
		p.File, p.Pos = start.File, start.Pos
	case position.GTID:
		p.ServerID = 0
		p.GTIDSet = start.GTIDSet
		return p, nil
	default:
		return p, fmt.Errorf("start mode %s is not supported here", start)
	}
	if info.Flavor == mysql.MariaDBFlavor {
		if p.GTIDSet, err = mariadbGTIDAt(conn, p.File, p.Pos); err != nil {
			return p, err
		}
	}
	return p, nil
}

// goMySQLLogger keeps go-mysql's own logging to warnings and above: Puma
// logs connection state itself.
func goMySQLLogger(log *slog.Logger) *slog.Logger {
	return slog.New(minLevel{log.Handler(), slog.LevelWarn}).With("component", "go-mysql")
}

type minLevel struct {
	slog.Handler
	level slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.level && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(attrs), m.level}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{m.Handler.WithGroup(name), m.level}
}
