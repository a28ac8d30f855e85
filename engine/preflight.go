package engine

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// Check is one preflight finding.
type Check struct {
	// Name is what was checked, usually the server variable.
	Name string
	// Status is CheckOK, CheckWarn or CheckFail.
	Status string
	// Detail says what was found.
	Detail string
	// Fix says what to do when Status is not CheckOK.
	Fix string
}

// Check statuses.
const (
	CheckOK   = "ok"
	CheckWarn = "warn"
	CheckFail = "FAIL"
)

// Report is the preflight of one source.
type Report struct {
	Task   string
	Source string
	// ServerID, Flavor and Version describe the server when it could be
	// reached.
	ServerID uint32
	Flavor   string
	Version  string
	Checks   []Check
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == CheckFail {
			return true
		}
	}
	return false
}

// Err returns nil when no check failed, else an error wrapping
// ErrPreflight that lists every failure and its fix.
func (r *Report) Err() error {
	var msgs []string
	for _, c := range r.Checks {
		if c.Status == CheckFail {
			m := c.Name + ": " + c.Detail
			if c.Fix != "" {
				m += " (fix: " + c.Fix + ")"
			}
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("task %s: source %s: %w: %s", r.Task, r.Source, ErrPreflight, strings.Join(msgs, "; "))
}

func (r *Report) add(name, status, detail, fix string) {
	r.Checks = append(r.Checks, Check{Name: name, Status: status, Detail: detail, Fix: fix})
}

// Preflight connects to src and checks, by running statements, that it can
// serve task: binary logging in ROW format with full images and metadata,
// replica settings, server ids and the privileges to dump. It returns the
// report; the error is non-nil only when the report could not be made at
// all. Zero fields of task take their defaults (TaskConfig.WithDefaults).
func Preflight(ctx context.Context, task TaskConfig, src Source) *Report {
	task = task.WithDefaults()
	rep := &Report{Task: task.Name, Source: src.Addr}
	conn, err := connect(ctx, src)
	if err != nil {
		rep.add("connect", CheckFail, err.Error(), "check addr, user and password of the source, and that the server is up")
		return rep
	}
	defer conn.Close()
	info, err := inspect(conn, src)
	if err != nil {
		rep.add("inspect", CheckFail, err.Error(), "")
		return rep
	}
	preflightInfo(rep, task, info)
	preflightReplica(rep, conn, info)
	preflightPeers(rep, conn, task, info)
	preflightPrivileges(ctx, rep, conn, task, src, info)
	return rep
}

func preflightInfo(rep *Report, task TaskConfig, info *serverInfo) {
	rep.ServerID, rep.Flavor, rep.Version = info.ServerID, info.Flavor, info.Version
	if info.LogBin {
		rep.add("log_bin", CheckOK, "ON", "")
	} else {
		rep.add("log_bin", CheckFail, "binary logging is OFF", "start the server with log_bin (e.g. --log-bin=mysql-bin); it cannot be enabled at run time")
	}
	if info.BinlogFormat == "ROW" {
		rep.add("binlog_format", CheckOK, "ROW", "")
	} else {
		rep.add("binlog_format", CheckFail, info.BinlogFormat+", want ROW", "SET GLOBAL binlog_format=ROW, and binlog_format=ROW in the server's config")
	}
	if info.RowImage == "FULL" {
		rep.add("binlog_row_image", CheckOK, "FULL", "")
	} else {
		rep.add("binlog_row_image", CheckFail, info.RowImage+", want FULL", "SET GLOBAL binlog_row_image=FULL, and binlog_row_image=FULL in the server's config")
	}
	switch {
	case info.RowMetadata == "FULL":
		rep.add("binlog_row_metadata", CheckOK, "FULL", "")
	case task.Schema == SchemaLive:
		rep.add("binlog_row_metadata", CheckWarn, orUnset(info.RowMetadata)+": schema = \"live\" reads table definitions from information_schema, which is wrong while Puma lags behind a DDL", "SET GLOBAL binlog_row_metadata=FULL")
	default:
		rep.add("binlog_row_metadata", CheckFail, orUnset(info.RowMetadata)+", want FULL: without it the binary log carries no column names", "SET GLOBAL binlog_row_metadata=FULL, and binlog_row_metadata=FULL in the server's config (MariaDB >= 10.5, MySQL >= 8.0.1); or set schema = \"live\" on the task")
	}
	if info.Flavor == mysql.MySQLFlavor {
		if strings.Contains(strings.ToUpper(info.RowValueOptions), "PARTIAL_JSON") {
			rep.add("binlog_row_value_options", CheckFail, "PARTIAL_JSON: JSON updates are logged as diffs", "SET GLOBAL binlog_row_value_options=''")
		} else {
			rep.add("binlog_row_value_options", CheckOK, orUnset(info.RowValueOptions), "")
		}
	}
	if task.ReplicaServerID == info.ServerID {
		rep.add("replica_server_id", CheckFail, fmt.Sprintf("%d is the source's own server_id", info.ServerID), "choose another replica_server_id for task "+task.Name)
	}
}

func orUnset(s string) string {
	if s == "" {
		return "(not supported by this server)"
	}
	return s
}

func preflightReplica(rep *Report, conn *client.Conn, info *serverInfo) {
	q := "SHOW ALL SLAVES STATUS"
	if info.Flavor == mysql.MySQLFlavor {
		q = "SHOW SLAVE STATUS"
	}
	r, err := conn.Execute(q)
	switch {
	case err != nil && !info.LogSlaveUpdates:
		rep.add("log_slave_updates", CheckWarn, "OFF, and whether the server is a replica is unknown: "+err.Error(), "if it is a replica, set log_slave_updates=ON (server config, restart)")
	case err == nil && r.RowNumber() > 0 && !info.LogSlaveUpdates:
		rep.add("log_slave_updates", CheckFail, "the server is a replica and log_slave_updates is OFF: its binary log lacks what it replicates", "set log_slave_updates=ON in the server's config and restart it")
	case err == nil && r.RowNumber() > 0:
		rep.add("log_slave_updates", CheckOK, "ON (server is a replica)", "")
	default:
		rep.add("log_slave_updates", CheckOK, "server is not a replica", "")
	}
}

func preflightPeers(rep *Report, conn *client.Conn, task TaskConfig, info *serverInfo) {
	r, err := conn.Execute("SHOW SLAVE HOSTS")
	if err != nil {
		rep.add("replica_server_id", CheckWarn, "cannot list connected replicas to check for a duplicate id: "+err.Error(), "GRANT REPLICATION MASTER ADMIN (MariaDB) or REPLICATION SLAVE (MySQL) to the user, or make sure no other replica uses "+strconv.FormatUint(uint64(task.ReplicaServerID), 10))
		return
	}
	idCol := -1
	for i, f := range r.Fields {
		if strings.EqualFold(string(f.Name), "Server_id") {
			idCol = i
		}
	}
	for i := range r.RowNumber() {
		id, _ := r.GetUint(i, idCol)
		if uint32(id) == task.ReplicaServerID {
			host, _ := r.GetString(i, 1)
			rep.add("replica_server_id", CheckFail, fmt.Sprintf("%d is already used by a connected replica (host %q); two replicas with one id disconnect each other forever", task.ReplicaServerID, host), "choose an unused replica_server_id for task "+task.Name)
			return
		}
	}
	if task.ReplicaServerID != info.ServerID {
		rep.add("replica_server_id", CheckOK, fmt.Sprintf("%d is unused", task.ReplicaServerID), "")
	}
}

func preflightPrivileges(ctx context.Context, rep *Report, conn *client.Conn, task TaskConfig, src Source, info *serverInfo) {
	monitor := "BINLOG MONITOR"
	if info.Flavor == mysql.MySQLFlavor {
		monitor = "REPLICATION CLIENT"
	}
	if _, err := binaryLogs(conn); err != nil {
		rep.add("privilege "+monitor, CheckFail, "SHOW BINARY LOGS failed: "+err.Error(), fmt.Sprintf("GRANT %s ON *.* TO '%s'", monitor, src.User))
	} else {
		rep.add("privilege "+monitor, CheckOK, "SHOW BINARY LOGS works", "")
	}
	if !info.LogBin {
		return
	}
	if err := probeDump(ctx, task, src, info); err != nil {
		rep.add("privilege REPLICATION SLAVE", CheckFail, "binary log dump refused: "+err.Error(), fmt.Sprintf("GRANT REPLICATION SLAVE ON *.* TO '%s'", src.User))
	} else {
		rep.add("privilege REPLICATION SLAVE", CheckOK, "binary log dump works", "")
	}
}

// probeDump opens a binary log dump under a throw-away server id (so as not
// to disturb a running task) and reads its first event.
func probeDump(ctx context.Context, task TaskConfig, src Source, info *serverInfo) error {
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := binary.LittleEndian.Uint32(b[:]) | 1<<31
	cfg, err := syncerConfig(task, src, info, id, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	cfg.DumpCommandFlag = replication.BINLOG_DUMP_NON_BLOCK
	s := replication.NewBinlogSyncer(cfg)
	defer s.Close()
	conn, err := connect(ctx, src)
	if err != nil {
		return err
	}
	file, pos, _, err := masterStatus(conn)
	conn.Close()
	if err != nil {
		return err
	}
	st, err := s.StartSync(mysql.Position{Name: file, Pos: pos})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	_, err = st.GetEvent(ctx)
	if err != nil && ctx.Err() == nil && len(st.DumpEvents()) > 0 {
		// The dump ended (it does not block) and go-mysql reported the
		// end before the events it had read, as dump.next knows: the
		// server did send them.
		return nil
	}
	return err
}

// syncerConfig is the go-mysql configuration every dump uses.
func syncerConfig(task TaskConfig, src Source, info *serverInfo, serverID uint32, log *slog.Logger) (replication.BinlogSyncerConfig, error) {
	host, portStr, err := net.SplitHostPort(src.Addr)
	if err != nil {
		return replication.BinlogSyncerConfig{}, fmt.Errorf("source %s: %w", src.Addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return replication.BinlogSyncerConfig{}, fmt.Errorf("source %s: port: %w", src.Addr, err)
	}
	tlsConf, err := tlsConfigFor(src)
	if err != nil {
		return replication.BinlogSyncerConfig{}, err
	}
	readTimeout := task.ReadTimeout
	if readTimeout <= 0 {
		readTimeout = 3 * task.Heartbeat
	}
	return replication.BinlogSyncerConfig{
		ServerID:                serverID,
		Flavor:                  info.Flavor,
		Host:                    host,
		Port:                    uint16(port),
		User:                    src.User,
		Password:                src.Password.Reveal(),
		Localhost:               "puma-" + task.Name,
		Charset:                 "utf8mb4",
		TLSConfig:               tlsConf,
		TimestampStringLocation: time.UTC,
		UseDecimal:              true,
		HeartbeatPeriod:         task.Heartbeat,
		ReadTimeout:             readTimeout,
		DisableRetrySync:        true,
		VerifyChecksum:          true,
		Logger:                  log,
		EventCacheCount:         EventCacheCount,
		Dialer:                  (&net.Dialer{Timeout: dialTimeout}).DialContext,
	}, nil
}

// EventCacheCount bounds the events go-mysql buffers ahead of the reader
// (BinlogSyncerConfig.EventCacheCount). Rows events are at most
// binlog_row_event_max_size (8 KiB by default) each unless a single row is
// larger, and Puma decodes their rows on go-mysql's goroutine, so each
// buffered event holds its decoded rows too: 64 events of narrow rows are
// ~3 600 rows ahead of the reader, while 512 held ~29 000 and cost 8–44
// MiB of peak RSS with no gain in throughput (RATIONALE.md, "go-mysql
// buffers 64 events"). Exported so that the benchmark's floor decodes with
// the same setting.
const EventCacheCount = 64

var errNoSource = errors.New("no source")
