// Command rowcount is an example stateful handler: it counts each table's
// row changes in the kv capability and adds the running count to every
// row change as a row_count column (in the after image; in the before
// image of a delete). The count survives restarts exactly: kv state is
// saved with the checkpoint, so after a crash the batches delivered again
// are counted from the state the checkpoint holds, and a redelivered
// change carries the same row_count as the first time.
//
// The state is one key per table, "rows/<db>.<table>", holding a
// little-endian uint64: examples/rowcount/c, the same plugin in C, shares
// it.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o rowcount.wasm ./examples/rowcount
//
//	[[task.handler]]
//	plugin = "rowcount.wasm"
//	grants = { kv = true }
package main

import (
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/kv"
)

func init() {
	sdk.OutputSchema(func(in *sdk.Table, out *sdk.Schema) {
		out.Add("row_count", sdk.KindUint)
	})
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		switch r.Op() {
		case sdk.OpInsert, sdk.OpUpdate, sdk.OpDelete, sdk.OpRead:
		default:
			return sdk.Keep() // DDL and TRUNCATE change no rows
		}
		// Read the count from kv for every row, never from a variable: a
		// failed batch's writes are discarded, a variable's would stay.
		key := "rows/" + r.Table().FullName()
		n, err := kv.GetUint64(key)
		if err != nil {
			return sdk.Fail(sdk.CodeHost, err.Error())
		}
		n++
		if err := kv.PutUint64(key, n); err != nil {
			return sdk.Fail(sdk.CodeHost, err.Error())
		}
		r.Set("row_count", sdk.Uint(n))
		return sdk.Keep()
	})
}

func main() {}
