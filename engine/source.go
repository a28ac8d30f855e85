package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// dialTimeout bounds connecting and authenticating to a source.
const dialTimeout = 10 * time.Second

// connect opens a SQL connection to src.
func connect(ctx context.Context, src Source) (*client.Conn, error) {
	tlsConf, err := src.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Addr, err)
	}
	// The handshake names the connection's character set by a collation
	// id; go-mysql's default (255, utf8mb4_0900_ai_ci) is MySQL 8's, which
	// MariaDB does not know and answers with its own default, latin1:
	// names and text sent in queries would then be misread. Both know 45.
	opts := []client.Option{func(c *client.Conn) error { return c.SetCollation("utf8mb4_general_ci") }}
	if tlsConf != nil {
		opts = append(opts, func(c *client.Conn) error { c.SetTLSConfig(tlsConf); return nil })
	}
	dialer := &net.Dialer{Timeout: dialTimeout}
	conn, err := client.ConnectWithDialer(ctx, "tcp", src.Addr, src.User, src.Password.Reveal(), "", dialer.DialContext, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s as %s: %w", src.Addr, src.User, err)
	}
	return conn, nil
}

// serverInfo is what Puma learns about a source on each connection.
type serverInfo struct {
	Addr            string
	Flavor          string // mariadb | mysql
	Version         string
	ServerID        uint32
	ServerUUID      string
	LogBin          bool
	BinlogFormat    string
	RowImage        string
	RowMetadata     string // empty when the server predates the variable
	RowValueOptions string // MySQL only
	LogSlaveUpdates bool
	GTIDMode        string // MySQL only
	Collations      map[uint64]string
}

func queryString(conn *client.Conn, q string) (string, error) {
	r, err := conn.Execute(q)
	if err != nil {
		return "", err
	}
	if r.RowNumber() == 0 {
		return "", nil
	}
	v, err := r.GetString(0, 0)
	if err != nil {
		return "", err
	}
	return v, nil
}

func inspect(conn *client.Conn, src Source) (*serverInfo, error) {
	info := &serverInfo{Addr: src.Addr, Flavor: src.Flavor}
	r, err := conn.Execute("SELECT @@version, @@version_comment, @@server_id, @@log_bin, @@binlog_format, @@binlog_row_image, @@log_slave_updates")
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", src.Addr, err)
	}
	row := func(i int) string { s, _ := r.GetString(0, i); return s }
	info.Version = row(0)
	if info.Flavor == "" {
		info.Flavor = mysql.MySQLFlavor
		if strings.Contains(strings.ToLower(info.Version+" "+row(1)), "mariadb") {
			info.Flavor = mysql.MariaDBFlavor
		}
	}
	id, err := strconv.ParseUint(row(2), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: server_id %q: %w", src.Addr, row(2), err)
	}
	info.ServerID = uint32(id)
	info.LogBin = row(3) == "1" || strings.EqualFold(row(3), "ON")
	info.BinlogFormat = strings.ToUpper(row(4))
	info.RowImage = strings.ToUpper(row(5))
	info.LogSlaveUpdates = row(6) == "1" || strings.EqualFold(row(6), "ON")
	type serverVar struct {
		name string
		dst  *string
	}
	vars := []serverVar{{"binlog_row_metadata", &info.RowMetadata}}
	if info.Flavor == mysql.MySQLFlavor {
		vars = append(vars, serverVar{"server_uuid", &info.ServerUUID},
			serverVar{"binlog_row_value_options", &info.RowValueOptions}, serverVar{"gtid_mode", &info.GTIDMode})
	}
	for _, v := range vars {
		if *v.dst, err = variable(conn, v.name); err != nil {
			return nil, fmt.Errorf("inspect %s: @@%s: %w", src.Addr, v.name, err)
		}
	}
	info.RowMetadata = strings.ToUpper(info.RowMetadata)
	cr, err := conn.Execute("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL")
	if err != nil {
		return nil, fmt.Errorf("inspect %s: collations: %w", src.Addr, err)
	}
	info.Collations = make(map[uint64]string, cr.RowNumber())
	for i := range cr.RowNumber() {
		id, err1 := cr.GetUint(i, 0)
		cs, err2 := cr.GetString(i, 1)
		if err1 == nil && err2 == nil {
			info.Collations[id] = cs
		}
	}
	return info, nil
}

// variable returns the server variable name, or "" when the server
// predates it. Any other failure is an error: a connection lost in the
// middle of inspect must not pass for a server lacking the variable, which
// preflight would then refuse for good (binlog_row_metadata unset fails
// the task) instead of reconnecting.
func variable(conn *client.Conn, name string) (string, error) {
	v, err := queryString(conn, "SELECT @@"+name)
	var me *mysql.MyError
	if errors.As(err, &me) && me.Code == mysql.ER_UNKNOWN_SYSTEM_VARIABLE {
		return "", nil
	}
	return v, err
}

// masterStatus returns the server's current binary log file and position.
func masterStatus(conn *client.Conn) (file string, pos uint32, gtid string, err error) {
	r, err := conn.Execute("SHOW MASTER STATUS")
	if err != nil {
		if r, err = conn.Execute("SHOW BINARY LOG STATUS"); err != nil {
			return "", 0, "", fmt.Errorf("show master status: %w", err)
		}
	}
	if r.RowNumber() == 0 {
		return "", 0, "", fmt.Errorf("show master status: no rows: binary logging is off")
	}
	file, _ = r.GetString(0, 0)
	p, _ := r.GetUint(0, 1)
	if len(r.Fields) >= 5 {
		gtid, _ = r.GetString(0, 4) // MySQL: Executed_Gtid_Set
	}
	return file, uint32(p), strings.ReplaceAll(gtid, "\n", ""), nil
}

// binaryLogs lists the server's binary log files, oldest first.
func binaryLogs(conn *client.Conn) ([]string, error) {
	r, err := conn.Execute("SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("show binary logs: %w", err)
	}
	files := make([]string, 0, r.RowNumber())
	for i := range r.RowNumber() {
		f, _ := r.GetString(i, 0)
		files = append(files, f)
	}
	return files, nil
}

// mariadbGTIDAt returns MariaDB's GTID position at file:pos.
func mariadbGTIDAt(conn *client.Conn, file string, pos uint32) (string, error) {
	r, err := conn.Execute("SELECT BINLOG_GTID_POS(?, ?)", file, pos)
	if err != nil {
		return "", fmt.Errorf("binlog_gtid_pos(%s, %d): %w", file, pos, err)
	}
	s, _ := r.GetString(0, 0)
	return s, nil
}

// tlsConfigFor is used by the binlog syncer, which wants the config
// directly.
func tlsConfigFor(src Source) (*tls.Config, error) { return src.TLSConfig() }
