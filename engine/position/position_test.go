package position

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

func TestParseStart(t *testing.T) {
	tests := []struct {
		in   string
		want Start
		// str is what String renders, when it differs from in.
		str string
	}{
		{in: "checkpoint", want: Start{Mode: Checkpoint}},
		{in: "earliest", want: Start{Mode: Earliest}},
		{in: "latest", want: Start{Mode: Latest}},
		{in: "2026-11-25T10:00:00Z", want: Start{Mode: Time, Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}},
		{
			in:   "2026-11-25T12:00:00.5+02:00",
			want: Start{Mode: Time, Time: time.Date(2026, 11, 25, 10, 0, 0, 5e8, time.UTC)},
			str:  "2026-11-25T10:00:00.5Z",
		},
		{in: "gtid:0-1-100", want: Start{Mode: GTID, GTIDSet: "0-1-100"}},
		{in: "gtid:0-1-100,1-2-5", want: Start{Mode: GTID, GTIDSet: "0-1-100,1-2-5"}},
		{in: "gtid:3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", want: Start{Mode: GTID, GTIDSet: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"}},
		{in: "file:mysql-bin.000003:1234", want: Start{Mode: File, File: "mysql-bin.000003", Pos: 1234}},
		{in: "file:mysql-bin.000001:4", want: Start{Mode: File, File: "mysql-bin.000001", Pos: 4}},
		{in: "file:odd:name:120", want: Start{Mode: File, File: "odd:name", Pos: 120}},
		{in: "file:mysql-bin.000001:4294967295", want: Start{Mode: File, File: "mysql-bin.000001", Pos: 4294967295}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStart(tt.in)
			if err != nil {
				t.Fatalf("ParseStart: %v", err)
			}
			if got.Mode != tt.want.Mode || !got.Time.Equal(tt.want.Time) || got.GTIDSet != tt.want.GTIDSet || got.File != tt.want.File || got.Pos != tt.want.Pos {
				t.Fatalf("ParseStart = %+v, want %+v", got, tt.want)
			}
			str := tt.str
			if str == "" {
				str = tt.in
			}
			if got.String() != str {
				t.Errorf("String = %q, want %q", got.String(), str)
			}
			again, err := ParseStart(got.String())
			if err != nil {
				t.Fatalf("ParseStart(String()): %v", err)
			}
			if again.Mode != got.Mode || !again.Time.Equal(got.Time) || again.GTIDSet != got.GTIDSet || again.File != got.File || again.Pos != got.Pos {
				t.Errorf("round trip: %+v, want %+v", again, got)
			}
		})
	}
}

func TestParseStartErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string // in the message, besides the input
	}{
		{"", "want checkpoint, earliest, latest"},
		{"Checkpoint", "want checkpoint"},
		{"EARLIEST", "want checkpoint"},
		{"now", "want checkpoint"},
		{"2026-11-25", "RFC 3339"},
		{"2026-11-25 10:00:00", "RFC 3339"},
		{"gtid:", "empty gtid set"},
		{"gtid:0-1", "gtid set"},
		{"gtid:0-1-x", "gtid set"},
		{"gtid:3e11fa47-71ca-11e1-9e33-c80aa9429562:x", "gtid set"},
		{"file:", "file:<name>:<pos>"},
		{"file:mysql-bin.000001", "file:<name>:<pos>"},
		{"file::4", "file:<name>:<pos>"},
		{"file:mysql-bin.000001:", "pos must be"},
		{"file:mysql-bin.000001:3", "pos must be"},
		{"file:mysql-bin.000001:-4", "pos must be"},
		{"file:mysql-bin.000001:4294967296", "pos must be"},
		{"file:mysql-bin.000001:0x10", "pos must be"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStart(tt.in)
			if err == nil {
				t.Fatalf("ParseStart = %+v, want an error", got)
			}
			if !errors.Is(err, ErrBadSpec) {
				t.Errorf("error %v does not wrap ErrBadSpec", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"`+tt.in+`"`) {
				t.Errorf("error %q, want it to quote the input and say %q", err, tt.want)
			}
		})
	}
}

func TestStartStringInvalid(t *testing.T) {
	if s := (Start{}).String(); s != "invalid" {
		t.Errorf("zero Start renders %q", s)
	}
}

func TestPosition(t *testing.T) {
	var zero Position
	if !zero.IsZero() {
		t.Error("zero position is not IsZero")
	}
	if set, err := zero.GTIDs(); set != nil || err != nil {
		t.Errorf("GTIDs of a position without a set = %v, %v", set, err)
	}
	p := Position{ServerID: 7, Flavor: mysql.MariaDBFlavor, File: "mysql-bin.000002", Pos: 385, GTIDSet: "0-7-12,1-7-3"}
	if p.IsZero() {
		t.Error("position with a file is IsZero")
	}
	if got, want := p.String(), "mysql-bin.000002:385 gtid:0-7-12,1-7-3"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	set, err := p.GTIDs()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := set.(*mysql.MariadbGTIDSet); !ok || set.String() != "0-7-12,1-7-3" {
		t.Errorf("GTIDs = %T %v", set, set)
	}
	if (Position{GTIDSet: "0-1-1"}).IsZero() {
		t.Error("position with only a GTID set is IsZero")
	}
	if got := (Position{File: "f", Pos: 4}).String(); got != "f:4" {
		t.Errorf("String without GTIDs = %q", got)
	}
	bad := Position{Flavor: mysql.MySQLFlavor, GTIDSet: "0-1-1"}
	if _, err := bad.GTIDs(); err == nil || !strings.Contains(err.Error(), "mysql") {
		t.Errorf("GTIDs of a MariaDB set read as MySQL: err = %v", err)
	}
}

func TestGuessFlavor(t *testing.T) {
	for in, want := range map[string]string{
		"0-1-100":       mysql.MariaDBFlavor,
		"0-1-100,1-2-3": mysql.MariaDBFlavor,
		"":              mysql.MariaDBFlavor,
		"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5": mysql.MySQLFlavor,
	} {
		if got := GuessFlavor(in); got != want {
			t.Errorf("GuessFlavor(%q) = %q, want %q", in, got, want)
		}
	}
}
