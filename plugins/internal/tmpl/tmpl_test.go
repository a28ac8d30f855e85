package tmpl

import (
	"strings"
	"testing"
)

func TestTemplate(t *testing.T) {
	tp, err := Parse("subject", "puma.{db}.x{table}{op}", "db", "table", "op")
	if err != nil {
		t.Fatal(err)
	}
	vals := []string{"shop", "orders", "c"}
	got := string(tp.Append(nil, func(dst []byte, f int) []byte { return append(dst, vals[f]...) }))
	if got != "puma.shop.xordersc" {
		t.Errorf("expanded %q", got)
	}
	if _, lit := tp.Literal(); lit {
		t.Error("a template with placeholders is literal")
	}
	if l, ok := mustParse(t, "a.b").Literal(); !ok || l != "a.b" {
		t.Errorf("Literal() = %q, %v", l, ok)
	}
	for text, want := range map[string]string{
		"puma.{db":      `config: subject "puma.{db": an unclosed {`,
		"puma.{schema}": `config: subject "puma.{schema}": unknown placeholder {schema} (have: {db}, {table}, {op})`,
	} {
		if _, err := Parse("subject", text, "db", "table", "op"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", text, err, want)
		}
	}
}

func mustParse(t *testing.T, s string) Template {
	t.Helper()
	tp, err := Parse("k", s, "db")
	if err != nil {
		t.Fatal(err)
	}
	return tp
}
