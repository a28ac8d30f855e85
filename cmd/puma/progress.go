package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pumacdc/puma/engine"
)

// barWidth is the width of a progress bar between its brackets.
const barWidth = 24

// writeProgress draws task's snapshot progress for `puma status`: while it
// runs, a line for the snapshot and one per table with a bar of the share
// read, rows and chunks read of the estimates, rate and ETA; once it
// finished, one line.
func writeProgress(w io.Writer, task string, p *engine.SnapshotProgress) {
	done, cancelled, resumed := 0, false, false
	for _, t := range p.Tables {
		done += btoi(t.State == "done")
		cancelled = cancelled || t.State == "cancelled"
		resumed = resumed || t.Resumed
	}
	if !p.Finished.IsZero() {
		how := "finished"
		if cancelled {
			how = "cancelled"
		}
		fmt.Fprintf(w, "%s: %s snapshot %s %s: %d of %d tables read, %d rows in %s\n", task, p.Kind, how,
			p.Finished.UTC().Format(time.RFC3339), done, len(p.Tables), p.RowsRead, duration(p.Finished.Sub(p.Started).Seconds()))
		return
	}
	fmt.Fprintf(w, "%s: %s snapshot: %d of %d tables read, %d of ~%d rows, %.0f rows/s, ETA %s\n", task, p.Kind,
		done, len(p.Tables), p.RowsRead, p.RowsEstimated, p.RowsPerSecond, eta(p.ETA))
	if resumed {
		fmt.Fprintf(w, "  (resumed: tables partly read before the task restarted; their counts start at the restart)\n")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range p.Tables {
		exact := t.State == "done" && !t.Resumed
		share := 1.0
		if t.State != "done" {
			share = 0
			if t.RowsEstimated > 0 {
				share = min(1, float64(t.RowsRead)/float64(t.RowsEstimated))
			}
		}
		fill := int(share * barWidth)
		state := t.State
		if t.Resumed {
			state += " (resumed)"
		}
		of := "/~"
		if exact {
			of = "/"
		}
		fmt.Fprintf(tw, "  %s\t%s\t[%s%s] %3d%%\t%d%s%d rows\t%d%s%d chunks", t.Table, state,
			strings.Repeat("#", fill), strings.Repeat("-", barWidth-fill), int(share*100), t.RowsRead, of, t.RowsEstimated, t.Chunks, of, t.ChunksEstimated)
		if t.State == "reading" {
			fmt.Fprintf(tw, "\t%.0f rows/s\tETA %s", t.RowsPerSecond, eta(t.ETA))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// eta renders an ETA in seconds, "?" when unknown.
func eta(s *float64) string {
	if s == nil {
		return "?"
	}
	return duration(*s)
}

// duration renders seconds as 42s, 3m05s or 2h03m.
func duration(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
