package testdb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pumacdc/puma/internal/testproc"
)

// templateRevision is part of the template cache key; bump it whenever the
// install flags or templateSetup change so stale caches are not reused.
const templateRevision = "1"

// readyFile is written into a template last, just before it is published.
const readyFile = "READY"

// innodbArgs are passed to every mariadbd (install, template and servers) so
// the redo log in a copied template always matches the server's settings.
var innodbArgs = []string{
	"--innodb-buffer-pool-size=32M",
	"--innodb-log-file-size=16M",
}

// templates caches template directories by mariadbd path for this process.
var templates struct {
	mu   sync.Mutex
	dirs map[string]string
}

// templateDir returns a data directory initialised by mariadb-install-db for
// bin and fixed up so copies need no further setup. It is built once per
// mariadbd version and machine, under os.TempDir(), and shared by all
// processes: builders serialise on a flock and publish with a rename.
func templateDir(ctx context.Context, bin string, log *slog.Logger) (string, error) {
	templates.mu.Lock()
	defer templates.mu.Unlock()
	if d, ok := templates.dirs[bin]; ok {
		return d, nil
	}
	version, err := exec.CommandContext(ctx, bin, "--no-defaults", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("testdb: template: %s --version: %w", bin, err)
	}
	sum := sha256.Sum256([]byte(templateRevision + "\x00" + bin + "\x00" + string(version)))
	final := filepath.Join(os.TempDir(), "puma-testdb-template-"+hex.EncodeToString(sum[:6]))

	unlock, err := testproc.LockFile(ctx, final+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()

	data := filepath.Join(final, "data")
	if _, err := os.Stat(filepath.Join(final, readyFile)); err != nil {
		// Never built, or damaged (say, by a /tmp cleaner): build afresh.
		if err := os.RemoveAll(final); err != nil {
			return "", fmt.Errorf("testdb: template: remove damaged %s: %w", final, err)
		}
		start := time.Now()
		if err := buildTemplate(ctx, bin, final, version); err != nil {
			return "", err
		}
		log.Info("testdb template created", "dir", final, "version", strings.TrimSpace(string(version)), "elapsed", time.Since(start))
	}
	if templates.dirs == nil {
		templates.dirs = map[string]string{}
	}
	templates.dirs[bin] = data
	return data, nil
}

// buildTemplate runs mariadb-install-db into a scratch directory, applies
// templateSetup on a private server (no networking, no binary log, so the
// template holds no binlogs), shuts it down cleanly and renames the scratch
// directory to final. The caller holds the template lock.
func buildTemplate(ctx context.Context, bin, final string, version []byte) (err error) {
	install, err := findBinary("mariadb-install-db", filepath.Dir(bin), "/usr/bin", "/usr/local/bin", "/usr/local/mysql/scripts")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), filepath.Base(final)+".tmp-")
	if err != nil {
		return fmt.Errorf("testdb: template: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	data := filepath.Join(tmp, "data")

	// --no-defaults must come first: the script only honours it there.
	args := []string{"--no-defaults", "--datadir=" + data,
		"--auth-root-authentication-method=normal", "--skip-test-db"}
	args = append(args, innodbArgs...)
	args = append(args, userArgs()...)
	cmd := exec.CommandContext(ctx, install, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("testdb: template: %s %s: %w\n%s", install, strings.Join(args, " "), err, lastLines(string(out), 30))
	}

	logPath := filepath.Join(tmp, "error.log")
	sock := socketPath(tmp)
	sargs := []string{"--no-defaults", "--datadir=" + data, "--socket=" + sock,
		"--skip-networking", "--skip-log-bin", "--log-error=" + logPath,
		"--pid-file=" + filepath.Join(tmp, "mariadbd.pid"), "--performance-schema=OFF",
		// Its own tmpdir: at start mariadbd deletes the #sql* files of
		// its tmpdir, other servers' temporary tables included.
		"--tmpdir=" + tmp}
	sargs = append(sargs, innodbArgs...)
	sargs = append(sargs, userArgs()...)
	p, err := startProcess(bin, sargs, false)
	if err != nil {
		return err
	}
	defer func() {
		if !p.exited() {
			p.kill()
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := waitReady(wctx, p, sock, logPath, 0); err != nil {
		return fmt.Errorf("testdb: template: %w", err)
	}
	if err := templateSetup(sock); err != nil {
		return err
	}
	if !p.terminate(stopGrace) {
		return fmt.Errorf("testdb: template: mariadbd did not shut down within %v; %s:\n%s", stopGrace, logPath, tail(logPath, 30))
	}
	if err := os.WriteFile(filepath.Join(tmp, readyFile), version, 0o644); err != nil {
		return fmt.Errorf("testdb: template: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("testdb: template: publish: %w", err)
	}
	return nil
}

// templateSetup removes anonymous accounts and makes root reachable over TCP
// from 127.0.0.1 with an empty password.
func templateSetup(sock string) error {
	c, err := connect(context.Background(), sock, time.Minute)
	if err != nil {
		return fmt.Errorf("testdb: template: connect %s: %w", sock, err)
	}
	defer c.Quit()
	var stmts []string
	res, err := c.Execute("SELECT Host FROM mysql.global_priv WHERE User = ''")
	if err != nil {
		return fmt.Errorf("testdb: template: list anonymous users: %w", err)
	}
	for i := range res.Values {
		host, err := res.GetString(i, 0)
		if err != nil {
			return fmt.Errorf("testdb: template: list anonymous users: %w", err)
		}
		stmts = append(stmts, "DROP USER ''@"+quote(host))
	}
	res.Close()
	// Hostname accounts only produce warnings under --skip-name-resolve.
	if h, err := os.Hostname(); err == nil && h != "localhost" {
		stmts = append(stmts, "DROP USER IF EXISTS 'root'@"+quote(h))
	}
	for _, host := range []string{"127.0.0.1", "%"} {
		stmts = append(stmts,
			"CREATE USER IF NOT EXISTS 'root'@"+quote(host),
			"ALTER USER 'root'@"+quote(host)+" IDENTIFIED BY ''",
			"GRANT ALL PRIVILEGES ON *.* TO 'root'@"+quote(host)+" WITH GRANT OPTION")
	}
	for _, s := range stmts {
		if _, err := c.Execute(s); err != nil {
			return fmt.Errorf("testdb: template: %s: %w", s, err)
		}
	}
	return nil
}

// copyTemplate copies the template data directory tpl into dst, which must
// not exist or be empty. Binary and relay logs are never copied: every
// server starts with a fresh binary log.
func copyTemplate(tpl, dst string) error {
	err := filepath.WalkDir(tpl, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(tpl, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if skipInCopy(d.Name()) || !d.Type().IsRegular() {
			return nil
		}
		return copyFile(path, target)
	})
	if err != nil {
		return fmt.Errorf("testdb: copy template %s to %s: %w", tpl, dst, err)
	}
	return nil
}

func skipInCopy(name string) bool {
	for _, p := range []string{"mysql-bin.", "relay-bin.", "master.info", "relay-log.info", "ibtmp"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return strings.HasSuffix(name, ".pid")
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o660)
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

// findBinary looks name up on PATH, then in dirs.
func findBinary(name string, dirs ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("testdb: %s not found on PATH or in %s (install mariadb-server): %w", name, strings.Join(dirs, ", "), ErrNotInstalled)
}

// userArgs lets mariadbd run as root, which it otherwise refuses.
func userArgs() []string {
	if os.Geteuid() == 0 {
		return []string{"--user=root"}
	}
	return nil
}

// socketPath returns a unix socket path for a server in dir, falling back to a
// short path under /tmp when dir would exceed the sun_path limit.
func socketPath(dir string) string {
	p := filepath.Join(dir, "mariadbd.sock")
	if len(p) < 100 {
		return p
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join("/tmp", "puma-testdb-"+hex.EncodeToString(sum[:6])+".sock")
}

// quote returns s as a single-quoted SQL string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
