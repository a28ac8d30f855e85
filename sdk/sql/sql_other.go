//go:build !wasip1

package sql

import (
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

func do(op wire.SQLOp, target string, msg []byte) ([]byte, error) {
	if host.SQL == nil {
		return nil, host.Err("sql: "+opName(op)+" on "+target, wire.ErrnoDenied, "no database outside Wasm: set one with sdktest.SQL")
	}
	q, err := wire.ParseSQLRequest(msg)
	if err != nil {
		return nil, host.Err("sql: "+opName(op)+" on "+target, wire.ErrnoInvalid, "malformed request message "+err.Error())
	}
	return host.SQL(&q)
}
