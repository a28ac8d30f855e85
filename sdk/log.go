package sdk

// Level is a log level; the values are log/slog's.
type Level int32

// Levels.
const (
	LevelDebug Level = -4
	LevelInfo  Level = 0
	LevelWarn  Level = 4
	LevelError Level = 8
)

// Log writes msg to Puma's log at level, tagged with the task and plugin.
// Writing to os.Stdout or os.Stderr also reaches the log (at info and
// warn), a line at a time, but Log is cheaper and carries the level.
func Log(level Level, msg string) { logHost(level, msg) }
