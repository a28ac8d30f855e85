// Package envelopetest holds the JSON a sender writes to
// envelope.schema.json, the envelope's JSON Schema at the top of the
// repository, so that a test reading real output fails when the output
// and the published schema drift apart.
//
// It is for tests only: it reads the schema file from the source tree,
// found from the working directory go test runs a package's tests in.
package envelopetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaFile is the schema's path relative to the module's root.
const SchemaFile = "envelope.schema.json"

var compiled = sync.OnceValues(compile)

func compile() (*jsonschema.Schema, error) {
	path, err := schemaPath()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("envelopetest: %w", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("envelopetest: %s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(path, doc); err != nil {
		return nil, fmt.Errorf("envelopetest: %s: %w", path, err)
	}
	s, err := c.Compile(path)
	if err != nil {
		return nil, fmt.Errorf("envelopetest: %s: %w", path, err)
	}
	return s, nil
}

// schemaPath finds SchemaFile in the directory holding go.mod, from the
// working directory up.
func schemaPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("envelopetest: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, SchemaFile), nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("envelopetest: no go.mod above the working directory: run from inside the module")
		}
		dir = up
	}
}

// Validate checks one envelope (a line without its newline, or one
// element of an array) against the schema.
func Validate(envelope []byte) error {
	s, err := compiled()
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(envelope))
	if err != nil {
		return fmt.Errorf("envelopetest: not JSON: %w", err)
	}
	return s.Validate(v)
}

// Check fails t unless every envelope matches the schema; what says
// where they come from.
func Check(t testing.TB, what string, envelopes ...[]byte) {
	t.Helper()
	for i, e := range envelopes {
		if err := Validate(e); err != nil {
			t.Errorf("%s: envelope %d does not match %s: %v\n%s", what, i+1, SchemaFile, err, e)
		}
	}
}

// CheckLines is Check over the lines of data (JSON lines, as jsonl and
// stdout write them), skipping empty lines.
func CheckLines(t testing.TB, what string, data []byte) {
	t.Helper()
	var lines [][]byte
	for l := range bytes.Lines(data) {
		if l = bytes.TrimRight(l, "\r\n"); len(l) > 0 {
			lines = append(lines, l)
		}
	}
	Check(t, what, lines...)
}
