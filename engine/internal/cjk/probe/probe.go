// Package probe reads a cjk.Table off a MariaDB server: it asks the server
// to convert every byte sequence a character of the charset could be to
// utf8mb4, and records what the server answers. The generator of the
// committed tables and the test that checks them against a live server
// both use it.
package probe

import (
	"context"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/pumacdc/puma/engine/internal/cjk"
)

// SS3 leads EUC's three-byte characters, the only ones MariaDB's
// three-byte charsets (ujis, eucjpms) have.
const SS3 = 0x8f

// Stats counts what Read found.
type Stats struct {
	Chars    [4]int // characters of 1, 2 and 3 bytes (index by length)
	Unmapped int    // characters the server converts to '?' for want of one
}

// Read returns the characters of charset cs as the server on conn
// converts them: every single byte, every two bytes led by a byte ≥ 0x80,
// and, for a charset of three-byte characters, every three bytes led by
// SS3.
//
// The server converts a well-formed sequence to its character, or to '?'
// with warning 1977 when it has none; an ill-formed one to a '?' for its
// first byte, then converts on from the next byte. So a sequence is one
// character exactly when the server gives one character for it and, if
// that is '?', warns 1977 naming it.
func Read(ctx context.Context, conn *client.Conn, cs string) (*cjk.Table, Stats, error) {
	var st Stats
	if _, err := conn.Execute("SET SESSION max_error_count = 65535"); err != nil {
		return nil, st, fmt.Errorf("probe %s: %w", cs, err)
	}
	r, err := conn.Execute("SELECT MAXLEN FROM information_schema.CHARACTER_SETS WHERE CHARACTER_SET_NAME = ?", cs)
	if err != nil {
		return nil, st, fmt.Errorf("probe %s: %w", cs, err)
	}
	if r.RowNumber() != 1 {
		return nil, st, fmt.Errorf("probe %s: the server has no such character set", cs)
	}
	maxLen, _ := r.GetInt(0, 0)
	if maxLen < 2 || maxLen > 3 {
		return nil, st, fmt.Errorf("probe %s: characters of up to %d bytes: want a two- or three-byte charset", cs, maxLen)
	}

	t := cjk.NewTable()
	record := func(seqs [][]byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		got, unmapped, err := convert(conn, cs, seqs)
		if err != nil {
			return fmt.Errorf("probe %s: %w", cs, err)
		}
		for i, seq := range seqs {
			s := got[i]
			if !utf8.ValidString(s) {
				return fmt.Errorf("probe %s: % X converts to invalid utf8mb4 % X", cs, seq, s)
			}
			if utf8.RuneCountInString(s) != 1 {
				continue // several characters: ill-formed
			}
			r, _ := utf8.DecodeRuneInString(s)
			if r == '?' && string(seq) != "?" {
				if !unmapped[string(seq)] {
					continue // one '?' for an ill-formed byte
				}
				st.Unmapped++
			}
			if err := t.Set(seq, r); err != nil {
				return fmt.Errorf("probe %s: %w", cs, err)
			}
			st.Chars[len(seq)]++
		}
		return nil
	}

	seqs := make([][]byte, 0, 256)
	for b := range 256 {
		seqs = append(seqs, []byte{byte(b)})
	}
	if err := record(seqs); err != nil {
		return nil, st, err
	}
	for lead := 0x80; lead < 0x100; lead++ {
		seqs = seqs[:0]
		for b := range 256 {
			seqs = append(seqs, []byte{byte(lead), byte(b)})
		}
		if err := record(seqs); err != nil {
			return nil, st, err
		}
	}
	if maxLen == 3 {
		for second := range 256 {
			seqs = seqs[:0]
			for b := range 256 {
				seqs = append(seqs, []byte{SS3, byte(second), byte(b)})
			}
			if err := record(seqs); err != nil {
				return nil, st, err
			}
		}
	}
	if err := t.Check(); err != nil {
		return nil, st, fmt.Errorf("probe %s: the server's characters do not split text one way: %w", cs, err)
	}
	return t, st, nil
}

// cannotConvert is the text of MariaDB's warning 1977.
var cannotConvert = regexp.MustCompile(`^Cannot convert '([a-z0-9_]+)' character 0x([0-9A-F]+) to 'utf8mb4'$`)

// convert asks the server for seqs converted from cs to utf8mb4, in one
// statement, and returns the texts and the sequences it warned it has no
// character for.
func convert(conn *client.Conn, cs string, seqs [][]byte) ([]string, map[string]bool, error) {
	var q strings.Builder
	q.WriteString("SELECT ")
	for i, seq := range seqs {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "HEX(CONVERT(CONVERT(X'%X' USING %s) USING utf8mb4))", seq, cs)
	}
	r, err := conn.Execute(q.String())
	if err != nil {
		return nil, nil, err
	}
	if r.RowNumber() != 1 || len(r.Fields) != len(seqs) {
		return nil, nil, fmt.Errorf("convert: %d rows of %d columns, want 1 of %d", r.RowNumber(), len(r.Fields), len(seqs))
	}
	out := make([]string, len(seqs))
	for i := range seqs {
		h, err := r.GetString(0, i)
		if err != nil {
			return nil, nil, err
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, nil, fmt.Errorf("convert % X: %w", seqs[i], err)
		}
		out[i] = string(b)
	}
	w, err := conn.Execute("SHOW WARNINGS")
	if err != nil {
		return nil, nil, err
	}
	unmapped := make(map[string]bool)
	for i := range w.RowNumber() {
		code, _ := w.GetInt(i, 1)
		if code != 1977 {
			continue
		}
		msg, _ := w.GetString(i, 2)
		m := cannotConvert.FindStringSubmatch(msg)
		if m == nil || m[1] != cs {
			return nil, nil, fmt.Errorf("convert: warning 1977 %q: not the text expected", msg)
		}
		b, err := hex.DecodeString(m[2])
		if err != nil {
			return nil, nil, fmt.Errorf("convert: warning 1977 %q: %w", msg, err)
		}
		unmapped[string(b)] = true
	}
	return out, unmapped, nil
}
