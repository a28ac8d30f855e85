package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

// heartbeatTable is the table a task writes heartbeat rows to (its
// heartbeat_table), read back from the binary log to measure end-to-end
// lag with microsecond precision: from the row's UTC_TIMESTAMP(6) to the
// moment every sender acknowledged its transaction.
type heartbeatTable struct {
	db, table, task string
}

func newHeartbeatTable(cfg TaskConfig) *heartbeatTable {
	db, table, ok := strings.Cut(cfg.HeartbeatTable, ".")
	if !ok {
		return nil
	}
	return &heartbeatTable{db: db, table: table, task: cfg.Name}
}

func (h *heartbeatTable) is(db, table string) bool {
	return h != nil && db == h.db && table == h.table
}

// observe returns the heartbeat time of this task's row in img, if it is
// one.
func (h *heartbeatTable) observe(t *Table, img []any) (time.Time, bool) {
	var task, ts any
	for i := range t.Columns {
		switch t.Columns[i].Name {
		case "task":
			task = img[i]
		case "ts":
			ts = img[i]
		}
	}
	if s, ok := task.(string); !ok || s != h.task {
		return time.Time{}, false
	}
	s, ok := ts.(string)
	if !ok {
		return time.Time{}, false
	}
	at, err := time.ParseInLocation("2006-01-02 15:04:05.999999", s, time.UTC)
	return at, err == nil
}

// heartbeats writes this task's heartbeat row every HeartbeatInterval to
// the source being read, until ctx ends. Failures are logged when they
// start and when they stop, not at every tick.
func (t *Task) heartbeats(ctx context.Context) {
	h := newHeartbeatTable(t.cfg)
	tick := time.NewTicker(t.cfg.HeartbeatInterval)
	defer tick.Stop()
	var conn *client.Conn
	var connSrc *Source
	var failing string
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	table := quoteIdent(h.db) + "." + quoteIdent(h.table)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		src := t.current.Load()
		if src == nil {
			continue
		}
		err := func() error {
			if conn != nil && connSrc != src {
				conn.Close()
				conn = nil
			}
			if conn == nil {
				c, err := connect(ctx, *src)
				if err != nil {
					return err
				}
				for _, q := range []string{
					"CREATE DATABASE IF NOT EXISTS " + quoteIdent(h.db),
					"CREATE TABLE IF NOT EXISTS " + table + " (task VARCHAR(64) NOT NULL PRIMARY KEY, ts DATETIME(6) NOT NULL)",
				} {
					if _, err := c.Execute(q); err != nil {
						c.Close()
						return fmt.Errorf("%s: %w", q, err)
					}
				}
				conn, connSrc = c, src
			}
			if _, err := conn.Execute("REPLACE INTO "+table+" (task, ts) VALUES (?, UTC_TIMESTAMP(6))", h.task); err != nil {
				conn.Close()
				conn = nil
				return err
			}
			return nil
		}()
		switch {
		case err != nil && failing != err.Error():
			failing = err.Error()
			t.log.Warn("heartbeat write failed", "table", t.cfg.HeartbeatTable, "source", src.Addr, "err", err)
		case err == nil && failing != "":
			failing = ""
			t.log.Info("heartbeat writes resumed", "table", t.cfg.HeartbeatTable)
		}
	}
}
