package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pumacdc/puma/engine"
)

// Pos is a binary-log position: the file and the offset after an event.
type Pos struct {
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
}

func (p Pos) String() string { return p.File + ":" + strconv.FormatUint(uint64(p.Pos), 10) }

// AtOrAfter reports whether p is at or past q. Binary-log file names share
// a base and a zero-padded sequence number, so they order as strings.
func (p Pos) AtOrAfter(q Pos) bool {
	if p.File != q.File {
		return p.File > q.File
	}
	return p.Pos >= q.Pos
}

// ParsePos parses "file:pos".
func ParsePos(s string) (Pos, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return Pos{}, fmt.Errorf("position %q: want file:pos", s)
	}
	n, err := strconv.ParseUint(s[i+1:], 10, 32)
	if err != nil {
		return Pos{}, fmt.Errorf("position %q: %w", s, err)
	}
	return Pos{File: s[:i], Pos: uint32(n)}, nil
}

// Probe watches a run: it counts rows, samples lag, and closes Done when
// every consumer it watches has reached the end position. It is safe for
// concurrent use.
type Probe struct {
	// lag enables lag sampling from TSColumn (the steady workload).
	lag   bool
	rows  atomic.Uint64
	first atomic.Int64 // unix nanos of the first rows counted

	mu   sync.Mutex
	end  *Pos  // nil until known
	last []Pos // per consumer, the newest position it finished
	lags []time.Duration
	once sync.Once
	done chan struct{}
	// at is when the end was reached; stop is called then (to read the
	// CPU clock and stop the profiler) before Done is closed.
	at   time.Time
	stop func()
}

// NewProbe returns a probe for consumers consumers; end may be nil when the
// end is not known yet (see SetEnd).
func NewProbe(consumers int, end *Pos, lag bool, stop func()) *Probe {
	return &Probe{lag: lag, end: end, last: make([]Pos, consumers), done: make(chan struct{}), stop: stop}
}

// Done is closed once the end is reached.
func (p *Probe) Done() <-chan struct{} { return p.done }

// At returns when the end was reached.
func (p *Probe) At() time.Time { return p.at }

// Rows returns the rows counted.
func (p *Probe) Rows() uint64 { return p.rows.Load() }

// SetEnd sets the end position, which may already have been reached.
func (p *Probe) SetEnd(end Pos) {
	p.mu.Lock()
	p.end = &end
	p.check()
	p.mu.Unlock()
}

func (p *Probe) addRows(n int) {
	if n > 0 && p.rows.Add(uint64(n)) == uint64(n) {
		p.first.Store(time.Now().UnixNano())
	}
}

// First returns when the first rows were counted (zero if none were).
func (p *Probe) First() time.Time {
	if ns := p.first.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// addLag records the lag of a row whose TSColumn holds ts, a UTC
// DATETIME(6) as go-mysql renders it, acknowledged at now.
func (p *Probe) addLag(ts string, now time.Time) {
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", ts, time.UTC)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.lags = append(p.lags, now.Sub(t))
	p.mu.Unlock()
}

// Lags returns the lag samples.
func (p *Probe) Lags() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.lags...)
}

// reached records that consumer i finished everything up to pos and
// reports whether the run is over.
func (p *Probe) reached(i int, pos Pos) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last[i] = pos
	return p.check()
}

func (p *Probe) check() bool {
	if p.end == nil {
		return false
	}
	for _, l := range p.last {
		if !l.AtOrAfter(*p.end) {
			return false
		}
	}
	p.once.Do(func() {
		p.at = time.Now()
		if p.stop != nil {
			p.stop()
		}
		close(p.done)
	})
	return true
}

// probeSender wraps a sender: once the inner sender accepted a batch it
// counts the batch's rows (sender 0 only), samples lag, and reports the
// commit position to the probe.
type probeSender struct {
	p     *Probe
	i     int
	inner engine.Sender
	// tsCol caches the index of TSColumn per table version (-1: none).
	tsCol map[*engine.Table]int
}

func (s *probeSender) Send(ctx context.Context, b *engine.Batch) error {
	if err := s.inner.Send(ctx, b); err != nil {
		return err
	}
	s.delivered(b)
	return nil
}

// SendGroup passes a group on when the inner sender takes groups, so that
// the probe measures group commit as cmd/puma runs it.
func (s *probeSender) SendGroup(ctx context.Context, g []*engine.Batch) error {
	gs, ok := s.inner.(engine.GroupSender)
	if !ok {
		return fmt.Errorf("bench: %w", errors.ErrUnsupported)
	}
	if err := gs.SendGroup(ctx, g); err != nil {
		return err
	}
	for _, b := range g {
		s.delivered(b)
	}
	return nil
}

// Prepare passes on the work the inner sender does ahead of its calls
// (engine.Preparer), as cmd/puma's pipeline has it done.
func (s *probeSender) Prepare(b *engine.Batch) {
	if p, ok := s.inner.(engine.Preparer); ok {
		p.Prepare(b)
	}
}

// Positioned passes on whether the inner sender keeps its own position
// (engine.PositionedSender), so that the pipeline treats it as cmd/puma's
// does: whole transactions, skipping what its destination holds.
func (s *probeSender) Positioned() bool {
	ps, ok := s.inner.(engine.PositionedSender)
	return ok && ps.Positioned()
}

// delivered counts b, which the inner sender accepted.
func (s *probeSender) delivered(b *engine.Batch) {
	if s.i == 0 {
		n := 0
		for j := range b.Changes {
			if b.Changes[j].Op != engine.OpDDL {
				n++
			}
		}
		s.p.addRows(n)
		if s.p.lag {
			s.sampleLag(b)
		}
	}
	// A snapshot's batches commit at its point with progress attached:
	// only the batch that ends the snapshot counts as reaching it.
	if b.Commit != nil && b.Commit.Snapshot == nil {
		s.p.reached(s.i, Pos{File: b.Commit.File, Pos: b.Commit.Pos})
	}
}

func (s *probeSender) sampleLag(b *engine.Batch) {
	now := time.Now()
	for j := range b.Changes {
		c := &b.Changes[j]
		if c.Table == nil || c.After == nil {
			continue
		}
		i, ok := s.tsCol[c.Table]
		if !ok {
			i = -1
			for k := range c.Table.Columns {
				if c.Table.Columns[k].Name == TSColumn {
					i = k
				}
			}
			s.tsCol[c.Table] = i
		}
		if i >= 0 {
			if ts, ok := c.After[i].(string); ok {
				s.p.addLag(ts, now)
			}
		}
	}
}

func (s *probeSender) Close() error { return s.inner.Close() }
