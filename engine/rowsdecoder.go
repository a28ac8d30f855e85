package engine

import (
	"fmt"

	"github.com/go-mysql-org/go-mysql/replication"
)

// RowsDecoder is the row decoder a task installs on its go-mysql
// BinlogSyncer, on its own: what decoding costs without the reader, the
// handlers and the senders behind it (puma-bench's decode variant sets it
// on a syncer configured as the floor's). A task never uses this type.
//
// A RowsDecoder belongs to one syncer: Decode runs on the syncer's
// reading goroutine, one event at a time. The rows Rows returns are
// immutable and stay valid after later events.
type RowsDecoder struct{ d *rowDecoder }

// NewRowsDecoder returns a decoder for a source of flavor
// (mysql.MariaDBFlavor or mysql.MySQLFlavor) that names charsets by the
// collation ids built into go-mysql, and decodes every table.
func NewRowsDecoder(flavor string) *RowsDecoder {
	return &RowsDecoder{d: newRowDecoder(flavor, nil, nil)}
}

// Decode decodes the rows of e from data; it is a
// BinlogSyncerConfig.RowsEventDecodeFunc.
func (r *RowsDecoder) Decode(e *replication.RowsEvent, data []byte) error {
	return r.d.decode(e, data)
}

// Rows returns the row images Decode left in e, an update's before and
// after images in turn, and an error naming the first value that could
// not be converted. A column whose value depends on the table definition
// (MariaDB's JSON, UUID, INET) holds go-mysql's value, which a task
// converts later.
func (r *RowsDecoder) Rows(e *replication.RowsEvent) ([][]any, error) {
	rows, res := decodedRows(e)
	if res != nil && res.err != nil {
		return rows, fmt.Errorf("decode %s.%s: column %d: %w", e.Table.Schema, e.Table.Table, res.col+1, res.err)
	}
	return rows, nil
}
