//go:build !wasip1

package sdk

import "os"

// logHost, outside Wasm (in a plugin's unit tests), writes to stderr.
func logHost(level Level, msg string) {
	var tag string
	switch {
	case level >= LevelError:
		tag = "ERROR "
	case level >= LevelWarn:
		tag = "WARN "
	case level >= LevelInfo:
		tag = "INFO "
	default:
		tag = "DEBUG "
	}
	os.Stderr.WriteString(tag + msg + "\n")
}
