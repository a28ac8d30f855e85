package engine

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/pumacdc/puma/engine/checkpoint"
)

// Snapshot progress.
//
// A snapshot, initial or incremental, reports for each table how far it
// has read: its state, the rows read and chunks handed on, estimates of
// the table's rows and chunks, the recent rate and the time left at that
// rate. The estimate of a table's rows is information_schema.TABLES'
// TABLE_ROWS, read once when the snapshot meets the table: it costs the
// source nothing (statistics the server keeps), where SELECT COUNT(*)
// would read the whole table once more before the snapshot reads it. For
// InnoDB it comes from sampled pages and may be off by tens of percent;
// so the estimate is raised to the rows read when those pass it, and
// becomes the rows read when the table is done. Chunks are estimated as
// the estimated rows over snapshot_chunk_rows.
//
// Counts are those of this run of the task: a table resumed after a
// restart (Resumed) counts from where it resumed, so its share read is
// understated and its ETA overstated until it is done.

// Table states of a snapshot (TableProgress.State).
const (
	tablePending   = "pending"
	tableReading   = "reading"
	tableDone      = "done"
	tableCancelled = "cancelled"
)

// progressWindow is how far back the recent rate looks.
const progressWindow = 30 * time.Second

// SnapshotProgress is how far the task's last snapshot has read its
// tables, as /tasks shows it.
type SnapshotProgress struct {
	// Kind is "initial" or "incremental".
	Kind string `json:"kind"`
	// ID names an incremental snapshot's request (its signal row).
	ID      string    `json:"id,omitempty"`
	Started time.Time `json:"started"`
	// Finished is when every table was read, or the snapshot cancelled;
	// zero while it runs.
	Finished  time.Time `json:"finished,omitzero"`
	ChunkRows int       `json:"chunk_rows"`
	// RowsRead and RowsEstimated sum the tables'.
	RowsRead      int64 `json:"rows_read"`
	RowsEstimated int64 `json:"rows_estimated"`
	// RowsPerSecond is the rate over the last 30 seconds.
	RowsPerSecond float64 `json:"rows_per_second"`
	// ETA is the time left, in seconds, for the rows estimated but not
	// read yet at RowsPerSecond; absent while it cannot be told (no rate
	// yet, or the estimates are all read and a table is still reading).
	ETA    *float64        `json:"eta_seconds,omitempty"`
	Tables []TableProgress `json:"tables"`
}

// TableProgress is one table of a snapshot.
type TableProgress struct {
	Table string `json:"table"`
	// State is pending, reading, done or (an incremental snapshot
	// cancelled before reaching the table's end) cancelled.
	State    string `json:"state"`
	RowsRead int64  `json:"rows_read"`
	// RowsEstimated is the table's TABLE_ROWS when the snapshot met it,
	// at least RowsRead; RowsRead once done.
	RowsEstimated   int64   `json:"rows_estimated"`
	Chunks          int     `json:"chunks"`
	ChunksEstimated int     `json:"chunks_estimated"`
	RowsPerSecond   float64 `json:"rows_per_second"`
	// ETA is the table's time left in seconds while it is read (see
	// SnapshotProgress.ETA), 0 once done.
	ETA *float64 `json:"eta_seconds,omitempty"`
	// Resumed: the table was partly or wholly read before the task
	// restarted; the counts are since the restart.
	Resumed bool `json:"resumed,omitempty"`
}

// rateSample is a row count at a time.
type rateSample struct {
	at   time.Time
	rows int64
}

// rate keeps the samples of the last progressWindow (the oldest kept is
// the newest at least that old, so that the rate spans the window) and
// returns the rows per second from the oldest to now.
type rate []rateSample

func (r *rate) add(at time.Time, rows int64) {
	*r = append(*r, rateSample{at, rows})
	drop := 0
	for drop+1 < len(*r) && at.Sub((*r)[drop+1].at) >= progressWindow {
		drop++
	}
	*r = append((*r)[:0], (*r)[drop:]...)
}

func (r rate) perSecond(now time.Time) float64 {
	if len(r) < 2 {
		return 0
	}
	d := now.Sub(r[0].at).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(r[len(r)-1].rows-r[0].rows) / d
}

// tableTrack is a table's progress and rate.
type tableTrack struct {
	TableProgress
	estimated bool // RowsEstimated came from the server
	rate      rate
}

// snapTracker follows the task's snapshots. Its methods are safe for
// concurrent use: the snapshot or stream reader reports, the admin API
// and the metrics read.
type snapTracker struct {
	mu     sync.Mutex
	now    func() time.Time
	cur    *SnapshotProgress      // Tables unused: see tabs
	tabs   []*tableTrack          // the current snapshot's, in reading order
	byName map[string]*tableTrack // tabs by name
	rate   rate                   // over all its tables
	// mark is when the last chunk was read or table finished: a table's
	// first chunk was read after it.
	mark time.Time
	// last keeps every table's latest progress by kind and name, for the
	// metrics, across snapshots.
	last map[[2]string]*tableTrack
}

func newSnapTracker(now func() time.Time) *snapTracker {
	return &snapTracker{now: now, last: map[[2]string]*tableTrack{}}
}

// begin starts following a snapshot of tables: those in done are done,
// resumed is the table it resumes within ("": none).
func (s *snapTracker) begin(kind, id string, chunkRows int, tables, done []string, resumed string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beginLocked(kind, id, chunkRows, tables, done, resumed)
}

func (s *snapTracker) beginLocked(kind, id string, chunkRows int, tables, done []string, resumed string) {
	now := s.now()
	s.cur = &SnapshotProgress{Kind: kind, ID: id, Started: now, ChunkRows: chunkRows}
	s.tabs, s.byName = nil, make(map[string]*tableTrack, len(tables))
	s.rate = rate{{now, 0}}
	s.mark = now
	for _, name := range tables {
		tt := s.addLocked(name)
		switch {
		case slices.Contains(done, name):
			tt.State, tt.Resumed = tableDone, true
		case name == resumed:
			tt.State, tt.Resumed = tableReading, true
			tt.rate = rate{{now, 0}}
		}
	}
}

// addLocked adds a pending table to the current snapshot.
func (s *snapTracker) addLocked(name string) *tableTrack {
	tt := &tableTrack{TableProgress: TableProgress{Table: name, State: tablePending}}
	s.tabs = append(s.tabs, tt)
	s.byName[name] = tt
	s.last[[2]string{s.cur.Kind, name}] = tt
	return tt
}

func (s *snapTracker) findLocked(name string) *tableTrack { return s.byName[name] }

// unestimated lists the current snapshot's tables with no estimate yet.
func (s *snapTracker) unestimated() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, tt := range s.tabs {
		if !tt.estimated {
			out = append(out, tt.Table)
		}
	}
	return out
}

// estimate sets the estimated rows of tables ("db.table").
func (s *snapTracker) estimate(rows map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tt := range s.tabs {
		if n, ok := rows[tt.Table]; ok && !tt.estimated {
			tt.estimated = true
			tt.RowsEstimated = max(tt.RowsEstimated, n)
		}
	}
}

// chunk counts a chunk of rows read from table.
func (s *snapTracker) chunk(table string, rows int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tt := s.findLocked(table)
	if tt == nil || s.cur == nil {
		return
	}
	now := s.now()
	if tt.State == tablePending {
		tt.State = tableReading
		tt.rate = rate{{s.mark, 0}}
	}
	s.mark = now
	tt.Chunks++
	tt.RowsRead += int64(rows)
	tt.RowsEstimated = max(tt.RowsEstimated, tt.RowsRead)
	tt.rate.add(now, tt.RowsRead)
	s.cur.RowsRead += int64(rows)
	s.rate.add(now, s.cur.RowsRead)
}

// tableDone records that table was read to its end.
func (s *snapTracker) tableDone(table string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tt := s.findLocked(table); tt != nil {
		s.doneLocked(tt)
		s.mark = s.now()
	}
}

func (s *snapTracker) doneLocked(tt *tableTrack) {
	tt.State = tableDone
	if !tt.Resumed {
		tt.RowsEstimated = tt.RowsRead
	}
	tt.rate = nil
}

// end records that the snapshot finished: cancelled, or every table read.
func (s *snapTracker) end(cancelled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(cancelled)
}

func (s *snapTracker) endLocked(cancelled bool) {
	if s.cur == nil || !s.cur.Finished.IsZero() {
		return
	}
	for _, tt := range s.tabs {
		switch {
		case tt.State == tableDone:
		case cancelled:
			tt.State, tt.rate = tableCancelled, nil
		default:
			s.doneLocked(tt)
		}
	}
	s.cur.Finished = s.now()
}

// incremental follows an incremental snapshot's progress as the stream
// reader hands it on (nil: none runs): a request not followed yet begins,
// a table no longer listed is done, a table added is pending, and when
// none runs any more, the tables not done were cancelled.
func (s *snapTracker) incremental(p *checkpoint.Incremental, chunkRows int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur
	switch {
	case p == nil:
		if cur != nil && cur.Kind == "incremental" {
			s.endLocked(true)
		}
		return
	case cur == nil || cur.Kind != "incremental" || cur.ID != p.ID || !cur.Finished.IsZero():
		resumed := ""
		if p.Key != nil && len(p.Tables) > 0 {
			resumed = p.Tables[0]
		}
		s.beginLocked("incremental", p.ID, chunkRows, p.Tables, nil, resumed)
		return
	}
	for _, tt := range s.tabs {
		if tt.State != tableDone && !slices.Contains(p.Tables, tt.Table) {
			s.doneLocked(tt)
		}
	}
	for _, name := range p.Tables {
		if s.findLocked(name) == nil {
			s.addLocked(name)
		}
	}
}

// snapshot returns the current snapshot's progress, nil if the task has
// run none.
func (s *snapTracker) snapshot() *SnapshotProgress {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil
	}
	now := s.now()
	p := *s.cur
	p.Tables = make([]TableProgress, len(s.tabs))
	p.RowsEstimated = 0
	var left int64
	running, reading := p.Finished.IsZero(), false
	for i, tt := range s.tabs {
		tp := s.tableLocked(tt, now)
		p.Tables[i] = tp
		p.RowsEstimated += tp.RowsEstimated
		if running && (tp.State == tablePending || tp.State == tableReading) {
			left += tp.RowsEstimated - tp.RowsRead
			reading = reading || tp.State == tableReading
		}
	}
	if running {
		p.RowsPerSecond = s.rate.perSecond(now)
		p.ETA = eta(left, p.RowsPerSecond, reading)
	} else {
		p.ETA = new(float64)
	}
	return &p
}

// tableLocked returns tt's progress as of now.
func (s *snapTracker) tableLocked(tt *tableTrack, now time.Time) TableProgress {
	tp := tt.TableProgress
	if s.cur.ChunkRows > 0 {
		tp.ChunksEstimated = max(int((tp.RowsEstimated+int64(s.cur.ChunkRows)-1)/int64(s.cur.ChunkRows)), tp.Chunks)
	}
	switch tp.State {
	case tableReading:
		tp.RowsPerSecond = tt.rate.perSecond(now)
		tp.ETA = eta(tp.RowsEstimated-tp.RowsRead, tp.RowsPerSecond, true)
	case tableDone:
		tp.ETA = new(float64)
		if !tp.Resumed {
			tp.ChunksEstimated = tp.Chunks
		}
	}
	return tp
}

// eta returns the seconds left for left rows at perSecond, nil when that
// cannot be told: no rate, or nothing left by the estimates while a table
// is still being read.
func eta(left int64, perSecond float64, reading bool) *float64 {
	if perSecond <= 0 || left <= 0 && reading {
		return nil
	}
	v := float64(max(left, 0)) / perSecond
	return &v
}

// table returns the latest progress of table in a snapshot of kind.
func (s *snapTracker) table(kind, table string) (TableProgress, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tt := s.last[[2]string{kind, table}]
	if tt == nil || s.cur == nil {
		return TableProgress{}, false
	}
	return s.tableLocked(tt, s.now()), true
}

// rowEstimates reads information_schema.TABLES.TABLE_ROWS of tables
// ("db.table") on conn.
func rowEstimates(conn *client.Conn, tables []string) (map[string]int64, error) {
	if len(tables) == 0 {
		return nil, nil
	}
	var where []string
	for _, name := range tables {
		db, table, _ := strings.Cut(name, ".")
		where = append(where, "(TABLE_SCHEMA = "+sqlText(db)+" AND TABLE_NAME = "+sqlText(table)+")")
	}
	r, err := conn.Execute("SELECT TABLE_SCHEMA, TABLE_NAME, IFNULL(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE " + strings.Join(where, " OR "))
	if err != nil {
		return nil, fmt.Errorf("read the tables' row estimates (information_schema.TABLES): %w", err)
	}
	defer r.Close()
	out := make(map[string]int64, len(tables))
	for i := range r.RowNumber() {
		n, _ := r.GetUint(i, 2)
		out[cellString(r, i, 0)+"."+cellString(r, i, 1)] = int64(n)
	}
	return out, nil
}

// snapshotBegin starts following the initial snapshot of tables, done
// being read already and resumed ("": none) being read when the task
// stopped, and reads their row estimates on conn.
func (t *Task) snapshotBegin(conn *client.Conn, tables, done []string, resumed string) {
	t.stats.snap.begin("initial", "", t.cfg.SnapshotChunkRows, tables, done, resumed)
	t.snapshotEstimate(conn)
	for _, name := range tables {
		t.metrics.snapshotTable("initial", name)
	}
}

// snapshotEstimate reads, on conn, the row estimates of the snapshot's
// tables that have none. An estimate that cannot be read is logged and
// left at 0: the snapshot goes on, its ETA unknown.
func (t *Task) snapshotEstimate(conn *client.Conn) {
	tables := t.stats.snap.unestimated()
	if len(tables) == 0 {
		return
	}
	rows, err := rowEstimates(conn, tables)
	if err != nil {
		t.log.Warn("snapshot progress: no row estimates: ETA unknown", "err", err)
		rows = map[string]int64{}
	}
	for _, name := range tables {
		if _, ok := rows[name]; !ok {
			rows[name] = 0 // asked once
		}
	}
	t.stats.snap.estimate(rows)
}

// snapshotChunk counts a chunk of table ("db.table") that a snapshot of
// kind ("initial" or "incremental") read (read rows) and handed on
// (delivered rows); last says it was the table's last.
func (t *Task) snapshotChunk(kind, table string, read, delivered int, last bool) {
	t.metrics.snapshotChunk(kind, table, delivered)
	t.stats.snap.chunk(table, read)
	if last {
		t.stats.snap.tableDone(table)
	}
}

// incrementalProgress records the incremental snapshot's progress as the
// stream reader hands it on.
func (t *Task) incrementalProgress(p *checkpoint.Incremental) {
	t.stats.setIncremental(p)
	t.stats.snap.incremental(p, t.cfg.SnapshotChunkRows)
	if p != nil {
		for _, name := range p.Tables {
			t.metrics.snapshotTable("incremental", name)
		}
	}
}
