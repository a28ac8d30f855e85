package sinkcfg

import (
	"errors"
	"strings"
	"testing"

	"github.com/pumacdc/puma/sdk/envelope"
)

func TestCheck(t *testing.T) {
	no := Refusals{Markers: "no markers here", DeleteCreate: "one message per change"}
	cases := []struct {
		target, format string
		env            envelope.Config
		want           []string // each error's text holds one, in order; none: valid
		row            bool
	}{
		{target: "t"},
		{target: "t", format: "envelope", env: envelope.Config{Tombstones: true}},
		{target: "t", format: "row", row: true},
		{format: "", want: []string{`target is required: the name of a [targets] table of kind "kafka"`}},
		{target: "t", format: "avro", want: []string{`format "avro": want "envelope" or "row"`}},
		{target: "t", format: "row", row: true, env: envelope.Config{Decimal: "string"}, want: []string{`need format = "envelope"`}},
		{target: "t", env: envelope.Config{Markers: true}, want: []string{"config: markers: no markers here"}},
		{target: "t", env: envelope.Config{KeyChange: "delete_create"}, want: []string{`config: key_change "delete_create": one message per change`}},
		{target: "t", env: envelope.Config{Decimal: "float"}, want: []string{"decimal"}},
	}
	for _, c := range cases {
		row, _, errs := Check("kafka", c.target, c.format, &c.env, no)
		if row != c.row {
			t.Errorf("%+v: row = %v, want %v", c, row, c.row)
		}
		if len(errs) != len(c.want) {
			t.Errorf("%+v: errors %v, want %d", c, errors.Join(errs...), len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(errs[i].Error(), w) {
				t.Errorf("%+v: error %q lacks %q", c, errs[i], w)
			}
		}
	}
}
