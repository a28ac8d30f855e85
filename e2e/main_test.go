// Package e2e runs the real puma binary against private MariaDB servers.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// pumaBin is the binary under test, built once by TestMain.
var pumaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "puma-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pumaBin = filepath.Join(dir, "puma")
	cmd := exec.Command("go", "build", "-o", pumaBin, "github.com/pumacdc/puma/cmd/puma")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build puma:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// puma is one run of the binary.
type puma struct {
	cmd    *exec.Cmd
	stderr *os.File
	done   chan error
}

// startPuma runs `puma run -c cfg`, logging to logPath (appended).
func startPuma(t *testing.T, cfg, logPath string) *puma {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pumaBin, "run", "-c", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &puma{cmd: cmd, stderr: logf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *puma) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// stop sends SIGTERM and returns the exit error.
func (p *puma) stop(t *testing.T) error {
	t.Helper()
	return p.stopWith(t, syscall.SIGTERM)
}

// stopWith sends sig, which should make puma exit, and returns the exit
// error.
func (p *puma) stopWith(t *testing.T, sig os.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return <-p.done
}

func runPuma(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(pumaBin, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func dumpLog(t *testing.T, path string) {
	t.Helper()
	if !t.Failed() {
		return
	}
	data, _ := os.ReadFile(path)
	if len(data) > 20000 {
		data = data[len(data)-20000:]
	}
	t.Logf("puma log (tail):\n%s", data)
}
