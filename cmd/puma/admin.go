package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pumacdc/puma/internal/admin"
	"github.com/pumacdc/puma/internal/config"
)

// adminCommand runs status, pause, resume, stop-at, snapshot and reload
// against the admin API of a running daemon, found through the config
// file.
func adminCommand(name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "puma.toml", "configuration file of the running daemon")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	var cancel *bool
	if name == "snapshot" {
		cancel = fs.Bool("cancel", false, "stop the task's incremental snapshot")
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	n := fs.NArg()
	var ok bool
	switch name {
	case "status":
		ok = n <= 1
	case "snapshot":
		ok = *cancel && n == 1 || !*cancel && n >= 2
	default:
		ok = n == map[string]int{"pause": 1, "resume": 1, "stop-at": 2, "reload": 0}[name]
	}
	if !ok {
		fmt.Fprintf(stderr, "usage: puma %s -c puma.toml %s\n", name, map[string]string{
			"status": "[task]", "pause": "<task>", "resume": "<task>", "stop-at": "<task> <time|gtid:set|file:name:pos>", "reload": "",
			"snapshot": "<task> <db.table> [db.table ...]\n       puma snapshot -c puma.toml -cancel <task>",
		}[name])
		return exitUsage
	}
	// Only [server] is read: the tasks' source secrets need not be set
	// where an operator runs this.
	srv, err := config.LoadServer(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if srv.Admin == "" {
		fmt.Fprintf(stderr, "puma %s: %s has no [server] admin address\n", name, *path)
		return exitUsage
	}
	base := "http://" + srv.Admin
	var method, route string
	var body []byte
	switch name {
	case "status":
		method, route = http.MethodGet, "/tasks"
		if fs.NArg() == 1 {
			route += "/" + url.PathEscape(fs.Arg(0))
		}
	case "reload":
		method, route = http.MethodPost, "/reload"
	case "stop-at":
		method, route = http.MethodPost, "/tasks/"+url.PathEscape(fs.Arg(0))+"/stop-at"
		body, _ = json.Marshal(map[string]string{"at": fs.Arg(1)})
	case "snapshot":
		method, route = http.MethodPost, "/tasks/"+url.PathEscape(fs.Arg(0))+"/snapshot"
		if *cancel {
			route += "/cancel"
		} else {
			body, _ = json.Marshal(map[string][]string{"tables": fs.Args()[1:]})
		}
	default:
		method, route = http.MethodPost, "/tasks/"+url.PathEscape(fs.Arg(0))+"/"+name
	}
	req, err := http.NewRequest(method, base+route, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	if tok := srv.AdminToken.Reveal(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "puma %s: %v (is puma running with admin = %q?)\n", name, err, srv.Admin)
		return exitFailed
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			fmt.Fprintf(stderr, "puma %s: %s\n", name, e.Error)
		} else {
			fmt.Fprintf(stderr, "puma %s: %s\n", name, resp.Status)
		}
		return exitFailed
	}
	if *asJSON {
		fmt.Fprintln(stdout, strings.TrimSpace(string(data)))
		return exitOK
	}
	if name != "status" {
		var res admin.Result
		if err := json.Unmarshal(data, &res); err != nil {
			fmt.Fprintf(stderr, "puma %s: %v\n", name, err)
			return exitFailed
		}
		what := name
		if cancel != nil && *cancel {
			what = "snapshot-cancel"
		}
		fmt.Fprintln(stdout, done(what, fs.Args(), res.Task))
		return exitOK
	}
	var tasks []admin.TaskStatus
	if fs.NArg() == 1 {
		var one admin.TaskStatus
		err = json.Unmarshal(data, &one)
		tasks = append(tasks, one)
	} else {
		err = json.Unmarshal(data, &tasks)
	}
	if err != nil {
		fmt.Fprintf(stderr, "puma status: %v\n", err)
		return exitFailed
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tSTATE\tSOURCE\tPOSITION\tLAG\tROWS\tTX\tERROR")
	for _, t := range tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0fs\t%d\t%d\t%s\n", t.Name, t.State, t.Source, t.Position.String(), t.Lag, t.Rows, t.Transactions, t.LastError)
	}
	tw.Flush()
	for _, t := range tasks {
		if t.SnapshotProgress != nil {
			writeProgress(stdout, t.Name, t.SnapshotProgress)
		}
	}
	return exitOK
}

// done says what a successful command did, in a line.
func done(name string, args []string, t *admin.TaskStatus) string {
	if name == "reload" {
		return "configuration reloaded"
	}
	at := "before reading anything"
	if t != nil && !t.Position.IsZero() {
		at = "at " + t.Position.String()
	}
	switch name {
	case "pause":
		return fmt.Sprintf("task %s paused %s", args[0], at)
	case "resume":
		return fmt.Sprintf("task %s resumed %s", args[0], at)
	case "snapshot":
		return fmt.Sprintf("task %s: incremental snapshot of %s requested; it starts when the task streams past the request (puma status shows its progress)", args[0], strings.Join(args[1:], ", "))
	case "snapshot-cancel":
		return fmt.Sprintf("task %s: incremental snapshot cancel requested", args[0])
	}
	return fmt.Sprintf("task %s will stop at %s; now %s", args[0], args[1], at)
}
