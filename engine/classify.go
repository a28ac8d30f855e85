package engine

import (
	"errors"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Server error codes that mean the source refuses the task until someone
// changes its configuration or the source's.
const (
	erDBAccessDenied       = 1044 // ER_DBACCESS_DENIED_ERROR
	erAccessDenied         = 1045 // ER_ACCESS_DENIED_ERROR
	erHostIsBlocked        = 1129 // ER_HOST_IS_BLOCKED
	erHostNotPrivileged    = 1130 // ER_HOST_NOT_PRIVILEGED
	erTableAccessDenied    = 1142 // ER_TABLEACCESS_DENIED_ERROR
	erColumnAccessDenied   = 1143 // ER_COLUMNACCESS_DENIED_ERROR
	erSpecificAccessDenied = 1227 // ER_SPECIFIC_ACCESS_DENIED_ERROR
	erAccountLocked        = 3118 // ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL)
	erPasswordExpired      = 1820 // ER_MUST_CHANGE_PASSWORD
	erUserLimitReached     = 1226 // ER_USER_LIMIT_REACHED
)

// refusalOf classifies err, a failure of one connection to source: a
// *SourceRefusedError when the source refused the task for a reason only a
// configuration change cures, else nil (a transient failure: network,
// restart, timeout).
func refusalOf(err error, source string) *SourceRefusedError {
	var re *SourceRefusedError
	if errors.As(err, &re) {
		return re
	}
	var me *mysql.MyError
	if !errors.As(err, &me) {
		return nil
	}
	var fix string
	switch me.Code {
	case erAccessDenied:
		fix = "check the source's user and password (password_env / password_file) and that the user may connect from this host"
	case erHostNotPrivileged:
		fix = "create the user for the host Puma connects from"
	case erHostIsBlocked:
		fix = "run FLUSH HOSTS on the source and raise max_connect_errors"
	case erAccountLocked:
		fix = "unlock the account: ALTER USER ... ACCOUNT UNLOCK"
	case erPasswordExpired:
		fix = "set a new password for the user: ALTER USER ... IDENTIFIED BY ..."
	case erUserLimitReached:
		fix = "raise the user's resource limits (MAX_USER_CONNECTIONS and the like)"
	case erDBAccessDenied, erTableAccessDenied, erColumnAccessDenied, erSpecificAccessDenied:
		fix = "grant the privileges `puma check` lists: REPLICATION SLAVE, BINLOG MONITOR (MariaDB) or REPLICATION CLIENT (MySQL), and SELECT for schema = \"live\""
	case mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG:
		if !strings.Contains(me.Message, "same server_uuid/server_id") {
			return nil
		}
		fix = "choose a replica_server_id no other replica of the source uses"
	default:
		return nil
	}
	return &SourceRefusedError{Source: source, Fix: fix, Err: err}
}
