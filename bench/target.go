package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/pumacdc/puma/internal/testdb"
	"github.com/pumacdc/puma/internal/testpg"
)

// A database target is the server the sqlapply variants write to: a
// private PostgreSQL or a second private MariaDB, started once by the
// harness outside the measured process (a real target runs elsewhere
// too). Each run gets a fresh database on it, reached through a
// roundTripProxy that counts the run's round trips.
type dbTarget struct {
	kind string // "postgres" or "mysql", the [targets] kind
	addr string
	user string
	// exec runs a statement outside any run's database; count counts a
	// table's rows in db.
	exec  func(ctx context.Context, stmt string) error
	count func(ctx context.Context, db, table string) (uint64, error)
	close func() error
}

// startTarget starts a private server of kind.
func startTarget(ctx context.Context, kind string) (*dbTarget, error) {
	switch kind {
	case "postgres":
		// Tuned as a database taking a stream of writes would be (the
		// source MariaDB gets a large buffer pool and redo log too): a
		// million narrow rows and their index fit in shared buffers, and
		// no checkpoint, forced by the WAL's size or a timer, falls in a
		// run. Durability is PostgreSQL's default: fsync and
		// synchronous_commit on.
		srv, err := testpg.New(ctx, testpg.Options{Settings: []string{
			"shared_buffers=1GB", "max_wal_size=8GB", "checkpoint_timeout=30min",
		}})
		if err != nil {
			return nil, err
		}
		t := &dbTarget{kind: kind, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Port())), user: "postgres", close: srv.Close}
		dsn := func(db string) string {
			return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", t.addr, db)
		}
		t.exec = func(ctx context.Context, stmt string) error {
			c, err := pgx.Connect(ctx, dsn("postgres"))
			if err != nil {
				return err
			}
			defer c.Close(ctx)
			_, err = c.Exec(ctx, stmt)
			return err
		}
		t.count = func(ctx context.Context, db, table string) (uint64, error) {
			c, err := pgx.Connect(ctx, dsn(db))
			if err != nil {
				return 0, err
			}
			defer c.Close(ctx)
			var n uint64
			err = c.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n)
			return n, err
		}
		return t, nil
	case "mysql":
		srv, err := testdb.New(ctx, testdb.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return nil, err
		}
		t := &dbTarget{kind: kind, addr: srv.Addr(), user: "root", close: srv.Close}
		t.exec = func(ctx context.Context, stmt string) error {
			c, err := dial(ctx, t.addr)
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Execute(stmt)
			return err
		}
		t.count = func(ctx context.Context, db, table string) (uint64, error) {
			c, err := dial(ctx, t.addr)
			if err != nil {
				return 0, err
			}
			defer c.Close()
			r, err := c.Execute("SELECT COUNT(*) FROM `" + db + "`.`" + table + "`")
			if err != nil {
				return 0, err
			}
			return r.GetUint(0, 0)
		}
		return t, nil
	}
	return nil, fmt.Errorf("unknown target kind %q", kind)
}

// roundTripProxy forwards loopback connections to a target and counts
// round trips: a client's turn to speak after the server spoke (or
// first) is one, however many writes it takes and however many
// statements a pipelined batch carries.
type roundTripProxy struct {
	ln     net.Listener
	target string
	trips  atomic.Uint64
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func newRoundTripProxy(target string) (*roundTripProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &roundTripProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *roundTripProxy) Addr() *net.TCPAddr { return p.ln.Addr().(*net.TCPAddr) }

// RoundTrips is the round trips so far, over every connection.
func (p *roundTripProxy) RoundTrips() uint64 { return p.trips.Load() }

func (p *roundTripProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		var clientTurn atomic.Bool // the client spoke last
		p.wg.Add(2)
		go p.pipe(s, c, func() {
			if !clientTurn.Swap(true) {
				p.trips.Add(1)
			}
		})
		go p.pipe(c, s, func() { clientTurn.Store(false) })
	}
}

// pipe copies src to dst, calling spoke before forwarding each read.
func (p *roundTripProxy) pipe(dst, src net.Conn, spoke func()) {
	defer p.wg.Done()
	defer dst.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			spoke()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				src.Close()
			}
			return
		}
	}
}

// Close stops accepting, closes every connection and waits for the
// copies to end.
func (p *roundTripProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
