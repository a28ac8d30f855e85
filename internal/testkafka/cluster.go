// Package testkafka gives tests a Kafka cluster. By default it is a kfake
// cluster (github.com/twmb/franz-go/pkg/kfake) running in the test process
// on loopback ports: no Kafka broker is installable from Debian, and kfake
// speaks the Kafka protocol, idempotent and transactional producers and
// read_committed fetches included. It persists to its own directory, so
// Stop and Restart keep the ports and the data. It cannot crash apart from
// the test process: tests of broker crashes use the other brokers.
//
// With PUMA_TEST_KAFKA=host:port[,host:port] set, a real cluster serves
// instead: Seeds returns those brokers, Topic makes topics under a prefix
// unique to the Cluster and deletes them when the test ends, and Stop and
// Restart report ErrExternal.
//
// Tests call Start, which skips when the cluster cannot be had, unless the
// CI environment variable is set, in which case it fails. Other programs
// call New.
package testkafka

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pumacdc/puma/internal/testproc"
)

// EnvExternal names the environment variable that selects a real cluster:
// its brokers, comma-separated host:port.
const EnvExternal = "PUMA_TEST_KAFKA"

// ErrExternal means an operation needs the kfake cluster, and a real one
// (PUMA_TEST_KAFKA) is in use.
var ErrExternal = errors.New("not possible on an external cluster (" + EnvExternal + ")")

// Options configure a cluster. The zero value is a three-broker kfake
// cluster persisting to a fresh temporary directory, or the cluster
// PUMA_TEST_KAFKA names.
type Options struct {
	// Brokers is the number of kfake brokers; 0 means 3. A real cluster
	// has what it has.
	Brokers int
	// Dir is where kfake persists its data and writes kfake.log. Empty
	// means a new temporary directory that Close (or Start's cleanup)
	// removes. A given Dir is never removed; data already in it is loaded.
	Dir string
	// Logger receives start/stop events; nil discards them.
	Logger *slog.Logger
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	if o.Brokers < 0 || o.Brokers > 16 {
		return fmt.Errorf("testkafka: options: Brokers %d: want 0 (three) to 16", o.Brokers)
	}
	return nil
}

// Cluster is a kfake cluster or a real one. Seeds, External, Dir, LogPath
// and Topic are safe for concurrent use; Stop, Restart and Close serialise
// with each other.
type Cluster struct {
	opts     Options
	external bool
	prefix   string // of topics made by Topic
	dir      string
	logPath  string
	ownsDir  bool
	mu       sync.Mutex
	seeds    []string
	ports    []int
	fake     *kfake.Cluster // nil while stopped, and for a real cluster
	logFile  *os.File
}

// New starts a kfake cluster, or checks that the PUMA_TEST_KAFKA cluster
// answers, and returns once clients can use it. The caller owns the
// cluster and must Close it. ctx bounds the start only.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Brokers == 0 {
		opts.Brokers = 3
	}
	c := &Cluster{opts: opts, prefix: "puma-test-" + strings.ToLower(rand.Text()[:10]) + "-"}
	if env := os.Getenv(EnvExternal); env != "" {
		return c, c.useExternal(ctx, env)
	}
	var err error
	if c.dir, c.ownsDir, err = testproc.MakeDir("testkafka", opts.Dir, 0o755); err != nil {
		return nil, err
	}
	c.logPath = filepath.Join(c.dir, "kfake.log")
	if err := c.start(ctx); err != nil {
		if c.ownsDir {
			os.RemoveAll(c.dir)
		}
		return nil, err
	}
	return c, nil
}

// useExternal points c at the brokers in env and checks that they answer.
func (c *Cluster) useExternal(ctx context.Context, env string) error {
	c.external = true
	for _, s := range strings.Split(env, ",") {
		s = strings.TrimSpace(s)
		if _, _, err := net.SplitHostPort(s); err != nil {
			return fmt.Errorf("testkafka: %s=%q: broker %q: want host:port: %w", EnvExternal, env, s, err)
		}
		c.seeds = append(c.seeds, s)
	}
	adm, err := admin(c.seeds)
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := adm.ListBrokers(ctx); err != nil {
		return fmt.Errorf("testkafka: %s=%s: list brokers: %w", EnvExternal, env, err)
	}
	c.opts.Logger.Info("testkafka using external cluster", "seeds", c.seeds, "topic_prefix", c.prefix)
	return nil
}

// start starts kfake on c.ports (free ones the first time) and c.dir, and
// checks that a client can list its brokers. Callers hold c.mu or own c
// exclusively.
func (c *Cluster) start(ctx context.Context) error {
	f, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testkafka: start: %w", err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(c.opts.Brokers),
		kfake.DataDir(filepath.Join(c.dir, "data")),
		kfake.WithLogger(kfake.BasicLogger(f, kfake.LogLevelWarn)),
	}
	if c.ports != nil {
		opts = append(opts, kfake.Ports(c.ports...))
	}
	fake, err := kfake.NewCluster(opts...)
	if err != nil {
		f.Close()
		return fmt.Errorf("testkafka: start kfake in %s on ports %v: %w", c.dir, c.ports, err)
	}
	seeds := fake.ListenAddrs()
	ports := make([]int, len(seeds))
	for i, s := range seeds {
		_, p, _ := net.SplitHostPort(s)
		ports[i], _ = strconv.Atoi(p)
	}
	c.fake, c.logFile, c.seeds, c.ports = fake, f, seeds, ports
	adm, err := admin(seeds)
	if err == nil {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = adm.ListBrokers(lctx)
		cancel()
		adm.Close()
	}
	if err != nil {
		c.stopLocked()
		return fmt.Errorf("testkafka: start kfake in %s: list brokers: %w", c.dir, err)
	}
	c.opts.Logger.Info("testkafka kfake started", "seeds", c.seeds, "dir", c.dir)
	return nil
}

// admin returns an admin client of the brokers seeds; the caller closes it.
func admin(seeds []string) (*kadm.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil, fmt.Errorf("testkafka: client: %w", err)
	}
	return kadm.NewClient(cl), nil
}

// Seeds returns the brokers' host:port addresses, for kgo.SeedBrokers. A
// kfake cluster keeps them across Restart.
func (c *Cluster) Seeds() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seeds...)
}

// External reports whether the cluster is the one PUMA_TEST_KAFKA names.
func (c *Cluster) External() bool { return c.external }

// Dir returns the directory kfake persists to; "" for a real cluster.
func (c *Cluster) Dir() string { return c.dir }

// LogPath returns kfake.log (warnings and errors); "" for a real cluster.
func (c *Cluster) LogPath() string { return c.logPath }

// CreateTopic creates the topic prefix+name with partitions partitions and
// the brokers' default replication, and returns its full name. The prefix
// is unique to c, so tests sharing a real cluster do not meet.
func (c *Cluster) CreateTopic(ctx context.Context, name string, partitions int32) (string, error) {
	topic := c.prefix + name
	adm, err := admin(c.Seeds())
	if err != nil {
		return "", err
	}
	defer adm.Close()
	r, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return "", fmt.Errorf("testkafka: create topic %s: %w", topic, err)
	}
	return topic, nil
}

// DeleteTopic deletes the topic with the full name topic.
func (c *Cluster) DeleteTopic(ctx context.Context, topic string) error {
	adm, err := admin(c.Seeds())
	if err != nil {
		return err
	}
	defer adm.Close()
	rs, err := adm.DeleteTopics(ctx, topic)
	if err == nil {
		err = rs.Error()
	}
	if err != nil {
		return fmt.Errorf("testkafka: delete topic %s: %w", topic, err)
	}
	return nil
}

// Stop closes the kfake cluster, which saves its state to Dir; its ports
// refuse connections until Restart. Stopping a stopped cluster is a no-op.
// On a real cluster it returns ErrExternal.
func (c *Cluster) Stop() error {
	if c.external {
		return fmt.Errorf("testkafka: stop: %w", ErrExternal)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked()
	return nil
}

func (c *Cluster) stopLocked() {
	if c.fake == nil {
		return
	}
	c.fake.Close()
	c.logFile.Close()
	c.fake, c.logFile = nil, nil
	c.opts.Logger.Info("testkafka kfake stopped", "seeds", c.seeds, "dir", c.dir)
}

// Restart stops the kfake cluster if it is running and starts a new one on
// the same ports from the data it saved. On a real cluster it returns
// ErrExternal.
func (c *Cluster) Restart(ctx context.Context) error {
	if c.external {
		return fmt.Errorf("testkafka: restart: %w", ErrExternal)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked()
	return c.start(ctx)
}

// Close stops a kfake cluster and, if New created its directory, removes
// it. A real cluster is left as it is.
func (c *Cluster) Close() error {
	if c.external {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked()
	if c.ownsDir {
		if err := os.RemoveAll(c.dir); err != nil {
			return fmt.Errorf("testkafka: close: %w", err)
		}
	}
	return nil
}
