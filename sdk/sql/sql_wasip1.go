//go:build wasip1

package sql

import (
	"errors"
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

//go:wasmimport puma sql_call
//go:noescape
func sqlCall(ptr unsafe.Pointer, n uint32) int64

//go:wasmimport puma sql_result
//go:noescape
func sqlResult(ptr unsafe.Pointer, n uint32) int32

var res []byte

func do(op wire.SQLOp, target string, msg []byte) ([]byte, error) {
	n := sqlCall(unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg)))
	if n < 0 {
		return nil, host.Fail("sql: "+opName(op)+" on "+target, n)
	}
	if int64(cap(res)) < n {
		res = make([]byte, n)
	}
	res = res[:n]
	if n == 0 {
		return res, nil
	}
	if got := sqlResult(unsafe.Pointer(unsafe.SliceData(res)), uint32(n)); int64(got) != n {
		return nil, errors.New("sql: the host's result changed size")
	}
	return res, nil
}
