package testpg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pumacdc/puma/internal/testproc"
)

// templateRevision is part of the template cache key; bump it whenever
// initdbArgs change so stale templates are not reused.
const templateRevision = "1"

// readyFile is written into a template last, just before it is published.
const readyFile = "READY"

// templates caches template data directories by key for this process.
var templates struct {
	mu   sync.Mutex
	dirs map[string]string
}

// initdbArgs make a cluster: superuser postgres, trust authentication, UTF8
// and the C locale (whatever locales the machine has). -N skips initdb's
// final fsync: the template is copied, and the server runs with fsync on.
func initdbArgs(dataDir string) []string {
	return []string{"-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "-N"}
}

// templateDir returns a data directory made by initdb for the binaries in
// s.bin, run as s.cred. It is built once per machine, PostgreSQL version
// and user, under os.TempDir(), and shared by all processes: builders
// serialise on a flock and publish with a rename. initdb takes seconds;
// copying its result takes a fraction of one.
func (s *Server) templateDir(ctx context.Context) (string, error) {
	version, err := exec.CommandContext(ctx, filepath.Join(s.bin, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("testpg: template: %s/postgres --version: %w", s.bin, err)
	}
	uid := os.Geteuid()
	if s.cred != nil {
		uid = int(s.cred.Uid)
	}
	sum := sha256.Sum256([]byte(templateRevision + "\x00" + s.bin + "\x00" + string(version) + "\x00" + strconv.Itoa(uid)))
	key := hex.EncodeToString(sum[:6])

	templates.mu.Lock()
	defer templates.mu.Unlock()
	if d, ok := templates.dirs[key]; ok {
		return d, nil
	}
	final := filepath.Join(os.TempDir(), "puma-testpg-template-"+key)
	unlock, err := testproc.LockFile(ctx, final+".lock")
	if err != nil {
		return "", fmt.Errorf("testpg: template: %w", err)
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(final, readyFile)); err != nil {
		// Never built, or damaged (say, by a /tmp cleaner): build afresh.
		if err := os.RemoveAll(final); err != nil {
			return "", fmt.Errorf("testpg: template: remove damaged %s: %w", final, err)
		}
		start := time.Now()
		if err := s.buildTemplate(ctx, final, version); err != nil {
			return "", err
		}
		s.opts.Logger.Info("testpg template created", "dir", final, "elapsed", time.Since(start))
	}
	if templates.dirs == nil {
		templates.dirs = map[string]string{}
	}
	d := filepath.Join(final, "data")
	templates.dirs[key] = d
	return d, nil
}

// buildTemplate runs initdb into a scratch directory beside final and
// renames it to final. The caller holds the template lock.
func (s *Server) buildTemplate(ctx context.Context, final string, version []byte) (err error) {
	tmp, err := os.MkdirTemp(filepath.Dir(final), filepath.Base(final)+".tmp-")
	if err != nil {
		return fmt.Errorf("testpg: template: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := s.chown(tmp); err != nil {
		return fmt.Errorf("testpg: template: %w", err)
	}
	out := filepath.Join(tmp, "initdb.log")
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("testpg: template: %w", err)
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "initdb"), initdbArgs(filepath.Join(tmp, "data"))...)
	cmd.Dir = tmp
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("testpg: template: initdb in %s%s: %w; %s:\n%s", tmp, s.asUser(), err, out, testproc.Tail(out, 0, 20))
	}
	if err := os.WriteFile(filepath.Join(tmp, readyFile), version, 0o644); err != nil {
		return fmt.Errorf("testpg: template: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("testpg: template: publish: %w", err)
	}
	return nil
}

// copyTemplate copies the template data directory tpl to dst, which must
// not exist, keeping modes (PostgreSQL insists on 0700 or 0750) and giving
// everything to the user PostgreSQL runs as.
func (s *Server) copyTemplate(tpl, dst string) error {
	err := filepath.WalkDir(tpl, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(tpl, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return err
			}
		case d.Type().IsRegular():
			if err := copyFile(path, target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil // initdb makes no links, sockets or devices
		}
		return s.chown(target)
	})
	if err != nil {
		return fmt.Errorf("testpg: copy template %s to %s: %w", tpl, dst, err)
	}
	return nil
}

// chown gives path to the user PostgreSQL runs as, if that is not this
// process's.
func (s *Server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	// *os.File to *os.File uses copy_file_range on Linux.
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
