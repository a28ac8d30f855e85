package config

import "strings"

// Error is every problem found in one configuration file. Load and Parse
// return it (as *Error) for any problem, so a user fixes the file in one
// round; use errors.As to get at the problems.
type Error struct {
	// File is the configuration file's name as given to Load or Parse.
	File string
	// Problems are grouped: first those outside any task, then task by
	// task; within a group, unknown keys and wrong types come before
	// invalid values.
	Problems []Problem
}

// Problem is one thing wrong with a configuration file.
type Problem struct {
	// Path is the TOML key path of the offending value, such as
	// "server.admin", "task[1] (shop).replica_server_id" or
	// "task[0] (shop).sender[2].plugin". A task's name follows its index
	// when the name is valid. Path is empty for problems with the file as
	// a whole, such as a syntax error.
	Path string
	// Msg says what is wrong and, where it helps, what to do. It never
	// contains a secret's value.
	Msg string
}

// String renders p as "path: msg", or just msg when p has no path.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Error renders one problem per line, each prefixed with the file name:
//
//	puma.toml: task[0] (shop).source[1].addr: missing port in "db1"
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		b.WriteString(": ")
		b.WriteString(p.String())
	}
	return b.String()
}
