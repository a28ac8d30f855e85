//go:build !wasip1

package stdout

import "os"

// Write writes b to the process's standard output in one piece: writes of
// other plugins never interleave with it.
func Write(b []byte) error {
	_, err := os.Stdout.Write(b)
	return err
}
