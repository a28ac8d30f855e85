package engine

import (
	"errors"
	"testing"
	"time"
)

// Since restarts when a task enters a state, but not while it goes round
// connecting, locating and reconnecting: /healthz measures how long a task
// has not streamed.
func TestStateSince(t *testing.T) {
	var s Stats
	steps := []struct {
		state   string
		restart bool
	}{
		{"new", true},
		{"connecting", false},
		{"locating", false},
		{"reconnecting", false},
		{"connecting", false},
		{"streaming", true},
		{"streaming", false},
		{"reconnecting", true},
		{"connecting", false},
		{"paused", true},
		{"connecting", true},
		{"failed", true},
	}
	var last time.Time
	for i, st := range steps {
		time.Sleep(2 * time.Millisecond)
		s.setState(st.state, "", errors.New("e"))
		snap := s.Snapshot()
		if snap.State != st.state || snap.Since.IsZero() {
			t.Fatalf("step %d: %+v", i, snap)
		}
		if restarted := !snap.Since.Equal(last); restarted != st.restart {
			t.Fatalf("step %d (%s): since restarted = %v, want %v", i, st.state, restarted, st.restart)
		}
		last = snap.Since
	}
}
