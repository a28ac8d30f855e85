package rowcountc_test

import (
	"os"
	"testing"

	"github.com/pumacdc/puma/examples/internal/rowcounttest"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	hostabitest.Cleanup()
	os.Exit(code)
}

// The C plugin passes the test the Go one passes: hostabi/ABI.md is enough
// to write a plugin without the Go SDK.
func TestRowCount(t *testing.T) {
	rowcounttest.Check(t, hostabitest.BuildC(t, "examples/rowcountc/rowcount.c"))
}
