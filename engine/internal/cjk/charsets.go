package cjk

import (
	"embed"
	"fmt"
	"sync"
)

// Charsets are the character sets with a table, in the names MariaDB
// gives them.
var Charsets = []string{"big5", "cp932", "eucjpms", "euckr", "gb2312", "gbk", "sjis", "ujis"}

//go:embed data/*.bin
var files embed.FS

// loaded is a charset's table, read from its data file on first use.
type loaded struct {
	once  sync.Once
	table *Table
	err   error
}

var tables = func() map[string]*loaded {
	m := make(map[string]*loaded, len(Charsets))
	for _, cs := range Charsets {
		m[cs] = &loaded{}
	}
	return m
}()

// Has reports whether charset cs has a table.
func Has(cs string) bool {
	_, ok := tables[cs]
	return ok
}

// Lookup returns the table of charset cs, reading it on first use; nil
// when cs has none. It is safe for concurrent use.
func Lookup(cs string) (*Table, error) {
	l, ok := tables[cs]
	if !ok {
		return nil, nil
	}
	l.once.Do(func() {
		data, err := files.ReadFile("data/" + cs + ".bin")
		if err != nil {
			l.err = fmt.Errorf("cjk: %s: %w", cs, err)
			return
		}
		t := new(Table)
		if err := t.UnmarshalBinary(data); err != nil {
			l.err = fmt.Errorf("cjk: %s: %w", cs, err)
			return
		}
		l.table = t
	})
	return l.table, l.err
}
