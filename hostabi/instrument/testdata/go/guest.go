// Command guest is a stock Go wasip1 reactor built by the tests
// (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared) to instrument.
package main

import (
	"sort"
	"strconv"
)

var sink uint64

// spin never returns: the loop the host must interrupt.
//
//go:wasmexport spin
func spin() {
	for {
		sink++
	}
}

//go:wasmexport spins
func spins() uint64 { return sink }

// fib recurses without loops.
//
//go:wasmexport fib
func fib(n int32) int32 {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

// work allocates (so the guest's own GC runs), sorts, formats and hashes.
//
//go:wasmexport work
func work(n int32) uint64 {
	xs := make([]int, n)
	x := uint32(12345)
	for i := range xs {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		xs[i] = int(x % 100000)
	}
	sort.Ints(xs)
	seen := map[string]int{}
	var h uint64 = 14695981039346656037
	for _, v := range xs {
		s := strconv.Itoa(v)
		seen[s]++
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
	}
	return h ^ uint64(len(seen))
}

func main() {}
