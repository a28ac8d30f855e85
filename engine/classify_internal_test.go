package engine

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

func TestRefusalOf(t *testing.T) {
	for _, tt := range []struct {
		name    string
		err     error
		refused bool
	}{
		{"access denied", mysql.NewError(erAccessDenied, "Access denied for user 'cdc'@'localhost' (using password: YES)"), true},
		{"no replication privilege", mysql.NewError(erSpecificAccessDenied, "Access denied; you need (at least one of) the REPLICATION SLAVE privilege(s)"), true},
		{"database denied", fmt.Errorf("connect: %w", mysql.NewError(erDBAccessDenied, "Access denied for user 'cdc' to database 'x'")), true},
		{"replica id in use", mysql.NewError(mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG, "A slave with the same server_uuid/server_id as this slave has connected to the master"), true},
		{"purged log is another kind of fatal", mysql.NewError(mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG, "Could not find first log file name in binary log index file"), false},
		{"server shutting down", mysql.NewError(1053, "Server shutdown in progress"), false},
		{"connection reset", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), false},
		{"too many connections", mysql.NewError(1040, "Too many connections"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := refusalOf(tt.err, "db:3306")
			if (got != nil) != tt.refused {
				t.Fatalf("refusalOf(%v) = %v, refused want %v", tt.err, got, tt.refused)
			}
			if got != nil && (!errors.Is(got, tt.err) || got.Fix == "") {
				t.Fatalf("refusal %v does not wrap the server's error or lacks a fix", got)
			}
		})
	}
}
