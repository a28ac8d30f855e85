package testkafka

import (
	"context"
	"testing"
	"time"

	"github.com/pumacdc/puma/internal/testproc"
)

// Start starts a kfake cluster for the test t, or checks the one
// PUMA_TEST_KAFKA names, and registers a cleanup that closes it. The
// cleanup removes kfake's directory, unless the test failed: then it keeps
// the directory and logs its path and the last 50 lines of kfake.log.
//
// Invalid options fail the test. When the cluster cannot be had, Start
// skips the test, or fails it if the CI environment variable is non-empty,
// so a CI run can never pass by skipping.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	return testproc.Start(t, "testkafka", "a Kafka cluster", opts, New)
}

// Topic creates the topic prefix+name (see CreateTopic) for the test t and
// returns its full name. On a real cluster it deletes the topic when the
// test ends. Any error fails the test.
func (c *Cluster) Topic(t testing.TB, name string, partitions int32) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic, err := c.CreateTopic(ctx, name, partitions)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if c.external {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.DeleteTopic(ctx, topic); err != nil {
				t.Errorf("%v", err)
			}
		})
	}
	return topic
}
