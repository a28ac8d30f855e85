package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
)

// Sender delivers batches to a destination.
//
// Send is called from a single goroutine, in batch order, and must return
// nil only once every change of b is durable at the destination: the
// checkpoint may then move past b. The checkpoint only moves to a batch
// closing its transaction (Commit set), so a batch that does not close its
// transaction may be acknowledged before it is durable, as long as
// acknowledging the batch that closes it means all of the transaction is.
// An error means nothing of b may be counted as delivered; the pipeline
// retries b with backoff. Send must honour ctx.
type Sender interface {
	Send(ctx context.Context, b *Batch) error
	Close() error
}

// GroupSender is an optional interface of a Sender that takes several
// consecutive batches, of one or more transactions, in one call: a group.
// A sender that syncs or flushes per call (a file, a broker producer, a
// database transaction) then does so once per group rather than once per
// transaction. The pipeline hands it whatever batches reached it while
// its last call ran, within the task's group_rows and group_bytes,
// waiting up to max_batch_delay for more.
//
// SendGroup is called from the sender's single goroutine, in batch order,
// and must return nil only once every change of every batch of g is
// durable at the destination: the pipeline then acknowledges all of them,
// and the checkpoint may move to the last commit of g. An error means
// nothing of g may be counted as delivered; the pipeline retries the whole
// group as it would one batch (so a destination may see the batches before
// a failing one twice; the changes' idempotency key tells them apart), and
// on_error = "dead_letter" dead-letters each of its batches. The group
// keeps its batches' Tx, Begin and Commit, so transaction boundaries stay
// visible. g and its batches are valid until SendGroup returns.
//
// A SendGroup returning an error wrapping errors.ErrUnsupported (a plugin
// module without group support) has done nothing: the pipeline sends g
// and every later batch one by one with Send.
type GroupSender interface {
	SendGroup(ctx context.Context, g []*Batch) error
}

// Preparer is an optional interface of a GroupSender that can do part of
// a batch's sending before the call that sends it: the pipeline calls
// Prepare with each batch it queues for the sender, in batch order, on the
// goroutine collecting the sender's next group while its call on the
// group before runs, so that the work moves off the sender's own
// goroutine onto a core that would otherwise wait. What Prepare makes is
// a cache the sending may use or ignore: it must not fail, block, or
// change what is delivered.
type Preparer interface {
	Prepare(b *Batch)
}

// Handler filters or reshapes batches before they reach the senders.
//
// Handle is called from a single goroutine, in batch order; a task's
// handlers run concurrently, each on the batch the one before it passed
// on, so a handler keeps no state another one reads. It returns the
// batch to pass on, which may be b itself; it must keep b's Tx, Begin and
// Commit, and may drop, change or add changes. An error is retried with
// backoff.
type Handler interface {
	Handle(ctx context.Context, b *Batch) (*Batch, error)
	Close() error
}

// PluginError reports a handler or sender that kept failing.
type PluginError struct {
	Task, Plugin string
	// Table and Position locate the first change of the failing batch.
	Table    string
	Position string
	Err      error
}

func (e *PluginError) Error() string {
	where := e.Position
	if e.Table != "" {
		where = e.Table + " at " + where
	}
	return fmt.Sprintf("task %s: plugin %s failed on %s: %v", e.Task, e.Plugin, where, e.Err)
}

func (e *PluginError) Unwrap() error { return e.Err }

type namedHandler struct {
	name string
	h    Handler
}

type senderStage struct {
	name  string
	s     Sender
	ch    chan *Batch
	acked atomic.Uint64 // Seq of the last batch Send accepted
	// taken counts the batches the stage took from ch.
	taken atomic.Uint64
	// whole is set for a PositionedSender, which is handed whole
	// transactions only.
	whole bool
}

type pendingCommit struct {
	seq     uint64
	pos     position.Position
	schemas []byte // Batch.schemas
	// incremental is Batch.incremental.
	incremental *checkpoint.Incremental
}

// pipeline carries batches from the reader through the handlers to every
// sender, and saves the checkpoint once all senders acknowledged a commit.
//
// Stages run in their own goroutines joined by bounded channels. run owns
// them all and returns when they have stopped.
type pipeline struct {
	log      *slog.Logger
	cfg      TaskConfig
	store    checkpoint.Store
	handlers []namedHandler
	senders  []*senderStage
	dead     *deadLetter

	in     chan *Batch
	failed chan struct{} // closed on the first fatal error
	// stopping is closed when the task stops: a batch waiting to be
	// retried is then given up (unacknowledged) instead of holding the
	// stop for the whole drain timeout.
	stopping chan struct{}
	once     sync.Once
	err      error

	mu      sync.Mutex
	commits []pendingCommit
	notify  chan struct{}

	// saved is the last checkpoint written; base carries the fields a
	// checkpoint keeps from the one loaded (operator state).
	saved position.Position
	base  checkpoint.Checkpoint

	stats   *Stats
	metrics *taskMetrics
	// ctl is the task's operator state, written with every checkpoint;
	// ckMu serialises checkpoint writes (the ticker, Pause, the final one).
	ctl  *control
	ckMu sync.Mutex
}

func newPipeline(log *slog.Logger, cfg TaskConfig, store checkpoint.Store, base checkpoint.Checkpoint, handlers []namedHandler, senders []*senderStage, stats *Stats, m *taskMetrics) *pipeline {
	p := &pipeline{
		log: log, cfg: cfg, store: store, handlers: handlers, senders: senders,
		in:       make(chan *Batch, cfg.QueueBatches),
		failed:   make(chan struct{}),
		stopping: make(chan struct{}),
		notify:   make(chan struct{}, 1),
		saved:    base.Position,
		base:     base,
		stats:    stats,
		metrics:  m,
	}
	for _, s := range senders {
		// A sender whose groups collect while its call runs holds its
		// queue in the group collecting: two batches in front of it
		// are enough, as between handlers.
		depth := cfg.QueueBatches
		if p.collects(s) {
			depth = shortQueue
		}
		s.ch = make(chan *Batch, depth)
	}
	if cfg.OnError == OnErrorDeadLetter {
		p.dead = &deadLetter{path: cfg.DeadLetterPath, env: Envelopes{Name: cfg.Name}}
	}
	return p
}

func (p *pipeline) isFailed() bool {
	select {
	case <-p.failed:
		return true
	default:
		return false
	}
}

func (p *pipeline) fail(err error) {
	p.once.Do(func() {
		p.err = err
		close(p.failed)
	})
}

// emit hands b to the pipeline, waiting while the queue is full.
func (p *pipeline) emit(ctx context.Context, b *Batch) error {
	if b.Commit != nil {
		b.read = time.Now()
	}
	select {
	case p.in <- b:
		return nil
	case <-p.failed:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run runs the stages until p.in is closed and drained, or a stage fails.
// ctx aborts in-flight work (retries and sends); it is cancelled only when
// a graceful drain takes too long.
func (p *pipeline) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.failed:
			cancel()
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	wg.Go(func() { p.handleStage(ctx) })
	for _, s := range p.senders {
		wg.Go(func() { p.sendStage(ctx, s) })
	}
	ckDone := make(chan struct{})
	var ckWG sync.WaitGroup
	ckWG.Go(func() { p.checkpointLoop(ckDone) })
	wg.Wait()
	close(ckDone)
	ckWG.Wait()
	// Final checkpoint, with a context of its own: it must be written even
	// when ctx was cancelled.
	saveCtx, saveCancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer saveCancel()
	err := p.checkpoint(saveCtx, true)
	if p.isFailed() {
		return p.err
	}
	return err
}

// shortQueue is the depth of the queue between two handlers, and in
// front of a sender collecting groups: enough for each side to take its
// next batch while the other works, without a queue_batches of batches
// more in memory.
const shortQueue = 2

func (p *pipeline) handleStage(ctx context.Context) {
	defer func() {
		for _, s := range p.senders {
			close(s.ch)
		}
	}()
	// Every handler but the last runs on a goroutine of its own, so that a
	// chain of handlers is a pipeline: the next batch goes through the
	// first while the last works on this one. The last one runs here,
	// before the batch is handed to the senders.
	in := p.in
	var wg sync.WaitGroup
	defer wg.Wait()
	last := len(p.handlers) - 1
	for i := range last {
		src, out := in, make(chan *Batch, shortQueue)
		wg.Go(func() {
			defer close(out)
			for b := range src {
				if ctx.Err() != nil || p.isFailed() {
					continue // drain so that the stage before never blocks
				}
				if b = p.handle(ctx, p.handlers[i], b); b != nil {
					out <- b
				}
			}
		})
		in = out
	}
	for b := range in {
		if ctx.Err() != nil || p.isFailed() {
			continue // drain so the reader never blocks on a dead pipeline
		}
		if last >= 0 {
			if b = p.handle(ctx, p.handlers[last], b); b == nil {
				continue
			}
		}
		b.acks.Store(int32(len(p.senders)))
		if b.Commit != nil {
			p.mu.Lock()
			p.commits = append(p.commits, pendingCommit{seq: b.Seq, pos: *b.Commit, schemas: b.schemas, incremental: b.incremental})
			p.mu.Unlock()
		}
		for _, s := range p.senders {
			select {
			case s.ch <- b:
			case <-ctx.Done():
			}
		}
	}
}

// handle runs h on b and returns the batch to pass on, carrying what the
// pipeline keeps with b; nil once the task has failed.
func (p *pipeline) handle(ctx context.Context, h namedHandler, b *Batch) *Batch {
	one := [1]*Batch{b}
	out, err := p.retry(ctx, h.name, one[:], func(ctx context.Context) (*Batch, error) { return h.h.Handle(ctx, b) })
	if err != nil {
		p.fail(err)
		return nil
	}
	if p.isFailed() || ctx.Err() != nil {
		return nil
	}
	if out != b {
		out.heartbeat, out.schemas, out.read, out.incremental = b.heartbeat, b.schemas, b.read, b.incremental
	}
	return out
}

// collects reports whether s's batches go through collect: s takes
// groups, and group_rows is above 0 or s keeps its own position (and is
// handed whole transactions).
func (p *pipeline) collects(s *senderStage) bool {
	if _, ok := s.s.(GroupSender); !ok {
		return false
	}
	ps, ok := s.s.(PositionedSender)
	return p.cfg.GroupRows > 0 || ok && ps.Positioned()
}

func (p *pipeline) sendStage(ctx context.Context, s *senderStage) {
	pm := p.metrics.sender(s.name)
	if ps, ok := s.s.(PositionedSender); ok && ps.Positioned() {
		s.whole = true
	}
	gs, _ := s.s.(GroupSender)
	if !p.collects(s) {
		for b := range s.ch {
			s.taken.Add(1)
			// After a failure nothing more is sent: a later batch
			// reaching the sender would leave a gap before it (the
			// failed batch is delivered again after a restart, and this
			// one after it).
			if ctx.Err() != nil || p.isFailed() {
				continue
			}
			one := [1]*Batch{b}
			p.sendEach(ctx, s, pm, one[:])
		}
		return
	}
	groups := make(chan *group)
	go p.collect(s, groups)
	for g := range groups {
		if ctx.Err() != nil || p.isFailed() {
			continue
		}
		if gs == nil {
			p.sendEach(ctx, s, pm, g.batches)
			continue
		}
		_, err := p.retry(ctx, s.name, g.batches, func(ctx context.Context) (*Batch, error) { return nil, gs.SendGroup(ctx, g.batches) })
		if errors.Is(err, errors.ErrUnsupported) && s.whole {
			err = fmt.Errorf("plugin %s keeps its own position but takes no groups: %w", s.name, err)
		}
		if errors.Is(err, errors.ErrUnsupported) {
			// The sender cannot take groups after all: this group and
			// everything after it go one batch at a time.
			p.log.Debug("sender takes no groups; sending batch by batch", "plugin", s.name)
			gs = nil
			p.sendEach(ctx, s, pm, g.batches)
			continue
		}
		if err != nil {
			p.fail(err)
			continue
		}
		acks := g.batches
		if len(g.superseded) > 0 {
			acks = append(slices.Clone(g.batches), g.superseded...)
			slices.SortFunc(acks, func(a, b *Batch) int { return cmp.Compare(a.Seq, b.Seq) })
		}
		for _, b := range acks {
			p.acked(s, b)
		}
		pm.group.Update(float64(len(g.batches)))
	}
}

// sendEach sends bs one by one, as sendStage does for a sender that takes
// no groups.
func (p *pipeline) sendEach(ctx context.Context, s *senderStage, pm *pluginMetrics, bs []*Batch) {
	for _, b := range bs {
		if ctx.Err() != nil || p.isFailed() {
			return
		}
		one := [1]*Batch{b}
		if _, err := p.retry(ctx, s.name, one[:], func(ctx context.Context) (*Batch, error) { return b, s.s.Send(ctx, b) }); err != nil {
			p.fail(err)
			return
		}
		p.acked(s, b)
		pm.group.Update(1)
	}
}

// group is what collect hands a sender in one call: its batches, and for
// a sender taking whole transactions the batches of transactions the
// reader restarted meanwhile, acknowledged with it.
type group struct {
	batches, superseded []*Batch
}

// collect makes s's groups and hands them to out, closing it once s.ch is
// closed and drained. While the sender's call runs it goes on taking
// batches from s.ch into the next group, as long as the group stays
// within group_rows and group_bytes: a sender slower than its input (a
// sync, a round trip) gets as many transactions a call as the bounds
// allow, not only the queue_batches that fit the queue. A batch that does
// not fit waits for the group after. A group is handed over as soon as
// the sender asks, or with max_batch_delay not before the delay has run
// from its first batch (or it is full); what is queued is always taken
// first. A group is valid until the sender asks for the next one.
//
// For a sender taking whole transactions (s.whole) a group ends only at
// a commit: while a transaction is open, it is not handed over whatever
// the bounds; a batch opening a transaction while one is open means the
// reader restarted it, and the open one's batches move to superseded. If
// the input ends inside a transaction, the last group stops before it
// (and is not handed over if that leaves it empty): the rest never comes
// in this run.
func (p *pipeline) collect(s *senderStage, out chan<- *group) {
	defer close(out)
	var bufs [2]group
	g := &bufs[0]
	in := s.ch
	var next *Batch // taken from in, not fitting g
	rows, size := 0, 0
	openFrom := -1 // index in g.batches of the open transaction's first batch
	ready := false // g may be handed over
	var timer *time.Timer
	var deadline <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// add puts b into g, or into next when g is full.
	add := func(b *Batch) {
		if openFrom >= 0 && b.Begin {
			g.superseded = append(g.superseded, g.batches[openFrom:]...)
			clear(g.batches[openFrom:])
			g.batches = g.batches[:openFrom]
			openFrom = -1
			rows, size = 0, 0
			for _, b := range g.batches {
				rows += len(b.Changes)
				size += b.size()
			}
		}
		n, sz := len(b.Changes), b.size()
		if openFrom < 0 && len(g.batches) > 0 && (rows+n > p.cfg.GroupRows || size+sz > p.cfg.GroupBytes) {
			next = b
			return
		}
		if len(g.batches) == 0 {
			ready = p.cfg.MaxBatchDelay <= 0
			if !ready {
				if timer == nil {
					timer = time.NewTimer(p.cfg.MaxBatchDelay)
				} else {
					timer.Reset(p.cfg.MaxBatchDelay)
				}
				deadline = timer.C
			}
		}
		g.batches = append(g.batches, b)
		rows += n
		size += sz
		if s.whole && b.Tx != nil {
			switch {
			case b.Commit != nil:
				openFrom = -1
			case openFrom < 0:
				openFrom = len(g.batches) - 1
			}
		}
	}
	// closed ends the input: an open transaction is dropped from g.
	closed := func() {
		in = nil
		ready = true
		if openFrom >= 0 {
			clear(g.batches[openFrom:])
			g.batches = g.batches[:openFrom]
			openFrom = -1
		}
	}
	prep, _ := s.s.(Preparer)
	// got takes what a receive from in gave.
	got := func(b *Batch, ok bool) {
		if !ok {
			closed()
			return
		}
		s.taken.Add(1)
		if prep != nil {
			prep.Prepare(b)
		}
		add(b)
	}
	for {
		if len(g.batches) == 0 {
			switch {
			case next != nil:
				b := next
				next = nil
				add(b)
			case in == nil:
				return
			default:
				b, ok := <-in
				got(b, ok)
			}
		}
		// What is queued goes first.
	drain:
		for in != nil && next == nil {
			select {
			case b, ok := <-in:
				got(b, ok)
			default:
				break drain
			}
		}
		if len(g.batches) == 0 {
			continue
		}
		var send chan<- *group
		if openFrom < 0 && (ready || next != nil) {
			send = out
		}
		var recv <-chan *Batch
		if next == nil {
			recv = in
		}
		select {
		case send <- g:
			if g == &bufs[0] {
				g = &bufs[1]
			} else {
				g = &bufs[0]
			}
			clear(g.batches)
			clear(g.superseded)
			g.batches, g.superseded = g.batches[:0], g.superseded[:0]
			rows, size, ready, deadline = 0, 0, false, nil
		case b, ok := <-recv:
			got(b, ok)
		case <-deadline:
			ready, deadline = true, nil
		}
	}
}

// size estimates the bytes of b's row images, for group_bytes: a text
// or bytes value counts its length, any other 8.
func (b *Batch) size() int {
	n := 0
	for i := range b.Changes {
		c := &b.Changes[i]
		n += 32 + len(c.Statement)
		for _, img := range [2][]any{c.Before, c.After} {
			for _, v := range img {
				switch v := v.(type) {
				case string:
					n += len(v)
				case []byte:
					n += len(v)
				default:
					n += 8
				}
			}
		}
	}
	return n
}

// acked records that s accepted b; the last sender to do so counts it
// delivered.
func (p *pipeline) acked(s *senderStage, b *Batch) {
	s.acked.Store(b.Seq)
	if b.acks.Add(-1) == 0 {
		p.stats.delivered(b)
		p.metrics.delivered(b)
		if !b.heartbeat.IsZero() {
			p.stats.setHeartbeatLag(time.Since(b.heartbeat))
		}
		if !b.read.IsZero() {
			p.metrics.txLatency.UpdateDuration(b.read)
		}
	}
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// retry calls f until it succeeds, ctx ends, or it failed MaxFailures
// times in a row; then the task's on_error policy decides. bs is what f
// handles or sends: one batch, or a sender's group, dead-lettered batch by
// batch. An error wrapping errors.ErrUnsupported is returned at once.
func (p *pipeline) retry(ctx context.Context, plugin string, bs []*Batch, f func(context.Context) (*Batch, error)) (*Batch, error) {
	b := bs[0]
	backoff := p.cfg.BackoffMin
	pm := p.metrics.plugin(plugin)
	failures := 0 // attempts that count towards max_failures
	for attempt := 1; ; attempt++ {
		start := time.Now()
		out, err := f(ctx)
		pm.calls.UpdateDuration(start)
		if err == nil {
			p.stats.setRetrying(plugin, nil)
			return out, nil
		}
		if errors.Is(err, errors.ErrUnsupported) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		p.stats.pluginErrors.Add(1)
		pm.errors.Inc()
		if Unavailable(err) && !permanent(err) {
			// Not the plugin's failure nor the data's: wait for the
			// destination as long as it takes.
			p.stats.setRetrying(plugin, err)
		} else {
			failures++
		}
		if failures >= p.cfg.MaxFailures || permanent(err) {
			perr := p.pluginError(plugin, bs, err)
			if p.dead == nil {
				return nil, perr
			}
			var re *RowErrors
			if errors.As(err, &re) && re.Batch != nil {
				// Only the changes the handler failed on are dead letters.
				failed := &Batch{Seq: b.Seq, Tx: b.Tx, Changes: re.Failed}
				if derr := p.dead.write(failed, plugin, err); derr != nil {
					return nil, errors.Join(perr, derr)
				}
				p.stats.deadLettered.Add(uint64(len(re.Failed)))
				p.metrics.deadLettered.Add(len(re.Failed))
				p.log.Warn("changes dead-lettered", "plugin", plugin, "changes", len(re.Failed), "path", p.dead.path, "err", err)
				return re.Batch, nil
			}
			changes := 0
			for _, b := range bs {
				if derr := p.dead.write(b, plugin, err); derr != nil {
					return nil, errors.Join(perr, derr)
				}
				changes += len(b.Changes)
			}
			p.stats.deadLettered.Add(uint64(changes))
			p.metrics.deadLettered.Add(changes)
			p.log.Warn("batch dead-lettered", "plugin", plugin, "batches", len(bs), "changes", changes, "path", p.dead.path, "err", err)
			// Pass on what keeps the transaction structure and position.
			if p.isSender(plugin) {
				return b, nil
			}
			return &Batch{Seq: b.Seq, Tx: b.Tx, Begin: b.Begin, Commit: b.Commit, CommitTime: b.CommitTime}, nil
		}
		p.log.Warn("plugin failed, retrying", "plugin", plugin, "attempt", attempt, "backoff", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.stopping:
			return nil, fmt.Errorf("plugin %s: stopping before a retry: %w", plugin, context.Canceled)
		}
		backoff = min(2*backoff, p.cfg.BackoffMax)
	}
}

// Unavailable reports whether err says a plugin's destination could not
// be reached (a broker or database down, a timeout): any error with an
// Unavailable() bool method returning true, as hostabi's errors have when
// a capability failed to reach its remote end. The pipeline retries such
// a failure with backoff for as long as it lasts, without counting it
// towards max_failures (the task shows as "retrying"), as a source's
// network errors are retried; a task starting while a sender's
// destination is down waits for it the same way.
func Unavailable(err error) bool {
	var u interface{ Unavailable() bool }
	return errors.As(err, &u) && u.Unavailable()
}

// permanent reports whether err says retrying cannot help: a plugin's
// fatal status (any error with a Permanent() bool method returning true).
func permanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

func (p *pipeline) isSender(name string) bool {
	for _, s := range p.senders {
		if s.name == name {
			return true
		}
	}
	return false
}

// pluginError locates err at the first change of bs, or at the first
// commit when none has changes.
func (p *pipeline) pluginError(plugin string, bs []*Batch, err error) *PluginError {
	pe := &PluginError{Task: p.cfg.Name, Plugin: plugin, Err: err}
	b := bs[0]
	for _, x := range bs {
		if len(x.Changes) > 0 {
			b = x
			break
		}
	}
	if len(b.Changes) > 0 {
		c := &b.Changes[0]
		if c.Table != nil {
			pe.Table = c.Table.FullName()
		}
		pe.Position = fmt.Sprintf("%s:%d", c.File, c.Pos)
		if c.Tx != nil {
			pe.Position += " tx " + c.Tx.ID
		}
	} else if b.Commit != nil {
		pe.Position = b.Commit.String()
	}
	return pe
}

func (p *pipeline) checkpointLoop(done <-chan struct{}) {
	t := time.NewTicker(p.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := p.checkpoint(ctx, false); err != nil {
				p.log.Error("checkpoint failed", "err", err)
			}
			cancel()
		}
	}
}

// acked returns the newest commit every sender acknowledged, and the Seq
// of its batch.
func (p *pipeline) ackedCommit() (position.Position, uint64, bool) {
	low := ^uint64(0)
	for _, s := range p.senders {
		low = min(low, s.acked.Load())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var pos position.Position
	var seq uint64
	n := 0
	for n < len(p.commits) && p.commits[n].seq <= low {
		pos, seq = p.commits[n].pos, p.commits[n].seq
		// The schema state goes with the position it was in use at;
		// p.base is only touched by checkpoint, on one goroutine at a time.
		p.base.Schemas = p.commits[n].schemas
		p.base.Incremental = p.commits[n].incremental
		n++
	}
	if n == 0 {
		return pos, 0, false
	}
	p.commits = p.commits[n:]
	return pos, seq, true
}

func (p *pipeline) checkpoint(ctx context.Context, final bool) error {
	p.ckMu.Lock()
	defer p.ckMu.Unlock()
	paused, stopAt := p.ctl.checkpointState()
	pos, seq, ok := p.ackedCommit()
	if ok {
		p.base.Plugins = pluginStates(p.handlers, p.senders, seq)
		p.saved = pos
		p.stats.setAcked(pos)
	} else if !final || (p.saved.IsZero() && !paused && stopAt == "") {
		return nil
	}
	return p.save(ctx, paused, stopAt)
}

// start durably records pos, where a task without a checkpoint begins to
// stream, before the first event is read: a restart before the first
// commit is acknowledged (SIGTERM, kill -9, a plugin failing on the first
// transaction) resumes at pos instead of resolving the configured start
// ("latest", a time, a GTID set) anew and skipping what was committed in
// between. It does nothing once a position was saved.
func (p *pipeline) start(ctx context.Context, pos position.Position) error {
	p.ckMu.Lock()
	defer p.ckMu.Unlock()
	if !p.saved.IsZero() {
		return nil
	}
	paused, stopAt := p.ctl.checkpointState()
	p.saved = pos
	if err := p.save(ctx, paused, stopAt); err != nil {
		p.saved = position.Position{}
		return err
	}
	p.stats.setAcked(pos)
	return nil
}

// save writes p.saved with the operator state; ckMu is held.
func (p *pipeline) save(ctx context.Context, paused bool, stopAt string) error {
	cp := p.base
	cp.Task = p.cfg.Name
	cp.Position = p.saved
	cp.Start = p.cfg.Start.String()
	cp.Paused, cp.StopAt = paused, stopAt
	cp.Saved = time.Now().UTC()
	if err := p.store.Save(ctx, &cp); err != nil {
		return fmt.Errorf("task %s: save checkpoint: %w", p.cfg.Name, err)
	}
	p.stats.checkpointed(cp.Saved)
	return nil
}
