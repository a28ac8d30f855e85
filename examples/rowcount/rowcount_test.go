package main_test

import (
	"testing"

	"github.com/pumacdc/puma/examples/internal/rowcounttest"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	hostabitest.Cleanup()
	if code != 0 {
		panic(code)
	}
}

func TestRowCount(t *testing.T) {
	rowcounttest.Check(t, hostabitest.BuildGo(t, "./examples/rowcount"))
}
