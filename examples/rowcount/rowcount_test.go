package main_test

import (
	"os"
	"testing"

	"github.com/pumacdc/puma/examples/internal/exampletest"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	hostabitest.Cleanup()
	os.Exit(code)
}

func TestRowCount(t *testing.T) {
	t.Run("go", func(t *testing.T) {
		exampletest.CheckRowCount(t, hostabitest.BuildGo(t, "./examples/rowcount"))
	})
	// The C plugin passes the test the Go one passes: hostabi/ABI.md is
	// enough to write a plugin without the Go SDK.
	t.Run("c", func(t *testing.T) {
		exampletest.CheckRowCount(t, hostabitest.BuildC(t, "examples/rowcount/c/rowcount.c"))
	})
}
