package engine_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The library packages must be usable from another module: nothing they
// build on may be an internal package of this module but their own
// (engine/internal, hostabi/internal, sdk/internal), which Go forbids
// importing from outside. hostabi/wire, which plugin toolchains copy
// the wire format from, stays on the standard library alone.
func TestLibraryImports(t *testing.T) {
	const mod = "github.com/pumacdc/puma/"
	deps := goListDeps(t, mod+"engine", mod+"hostabi", mod+"sdk/...")
	if len(deps) < 3 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), deps)
	}
	own := []string{mod + "engine/internal/", mod + "hostabi/internal/", mod + "sdk/internal/"}
	for _, p := range deps {
		if !strings.HasPrefix(p, mod) || !strings.Contains(p+"/", "/internal/") {
			continue
		}
		allowed := false
		for _, o := range own {
			allowed = allowed || strings.HasPrefix(p+"/", o)
		}
		if !allowed {
			t.Errorf("the library depends on %s: code outside this module could not build it; move what it needs into a public package", p)
		}
	}
	for _, p := range goListDeps(t, mod+"hostabi/wire") {
		if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") && p != mod+"hostabi/wire" {
			t.Errorf("hostabi/wire depends on %s: it must stay on the standard library", p)
		}
	}
}

func goListDeps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps %s: %v\n%s", strings.Join(pkgs, " "), err, stderr)
	}
	return strings.Fields(string(out))
}
