package position

import "testing"

func TestIncludes(t *testing.T) {
	maria := func(set string) Position {
		return Position{ServerID: 1, Flavor: "mariadb", File: "bin.000002", Pos: 500, GTIDSet: set}
	}
	file := func(f string, pos uint32) Position {
		return Position{ServerID: 1, Flavor: "mariadb", File: f, Pos: pos}
	}
	snap := func(p Position, done []string, table string, key ...string) Position {
		p.Snapshot = &Snapshot{Done: done, Table: table, Key: key}
		return p
	}
	for _, tt := range []struct {
		name string
		p, q Position
		want bool
	}{
		{"same gtid set", maria("0-1-10"), maria("0-1-10"), true},
		{"earlier sequence", maria("0-1-10"), maria("0-1-9"), true},
		{"later sequence", maria("0-1-10"), maria("0-1-11"), false},
		{"failover: another server, same domain", maria("0-1-10"), maria("0-2-10"), true},
		{"another domain", maria("0-1-10"), maria("0-1-5,1-1-1"), false},
		{"mysql set", Position{Flavor: "mysql", GTIDSet: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-20", File: "b.1", ServerID: 1},
			Position{Flavor: "mysql", GTIDSet: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-7", File: "b.1", ServerID: 1}, true},
		{"file: earlier offset", file("bin.000002", 500), file("bin.000002", 400), true},
		{"file: same", file("bin.000002", 500), file("bin.000002", 500), true},
		{"file: later offset", file("bin.000002", 500), file("bin.000002", 600), false},
		{"file: earlier file", file("bin.000010", 4), file("bin.000009", 900), true},
		{"file: later file", file("bin.000009", 900), file("bin.000010", 4), false},
		{"file: another server", file("bin.000002", 500), Position{ServerID: 2, File: "bin.000001", Pos: 4}, false},
		{"zero includes nothing", Position{}, maria("0-1-1"), false},
		{"streaming past a snapshot", maria("0-1-11"), snap(maria("0-1-10"), nil, "db.t", "i:5"), true},
		{"snapshot does not include streaming", snap(maria("0-1-10"), []string{"db.a"}, ""), maria("0-1-11"), false},
		{"snapshot: table done", snap(maria("0-1-10"), []string{"db.a"}, "db.b", "i:1"), snap(maria("0-1-10"), nil, "db.a", "i:99"), true},
		{"snapshot: same key", snap(maria("0-1-10"), nil, "db.a", "s:x"), snap(maria("0-1-10"), nil, "db.a", "s:x"), true},
		{"snapshot: text keys do not order", snap(maria("0-1-10"), nil, "db.a", "s:y"), snap(maria("0-1-10"), nil, "db.a", "s:x"), false},
		{"snapshot: smaller int key", snap(maria("0-1-10"), nil, "db.a", "i:10", "u:2"), snap(maria("0-1-10"), nil, "db.a", "i:10", "u:1"), true},
		{"snapshot: larger int key", snap(maria("0-1-10"), nil, "db.a", "i:-10"), snap(maria("0-1-10"), nil, "db.a", "i:9"), false},
		{"snapshot: other table not done", snap(maria("0-1-10"), []string{"db.a"}, "db.b", "i:1"), snap(maria("0-1-10"), nil, "db.c", "i:1"), false},
		{"snapshot: another snapshot", snap(maria("0-1-10"), []string{"db.a"}, ""), snap(maria("0-1-12"), nil, "db.a", "i:1"), false},
	} {
		if got := tt.p.Includes(tt.q); got != tt.want {
			t.Errorf("%s: %v includes %v = %v, want %v", tt.name, tt.p, tt.q, got, tt.want)
		}
	}
}

func TestIncludesGTIDAndEvent(t *testing.T) {
	p := Position{ServerID: 1, Flavor: "mariadb", File: "bin.000003", Pos: 800, GTIDSet: "0-1-10,1-2-4"}
	for gtid, want := range map[string]bool{"0-1-10": true, "0-3-2": true, "1-2-5": false, "2-1-1": false, "": false, "junk": false} {
		if got := p.IncludesGTID(gtid); got != want {
			t.Errorf("IncludesGTID(%q) = %v, want %v", gtid, got, want)
		}
	}
	f := Position{ServerID: 1, File: "bin.000003", Pos: 800}
	for _, tt := range []struct {
		file string
		pos  uint32
		want bool
	}{{"bin.000003", 700, true}, {"bin.000003", 800, false}, {"bin.000002", 9000, true}, {"bin.000004", 4, false}, {"other.000001", 4, false}} {
		if got := f.IncludesEvent(tt.file, tt.pos); got != tt.want {
			t.Errorf("IncludesEvent(%s:%d) = %v, want %v", tt.file, tt.pos, got, tt.want)
		}
	}
}
