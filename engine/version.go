package engine

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// modulePath is Puma's Go module.
const modulePath = "github.com/pumacdc/puma"

// BuildInfo says which Puma is running, from the build information the Go
// toolchain stamps into every binary.
type BuildInfo struct {
	// Version is Puma's module version: a release tag such as v1.2.0, or
	// the pseudo-version go build derives from the VCS for a build of a
	// checkout (v0.0.0-<time>-<revision>, +dirty when it had uncommitted
	// changes); "unknown" when the binary carries none.
	Version string
	// Revision is the VCS commit the binary was built from, with +dirty
	// when the checkout had uncommitted changes; "unknown" when not
	// built from a checkout (go install of a release stamps none).
	Revision string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// Build returns the running binary's BuildInfo.
var Build = sync.OnceValue(func() BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return buildInfo(bi)
})

// buildInfo reads bi (nil when the binary carries none). Puma may be the
// main module (the puma command) or a dependency of another program; the
// VCS settings are the main module's, so they count only in the first
// case.
func buildInfo(bi *debug.BuildInfo) BuildInfo {
	b := BuildInfo{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	if bi == nil {
		return b
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	var mod *debug.Module
	if bi.Main.Path == modulePath {
		mod = &bi.Main
	}
	for _, d := range bi.Deps {
		if mod == nil && d.Path == modulePath {
			mod = d
			if d.Replace != nil && d.Replace.Version != "" {
				mod = d.Replace
			}
		}
	}
	if mod != nil && mod.Version != "" && mod.Version != "(devel)" {
		b.Version = mod.Version
	}
	if bi.Main.Path != modulePath {
		return b
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	if rev != "" {
		b.Revision = rev + dirty
	}
	return b
}
