package engine

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestBuildInfo(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, c := range []struct {
		name string
		bi   *debug.BuildInfo
		want BuildInfo
	}{
		{"no build info", nil, BuildInfo{"unknown", "unknown", runtime.Version()}},
		{"release", &debug.BuildInfo{GoVersion: "go1.25.3", Main: debug.Module{Path: modulePath, Version: "v1.2.0"}},
			BuildInfo{"v1.2.0", "unknown", "go1.25.3"}},
		{"checkout", &debug.BuildInfo{GoVersion: "go1.25.3",
			Main:     debug.Module{Path: modulePath, Version: "v0.0.0-20261206204944-368add10ac06"},
			Settings: vcs("368add10ac0651810c384bcc837ec58bf1f49acc", "false")},
			BuildInfo{"v0.0.0-20261206204944-368add10ac06", "368add10ac0651810c384bcc837ec58bf1f49acc", "go1.25.3"}},
		{"dirty checkout", &debug.BuildInfo{GoVersion: "go1.25.3",
			Main:     debug.Module{Path: modulePath, Version: "v0.0.0-20261206204944-368add10ac06+dirty"},
			Settings: vcs("368add10ac0651810c384bcc837ec58bf1f49acc", "true")},
			BuildInfo{"v0.0.0-20261206204944-368add10ac06+dirty", "368add10ac0651810c384bcc837ec58bf1f49acc+dirty", "go1.25.3"}},
		{"devel", &debug.BuildInfo{GoVersion: "go1.25.3", Main: debug.Module{Path: modulePath, Version: "(devel)"}},
			BuildInfo{"unknown", "unknown", "go1.25.3"}},
		{"dependency", &debug.BuildInfo{GoVersion: "go1.25.3",
			Main:     debug.Module{Path: "example.com/app", Version: "v3.0.0"},
			Deps:     []*debug.Module{{Path: "github.com/google/uuid", Version: "v1.6.0"}, {Path: modulePath, Version: "v1.4.1"}},
			Settings: vcs("aaaa", "false")},
			BuildInfo{"v1.4.1", "unknown", "go1.25.3"}},
		{"replaced dependency", &debug.BuildInfo{GoVersion: "go1.25.3",
			Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v1.4.1", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.4.2"}}}},
			BuildInfo{"v1.4.2", "unknown", "go1.25.3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := buildInfo(c.bi); got != c.want {
				t.Fatalf("buildInfo = %+v, want %+v", got, c.want)
			}
		})
	}
}
