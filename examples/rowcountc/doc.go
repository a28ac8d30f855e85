// Package rowcountc holds examples/rowcount written in C (rowcount.c),
// built from source by its test with clang and wasi-libc: proof that
// hostabi/ABI.md is enough to write a plugin without the Go SDK. See
// README.md.
package rowcountc
