// Command keep is the empty handler of the benchmarks: it keeps every row.
package main

import "github.com/pumacdc/puma/sdk"

func init() { sdk.Handler(func(*sdk.Row) sdk.Verdict { return sdk.Keep() }) }

func main() {}
