package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
)

// Deps are what a Task needs from the daemon around it.
type Deps struct {
	Store checkpoint.Store
	Log   *slog.Logger
	// NewHandler and NewSender build the task's plugins. NewHandler may be
	// nil when the task has no handlers.
	NewHandler func(ctx context.Context, task TaskConfig, p PluginConfig) (Handler, error)
	NewSender  func(ctx context.Context, task TaskConfig, p PluginConfig) (Sender, error)
	// DrainTimeout bounds how long a stopping task waits for in-flight
	// batches; 0 means 30 s.
	DrainTimeout time.Duration
}

// Task is the executor of one [[task]]: it connects to a source, finds
// where to start, streams the binary log through the pipeline and keeps
// the checkpoint, reconnecting (and failing over) on errors.
type Task struct {
	cfg     TaskConfig
	deps    Deps
	log     *slog.Logger
	stats   Stats
	seq     atomic.Uint64
	ctl     *control
	metrics *taskMetrics
	// current is the source being read, for the heartbeat writer.
	current atomic.Pointer[Source]
	// stopped is set by the reader when the stop-at point was reached.
	stopped bool
}

// NewTask returns a task for cfg with its defaults applied (see
// TaskConfig.WithDefaults), or cfg's problems as Validate reports them;
// the task does nothing until Run.
func NewTask(cfg TaskConfig, deps Deps) (*Task, error) {
	if deps.Store == nil || deps.NewSender == nil {
		return nil, errors.New("engine: NewTask needs a checkpoint store and a sender factory")
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.DrainTimeout == 0 {
		deps.DrainTimeout = 30 * time.Second
	}
	t := &Task{cfg: cfg, deps: deps, log: deps.Log.With("task", cfg.Name), ctl: newControl()}
	if cfg.StopAt != nil {
		spec := *cfg.StopAt
		t.ctl.stopAt = &spec
	}
	t.stats.setState("new", "", nil)
	t.stats.snap = newSnapTracker(time.Now)
	t.metrics = newTaskMetrics(t)
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
			state := "stopped"
			if t.stopped {
				state = "stopped-at"
			}
			t.stats.setState(state, "", nil)
		}
	}()
	if t.cfg.Snapshot == SnapshotNever {
		t.resolveStart(ctx)
	}
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
	if cp.Position.IsZero() || t.cfg.Start.Mode == position.Checkpoint || cp.Start == "" || cp.Start == t.cfg.Start.String() {
		// Resume where the checkpoint says.
	} else {
		// The configured start changed since the checkpoint was written:
		// honour it once; later checkpoints record it. Plugin state (kv)
		// belongs to the old position and is reset with it: a stateful
		// plugin counting rows from the new start must not begin with
		// counts from the old one.
		t.log.Warn("start changed: repositioning; plugin state reset", "was", cp.Start, "now", t.cfg.Start.String(),
			"checkpoint", cp.Position.String(), "plugins_with_state", len(cp.Plugins))
		cp.Position, cp.Schemas, cp.Plugins, cp.Incremental = position.Position{}, nil, nil, nil
	}
	if !cp.Position.IsZero() {
		t.stats.setAcked(cp.Position)
	}
	if err := t.restoreControl(cp); err != nil {
		return fmt.Errorf("task %s: %w", t.cfg.Name, err)
	}
	if err := restoreStates(cp, handlers, senders); err != nil {
		return fmt.Errorf("task %s: %w", t.cfg.Name, err)
	}

	p := newPipeline(t.log, t.cfg, t.deps.Store, *cp, handlers, senders, &t.stats, t.metrics)
	p.ctl = t.ctl
	t.stats.setQueue(func() int { return len(p.in) })
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
	t.ctl.setSave(func(ctx context.Context) error { return p.checkpoint(ctx, true) })
	if t.cfg.HeartbeatTable != "" {
		hbCtx, hbCancel := context.WithCancel(readCtx)
		hbDone := make(chan struct{})
		go func() { defer close(hbDone); t.heartbeats(hbCtx) }()
		defer func() { hbCancel(); <-hbDone }()
	}
	var readErr error
	snapshotted := false
	if t.needsSnapshot(cp) {
		readErr = t.snapshot(readCtx, p, cp)
		snapshotted = readErr == nil && readCtx.Err() == nil
	}
	switch {
	case readErr != nil || readCtx.Err() != nil:
	case t.cfg.Snapshot == SnapshotInitialOnly:
		// The snapshot was the task's whole work: it stops once that is
		// delivered, and does nothing on later runs.
		t.log.Info("snapshot only: not streaming", "snapshot_read_now", snapshotted)
		t.stopped = true
	default:
		readErr = t.read(readCtx, p, cp)
		if t.cfg.Snapshot == SnapshotWhenNeeded && errors.Is(readErr, ErrUnservable) && readCtx.Err() == nil {
			readErr = t.snapshotWhenNeeded(readCtx, p, cp, readErr)
		}
	}
	t.ctl.setSave(nil)
	readCancel()
	close(p.stopping)
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

// resolveStart resolves the start of a task that has no checkpoint and
// saves it, before the task builds its plugins (compiling them can take
// seconds): the start is then where the source was when the task started,
// and a task stopped while its plugins compile resumes there. Anything
// that goes wrong here (no checkpoint store, an unreachable source, a start
// the source cannot serve) is left to the first connection, which resolves
// the start itself and reports what fails.
func (t *Task) resolveStart(ctx context.Context) {
	if _, err := t.deps.Store.Load(ctx, t.cfg.Name); !errors.Is(err, checkpoint.ErrNotFound) {
		return
	}
	src := t.cfg.Sources[0]
	conn, err := connect(ctx, src)
	if err != nil {
		return
	}
	defer conn.Close()
	info, err := inspect(conn, src)
	if err != nil {
		return
	}
	dump, err := syncerConfig(t.cfg, src, info, t.cfg.ReplicaServerID, goMySQLLogger(t.log))
	if err != nil {
		return
	}
	start := t.cfg.Start
	if start.Mode == position.Checkpoint {
		start = t.cfg.StartIfNone
	}
	loc := &locator{conn: conn, info: info, dump: dump}
	pos, err := loc.locate(ctx, start)
	if err != nil {
		return
	}
	pos.Flavor, pos.ServerUUID = info.Flavor, info.ServerUUID
	cp := &checkpoint.Checkpoint{Task: t.cfg.Name, Position: pos, Start: t.cfg.Start.String(), Saved: time.Now().UTC()}
	if err := t.deps.Store.Save(ctx, cp); err != nil {
		return
	}
	t.log.Info("start resolved", "source", src.Addr, "start", start.String(), "position", pos.String())
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
		var h Handler
		err := t.untilAvailable(ctx, pc.Name, func() (err error) {
			h, err = t.deps.NewHandler(ctx, t.cfg, pc)
			return err
		})
		if err != nil {
			return handlers, senders, fmt.Errorf("task %s: handler[%d] %s: %w", t.cfg.Name, i, pc.Name, err)
		}
		handlers = append(handlers, namedHandler{name: pc.Name, h: h})
	}
	for i, pc := range t.cfg.Senders {
		var s Sender
		err := t.untilAvailable(ctx, pc.Name, func() (err error) {
			s, err = t.deps.NewSender(ctx, t.cfg, pc)
			return err
		})
		if err != nil {
			return handlers, senders, fmt.Errorf("task %s: sender[%d] %s: %w", t.cfg.Name, i, pc.Name, err)
		}
		senders = append(senders, &senderStage{name: pc.Name, s: s})
	}
	return handlers, senders, nil
}

// untilAvailable calls open, which starts plugin, again with backoff for
// as long as it fails because the plugin's destination is unavailable
// (Unavailable: a sender reading its applied position from a broker that
// is down): a task starting during an outage waits for the destination,
// as it would mid-stream, instead of failing.
func (t *Task) untilAvailable(ctx context.Context, plugin string, open func() error) error {
	backoff := t.cfg.BackoffMin
	for {
		err := open()
		if err == nil || !Unavailable(err) || ctx.Err() != nil {
			if err == nil {
				t.stats.setRetrying(plugin, nil)
			}
			return err
		}
		t.stats.setRetrying(plugin, err)
		t.log.Warn("plugin's destination unavailable at start, retrying", "plugin", plugin, "backoff", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return err
		}
		backoff = min(2*backoff, t.cfg.BackoffMax)
	}
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
		stopAt:    t.ctl.stopAtSpec,
		heartbeat: newHeartbeatTable(t.cfg),
		pos:       cp.Position,
		queries:   t.cfg.IncludeQuery,

		task:        t.cfg.Name,
		signalTable: newSignalTable(t.cfg),
		progress:    cp.Incremental,
		onProgress:  t.incrementalProgress,
		counted: func(table string, read, delivered int, last bool) {
			t.snapshotChunk("incremental", table, read, delivered, last)
		},
	}
	t.incrementalProgress(cp.Incremental)
	if r.signalTable != nil {
		// The chunk reader lives as long as the reconnect loop: a chunk
		// waits for the stream to reach its watermarks across reconnects.
		r.incr = newIncremental(cp.Incremental)
		chunkCtx, stopChunks := context.WithCancel(ctx)
		chunksDone := make(chan struct{})
		go func() { defer close(chunksDone); t.chunkReader(chunkCtx, r.incr) }()
		defer func() { stopChunks(); <-chunksDone }()
	} else if cp.Incremental != nil {
		t.log.Warn("the checkpoint holds an incremental snapshot in progress, but the task has no signal_table: it waits until signal_table is set again",
			"id", cp.Incremental.ID, "tables_left", cp.Incremental.Tables)
	}
	var err error
	if r.schemaState, err = decodeSchemaState(cp.Schemas); err != nil {
		return fatal(fmt.Errorf("task %s: %w", t.cfg.Name, err))
	}
	if r.pos.GTIDSet != "" {
		set, err := r.pos.GTIDs()
		if err != nil {
			return fatal(fmt.Errorf("task %s: checkpoint: %w", t.cfg.Name, err))
		}
		r.gset = set
	}
	started := !r.pos.IsZero()
	src, failures, refusals := 0, 0, 0
	// Refusals (credentials, privileges, a replica id in use) are tried on
	// every source as often as failing over would, and for a grace period,
	// then the task fails: an outage must not hide behind endless
	// reconnecting. The grace covers a restart after kill -9, when the
	// server lists the killed process's dump under the same replica id
	// until its next heartbeat write fails.
	maxRefusals := max(1, t.cfg.FailoverAfter) * len(t.cfg.Sources)
	refusalGrace := max(5*time.Second, 5*t.cfg.Heartbeat)
	var refusedSince time.Time
	backoff := t.cfg.BackoffMin
	for {
		if !t.waitWhilePaused(ctx) {
			return nil
		}
		if stop := t.ctl.stopAtSpec(); stop != nil && stopAfter(stop, r.gset) {
			t.log.Info("stop-at point reached", "at", stop.String(), "position", r.pos.String())
			t.stopped = true
			return nil
		}
		streamCtx, interrupt := context.WithCancel(ctx)
		t.ctl.setInterrupt(interrupt)
		progressed, err := t.stream(streamCtx, p, r, t.cfg.Sources[src], &started)
		interrupt()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errStopAt) {
			t.log.Info("stop-at point reached", "at", t.ctl.stopAtSpec().String(), "position", r.pos.String())
			t.stopped = true
			return nil
		}
		if streamCtx.Err() != nil {
			if paused, _, _ := t.ctl.state(); paused {
				continue // Pause interrupted the stream: not a failure
			}
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
			failures, refusals, backoff = 0, 0, t.cfg.BackoffMin
		}
		if refused := refusalOf(err, t.cfg.Sources[src].Addr); refused != nil {
			if refusals == 0 {
				refusedSince = time.Now()
			}
			if refusals++; refusals >= maxRefusals && time.Since(refusedSince) >= refusalGrace {
				return fmt.Errorf("task %s: gave up after %d refused connections in %s: %w",
					t.cfg.Name, refusals, time.Since(refusedSince).Round(time.Second), refused)
			}
			err = refused
		} else {
			refusals = 0
		}
		failures++
		t.stats.reconnects.Add(1)
		t.metrics.reconnects.Inc()
		t.stats.setState("reconnecting", "", err)
		t.log.Warn("source failed", "source", t.cfg.Sources[src].Addr, "failures", failures, "backoff", backoff, "err", err)
		if failures >= t.cfg.FailoverAfter && len(t.cfg.Sources) > 1 {
			next := (src + 1) % len(t.cfg.Sources)
			t.log.Warn("failing over", "from", t.cfg.Sources[src].Addr, "to", t.cfg.Sources[next].Addr, "failures", failures)
			src, failures = next, 0
			t.metrics.failover("errors")
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, t.cfg.BackoffMax)
	}
}

// decodes reports whether rows of db.table are decoded: the task's tables,
// its heartbeat table and its signal table.
func (t *Task) decodes(db, table string) bool {
	return t.cfg.Match(db, table) || (t.cfg.HeartbeatTable != "" && t.cfg.HeartbeatTable == db+"."+table) ||
		(t.cfg.SignalTable != "" && t.cfg.SignalTable == db+"."+table)
}

// matchDB reports whether the task reads tables of database db, for DDL
// that names no table of it: some tables pattern's database part matches
// db, and no exclude pattern leaves out all of its tables ("db.*").
func (t *Task) matchDB(db string) bool {
	for _, pat := range t.cfg.Exclude {
		if excludesDB(pat, db) {
			return false
		}
	}
	for _, pat := range t.cfg.Tables {
		if matchDBPattern(pat, db) {
			return true
		}
	}
	return false
}

// stream runs one connection. progressed reports whether it delivered at
// least one transaction, which resets the failure count.
func (t *Task) stream(ctx context.Context, p *pipeline, r *reader, src Source, started *bool) (progressed bool, err error) {
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
		return false, &SourceRefusedError{Source: src.Addr, Err: err}
	}
	cfg, err := syncerConfig(t.cfg, src, info, t.cfg.ReplicaServerID, goMySQLLogger(t.log))
	if err != nil {
		conn.Close()
		return false, fatal(err)
	}
	loc := &locator{conn: conn, info: info, dump: cfg}
	if !*started {
		start := t.cfg.Start
		if start.Mode == position.Checkpoint {
			start = t.cfg.StartIfNone
		}
		t.stats.setState("locating", src.Addr, nil)
		pos, err := loc.locate(ctx, start)
		if err != nil {
			conn.Close()
			err = fmt.Errorf("task %s: start %s on %s: %w", t.cfg.Name, start, src.Addr, err)
			if locateFatal(err) {
				return false, fatal(err)
			}
			return false, err
		}
		r.pos = pos
		r.gset = nil
		if pos.GTIDSet != "" || pos.Flavor == mysql.MariaDBFlavor {
			if r.gset, err = position.ParseGTIDSet(pos.Flavor, pos.GTIDSet); err != nil {
				conn.Close()
				return false, fatal(err)
			}
		}
		// The start is resolved once: a retry or a restart resumes here,
		// never from a newer "latest".
		*started = true
		t.log.Info("starting", "source", src.Addr, "start", start.String(), "position", pos.String())
	}
	if r.pos.File != "" && r.pos.ServerID != 0 && r.pos.ServerID != info.ServerID &&
		(t.cfg.Position == PositionFile || r.gset == nil) {
		// Another server's file positions mean nothing here: re-locate by
		// the last commit's time minus the look-back. This redelivers
		// (at least once), never leaves a gap.
		if r.pos.Timestamp == 0 {
			conn.Close()
			return false, fatal(fmt.Errorf("task %s: position %s from server %d has no commit time to re-locate by on server %d", t.cfg.Name, r.pos, r.pos.ServerID, info.ServerID))
		}
		at := time.Unix(r.pos.Timestamp, 0).Add(-t.cfg.FailoverLookback)
		t.stats.setState("locating", src.Addr, nil)
		pos, err := loc.atTime(ctx, at)
		if err != nil {
			conn.Close()
			return false, fmt.Errorf("task %s: re-locate at %s on %s: %w", t.cfg.Name, at.UTC().Format(time.RFC3339), src.Addr, err)
		}
		t.log.Warn("re-located by time on a new server", "from_server_id", r.pos.ServerID, "to_server_id", info.ServerID,
			"checkpoint", r.pos.String(), "lookback", t.cfg.FailoverLookback, "position", pos.String())
		t.metrics.failover("relocate_by_time")
		r.pos = pos
		r.gset = nil
		if pos.GTIDSet != "" {
			if r.gset, err = position.ParseGTIDSet(pos.Flavor, pos.GTIDSet); err != nil {
				conn.Close()
				return false, fatal(err)
			}
		}
	}
	// Never let the server start elsewhere than asked: MariaDB without
	// gtid_strict_mode would skip to the next transaction it has.
	byFile := r.pos.File != "" && (r.pos.ServerID == info.ServerID || r.pos.ServerID == 0)
	if err := loc.check(r.pos, byFile, r.gset); err != nil {
		conn.Close()
		if locateFatal(err) {
			return false, fatal(fmt.Errorf("task %s: %w", t.cfg.Name, err))
		}
		return false, err
	}
	from := asked(r.pos, byFile, r.gset)
	conn.Close()

	cat := newSourceCatalog(src, info.Flavor)
	defer cat.close()
	r.schemas = newSchemas(schemaConfig{
		Collations: info.Collations,
		KeyColumns: t.cfg.KeyColumns,
		Live:       t.cfg.Schema == SchemaLive,
		Flavor:     info.Flavor,
		Catalog:    cat,
		Log:        t.log,
	}, r.schemaState)
	r.pos.Flavor, r.pos.ServerUUID = info.Flavor, info.ServerUUID
	// Before the first event: a task that has no checkpoint yet saves where
	// it starts.
	if err := p.start(ctx, r.pos); err != nil {
		return false, err
	}
	// Rows are decoded into Change values on go-mysql's goroutine (the
	// locator above keeps go-mysql's own decoding).
	cfg.RowsEventDecodeFunc = newRowDecoder(info.Flavor, info.Collations, t.decodes).decode
	if t.cfg.IncludeQuery && info.Flavor == mysql.MariaDBFlavor {
		// MariaDB sends a replica its annotate events only when asked.
		cfg.DumpCommandFlag |= replication.BINLOG_SEND_ANNOTATE_ROWS_EVENT
	}
	syncer := replication.NewBinlogSyncer(cfg)
	defer syncer.Close()

	var st *replication.BinlogStreamer
	switch {
	case byFile:
		st, err = syncer.StartSync(mysql.Position{Name: r.pos.File, Pos: r.pos.Pos})
	case r.gset != nil:
		st, err = syncer.StartSyncGTID(r.gset.Clone())
	default:
		return false, fatal(fmt.Errorf("task %s: position %s was read from server %d and has no GTID set to resume from on server %d", t.cfg.Name, r.pos, r.pos.ServerID, info.ServerID))
	}
	if err != nil {
		return false, t.dumpError(err, src, from)
	}
	r.resetConnection(info.ServerID)
	t.stats.setState("streaming", src.Addr, nil)
	t.current.Store(&src)
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
			return progressed, t.dumpError(err, src, from)
		}
		t.stats.observe(ev.Header, time.Now())
		t.metrics.bytesRead.Add(int(ev.Header.EventSize))
		if err := r.handle(ctx, ev, emit); err != nil {
			var se *sourceError
			if ctx.Err() != nil || p.isFailed() || errors.As(err, &se) {
				return progressed, err
			}
			return progressed, fatal(fmt.Errorf("task %s: source %s: %w", t.cfg.Name, src.Addr, err))
		}
	}
}

// dumpError makes the server's refusal to serve the position asked for
// fatal.
func (t *Task) dumpError(err error, src Source, from string) error {
	if err = refusal(err, src.Addr, from); errors.Is(err, ErrUnservable) {
		return fatal(fmt.Errorf("task %s: %w", t.cfg.Name, err))
	}
	return err
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
