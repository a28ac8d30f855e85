package wire

import "strconv"

// TxOrder counts what an envelope encoder rendered of one transaction:
// its events in all (transaction.total_order), per table
// (data_collection_order) and among the changes read from one binary-log
// event (source.row). The host's and the guest's encoders share it, so
// that they count alike.
type TxOrder struct {
	// Total is the number of events counted.
	Total uint32
	// Tables counts them per table, in the order first seen.
	Tables []TableCount
	// file, pos and row locate the last change's event and number the
	// changes read from it.
	file string
	pos  uint32
	row  uint32
}

// TableCount is one table's events in a TxOrder.
type TableCount struct {
	DB, Name string
	N        uint32
}

// Reset starts a new transaction, keeping the table slice's storage.
func (o *TxOrder) Reset() { *o = TxOrder{Tables: o.Tables[:0]} }

// CopyFrom makes o equal to p without sharing p's table slice.
func (o *TxOrder) CopyFrom(p *TxOrder) {
	tables := append(o.Tables[:0], p.Tables...)
	*o = *p
	o.Tables = tables
}

// Next counts an event of db.name and returns its total and per-table
// order, from 1.
func (o *TxOrder) Next(db, name string) (total, table uint32) {
	table = o.Add(db, name, 1)
	return o.Total, table
}

// Add counts n events of db.name and returns the table's count: what n
// calls of Next do, in one.
func (o *TxOrder) Add(db, name string, n uint32) uint32 {
	o.Total += n
	for i := range o.Tables {
		if tc := &o.Tables[i]; tc.DB == db && tc.Name == name {
			tc.N += n
			return tc.N
		}
	}
	o.Tables = append(o.Tables, TableCount{DB: db, Name: name, N: n})
	return n
}

// RowOf numbers a change among those read from the binary-log event at
// file:pos, from 0.
func (o *TxOrder) RowOf(file string, pos uint32) uint32 {
	return o.RowsOf(file, pos, 1)
}

// RowsOf numbers n changes read one after the other from the event at
// file:pos and returns the last one's number: what n calls of RowOf do.
func (o *TxOrder) RowsOf(file string, pos uint32, n uint32) uint32 {
	if pos == o.pos && file == o.file {
		o.row += n
	} else {
		o.file, o.pos, o.row = file, pos, n-1
	}
	return o.row
}

// AppendEndCounts appends an END event's
// `"event_count":N,"data_collections":[…]` for what o counted.
func (o *TxOrder) AppendEndCounts(dst []byte) []byte {
	dst = append(dst, `"event_count":`...)
	dst = strconv.AppendUint(dst, uint64(o.Total), 10)
	dst = append(dst, `,"data_collections":[`...)
	for i, tc := range o.Tables {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"data_collection":`...)
		dst = AppendQualified(dst, tc.DB, tc.Name)
		dst = append(dst, `,"event_count":`...)
		dst = strconv.AppendUint(dst, uint64(tc.N), 10)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// AppendQualified appends "db.name" as a JSON string without building it.
func AppendQualified(dst []byte, db, name string) []byte {
	dst = AppendJSONString(dst, db)
	dst = append(dst[:len(dst)-1], '.')
	mark := len(dst)
	dst = AppendJSONString(dst, name)
	copy(dst[mark:], dst[mark+1:])
	return dst[:len(dst)-1]
}

// AppendProcessingTime appends an envelope's processing time, ns since the
// epoch, as `,"ts_ms":…,"ts_us":…,"ts_ns":…`.
func AppendProcessingTime(dst []byte, ns int64) []byte {
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, ns/1e6, 10)
	dst = append(dst, `,"ts_us":`...)
	dst = strconv.AppendInt(dst, ns/1e3, 10)
	dst = append(dst, `,"ts_ns":`...)
	return strconv.AppendInt(dst, ns, 10)
}
