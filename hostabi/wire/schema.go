package wire

import "strconv"

// SchemaColumn is what the envelope's schema block says of a column.
type SchemaColumn struct {
	Name     string
	Kind     Kind
	SQLType  uint8
	Meta     uint16
	Unsigned bool
	Nullable bool
	Values   []string
}

// Binary-log type codes the schema block tells apart.
const (
	sqlTiny     = 1
	sqlShort    = 2
	sqlLong     = 3
	sqlLongLong = 8
	sqlInt24    = 9
)

// AppendEnvelopeSchema appends the schema block of the row-change
// envelopes of task's db.table (envelope = "with_schema"), Kafka Connect's
// JSON converter's form as Debezium fills it: a struct of before, after
// (the columns), source, transaction, op, ts_ms, ts_us, ts_ns and puma.
// key lists the indexes of the key columns.
func AppendEnvelopeSchema(dst []byte, task, db, table string, cols []SchemaColumn, key []int, f EnvelopeFlags) []byte {
	prefix := task + "." + db + "." + table
	dst = append(dst, `{"type":"struct","fields":[`...)
	for _, field := range [2]string{"before", "after"} {
		dst = appendStruct(dst, cols, nil, f)
		dst = append(dst, `,"optional":true,"name":`...)
		dst = AppendJSONString(dst, prefix+".Value")
		dst = append(dst, `,"field":"`+field+`"},`...)
	}
	dst = append(dst, `{"type":"struct","fields":[`+
		`{"type":"string","optional":false,"field":"version"},`+
		`{"type":"string","optional":false,"field":"connector"},`+
		`{"type":"string","optional":false,"field":"name"},`+
		`{"type":"int64","optional":false,"field":"ts_ms"},`+
		`{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,last,false,incremental"},"default":"false","field":"snapshot"},`+
		`{"type":"string","optional":false,"field":"db"},`+
		`{"type":"string","optional":true,"field":"table"},`+
		`{"type":"int64","optional":false,"field":"server_id"},`+
		`{"type":"string","optional":true,"field":"gtid"},`+
		`{"type":"string","optional":false,"field":"file"},`+
		`{"type":"int64","optional":false,"field":"pos"},`+
		`{"type":"int32","optional":false,"field":"row"},`+
		`{"type":"int64","optional":true,"field":"thread"},`+
		`{"type":"string","optional":true,"field":"query"}`+
		`],"optional":false,"name":"io.debezium.connector.mysql.Source","field":"source"},`+
		`{"type":"struct","fields":[`+
		`{"type":"string","optional":false,"field":"id"},`+
		`{"type":"int64","optional":false,"field":"total_order"},`+
		`{"type":"int64","optional":false,"field":"data_collection_order"}`+
		`],"optional":true,"name":"event.block","version":1,"field":"transaction"},`+
		`{"type":"string","optional":false,"field":"op"},`+
		`{"type":"int64","optional":true,"field":"ts_ms"},`+
		`{"type":"int64","optional":true,"field":"ts_us"},`+
		`{"type":"int64","optional":true,"field":"ts_ns"},`+
		`{"type":"struct","fields":[`+
		`{"type":"struct","fields":[`+
		`{"type":"string","optional":false,"field":"id"},`+
		`{"type":"int64","optional":false,"field":"seq"},`+
		`{"type":"int32","optional":true,"field":"part"}`+
		`],"optional":false,"name":"puma.Tx","field":"tx"},`...)
	dst = appendStruct(dst, cols, key, f)
	dst = append(dst, `,"optional":true,"name":`...)
	dst = AppendJSONString(dst, prefix+".Key")
	dst = append(dst, `,"field":"key"},`+
		`{"type":"string","optional":true,"field":"key_kind"}`+
		`],"optional":false,"name":"puma.Puma","field":"puma"}`+
		`],"optional":false,"name":`...)
	dst = AppendJSONString(dst, prefix+".Envelope")
	return append(dst, `,"version":1}`...)
}

// appendStruct appends `{"type":"struct","fields":[…]` (left open) of
// cols, or of the key columns when key is not nil.
func appendStruct(dst []byte, cols []SchemaColumn, key []int, f EnvelopeFlags) []byte {
	dst = append(dst, `{"type":"struct","fields":[`...)
	if key == nil {
		for i := range cols {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendColumnSchema(dst, &cols[i], f)
		}
	} else {
		for n, i := range key {
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = appendColumnSchema(dst, &cols[i], f)
		}
	}
	return append(dst, ']')
}

// appendColumnSchema appends a column's field schema: the Kafka Connect
// type of its values as the envelope writes them, with Debezium's
// semantic name where the value is in Debezium's form.
func appendColumnSchema(dst []byte, c *SchemaColumn, f EnvelopeFlags) []byte {
	typ, name := "string", ""
	var params [][2]string
	micros := f&EnvTimeMicros != 0
	switch c.Kind {
	case KindInt, KindUint:
		typ = intType(c)
	case KindFloat:
		typ = "float32"
	case KindDouble:
		typ = "float64"
	case KindDecimal:
		if f&EnvDecimalDouble != 0 {
			typ = "float64"
		}
		params = [][2]string{{"scale", strconv.Itoa(int(c.Meta & 0xff))}, {"connect.decimal.precision", strconv.Itoa(int(c.Meta >> 8))}}
	case KindBytes, KindGeometry:
		if f&EnvBinaryHex == 0 {
			typ = "bytes"
		}
	case KindDate:
		if micros {
			typ, name = "int32", "io.debezium.time.Date"
		}
	case KindTime:
		if micros {
			typ, name = "int64", "io.debezium.time.MicroTime"
		}
	case KindDateTime:
		if micros {
			typ, name = "int64", "io.debezium.time.MicroTimestamp"
		}
	case KindTimestamp:
		if micros {
			typ, name = "int64", "io.debezium.time.MicroTimestamp"
		} else {
			name = "io.debezium.time.ZonedTimestamp"
		}
	case KindYear:
		typ, name = "int32", "io.debezium.time.Year"
	case KindBit:
		typ = "int64"
	case KindEnum:
		name = "io.debezium.data.Enum"
		params = [][2]string{{"allowed", joinValues(c.Values)}}
	case KindSet:
		name = "io.debezium.data.EnumSet"
		params = [][2]string{{"allowed", joinValues(c.Values)}}
	case KindJSON:
		name = "io.debezium.data.Json"
	}
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","optional":`...)
	dst = strconv.AppendBool(dst, c.Nullable)
	if name != "" {
		dst = append(dst, `,"name":"`...)
		dst = append(dst, name...)
		dst = append(dst, `","version":1`...)
	}
	if len(params) > 0 {
		dst = append(dst, `,"parameters":{`...)
		for i, p := range params {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSONString(dst, p[0])
			dst = append(dst, ':')
			dst = AppendJSONString(dst, p[1])
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"field":`...)
	dst = AppendJSONString(dst, c.Name)
	return append(dst, '}')
}

// intType is Debezium's type of an integer column: the smallest that
// holds every value of its SQL type (BIGINT UNSIGNED included in int64,
// the widest Kafka Connect has).
func intType(c *SchemaColumn) string {
	switch c.SQLType {
	case sqlTiny:
		return "int16"
	case sqlShort:
		if c.Unsigned {
			return "int32"
		}
		return "int16"
	case sqlInt24:
		return "int32"
	case sqlLong:
		if c.Unsigned {
			return "int64"
		}
		return "int32"
	}
	return "int64"
}

func joinValues(vs []string) string {
	var s string
	for i, v := range vs {
		if i > 0 {
			s += ","
		}
		s += v
	}
	return s
}
