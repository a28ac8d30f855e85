package hostabi

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
)

type echoSettings struct {
	URL      string
	Retries  int64
	Password engine.Secret
	Timeout  time.Duration
}

type echoConn struct{ closed *int }

func (c echoConn) Close() error { *c.closed++; return nil }

func init() {
	registerTargetKind("echo", func(s *Settings) any {
		return echoSettings{
			URL:      s.Required("url", "the echo server's URL"),
			Retries:  s.Int("retries", 3, 0, 10),
			Password: s.Secret("password_secret"),
			Timeout:  s.Duration("timeout", time.Second),
		}
	})
}

func TestCheckTarget(t *testing.T) {
	secrets := map[string]engine.Secret{"pw": "hunter2"}
	if err := CheckTarget(engine.Target{Kind: "echo", Settings: map[string]any{"url": "x", "password_secret": "pw"}}, secrets); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		t    engine.Target
		want []string
	}{
		{engine.Target{Kind: "nope"}, []string{`kind: unknown kind "nope" (have: `, "echo"}},
		{engine.Target{Kind: "echo", Settings: map[string]any{}}, []string{"url: required: the echo server's URL"}},
		{engine.Target{Kind: "echo", Settings: map[string]any{"url": "x", "retries": int64(11), "timeout": "soon", "password_secret": "other", "colour": "red"}},
			[]string{"retries: want an integer from 0 to 10, got 11", `timeout: want a positive duration such as "5s", got "soon"`,
				`password_secret: no secret "other" in [secrets]`, "colour: unknown key (have: kind, password_secret, retries, timeout, url)"}},
	} {
		err := CheckTarget(tt.t, secrets)
		if err == nil {
			t.Errorf("%+v: no error", tt.t)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q lacks %q", tt.t, err, w)
			}
		}
	}
}

func TestTargetGrants(t *testing.T) {
	g, err := ParseGrants(map[string]any{"echo": []any{"a", "b"}}, "/")
	if err != nil {
		t.Fatal(err)
	}
	if !g.Has("echo") || g.Has("other") {
		t.Fatalf("grants %+v: Has(echo) = %v", g, g.Has("echo"))
	}
	if _, err := ParseGrants(map[string]any{"echoes": []any{"a"}}, "/"); err == nil || !strings.Contains(err.Error(), "echo") {
		t.Errorf("unknown capability: %v, want the kinds listed", err)
	}
	targets := map[string]engine.Target{"a": {Kind: "echo", Settings: map[string]any{"url": "x"}}, "b": {Kind: "other"}}
	err = checkTargetGrants(&g, targets)
	if err == nil || !strings.Contains(err.Error(), `grants.echo[1]: target "b" is of kind "other", not "echo"`) {
		t.Errorf("err = %v", err)
	}
	delete(targets, "b")
	if err := checkTargetGrants(&g, targets); err == nil || !strings.Contains(err.Error(), `grants.echo[1]: no target "b" in [targets]`) {
		t.Errorf("err = %v", err)
	}

	closed := 0
	dials := 0
	tc := &targetConns{targets: targets, grants: g.Targets}
	dial := func(s any) (io.Closer, error) {
		dials++
		if s.(echoSettings).URL != "x" {
			return nil, errors.New("wrong settings")
		}
		return echoConn{&closed}, nil
	}
	for range 2 {
		if _, err := tc.conn("echo", "a", dial); err != nil {
			t.Fatal(err)
		}
	}
	if dials != 1 {
		t.Errorf("%d dials, want one client reused", dials)
	}
	if _, err := tc.conn("echo", "c", dial); err == nil {
		t.Error("a target outside the grant was dialled")
	}
	tc.drop("echo", "a")
	if _, err := tc.conn("echo", "a", dial); err != nil || dials != 2 || closed != 1 {
		t.Errorf("after drop: err %v, %d dials, %d closed", err, dials, closed)
	}
	tc.close()
	if closed != 2 {
		t.Errorf("%d closed after close, want 2", closed)
	}
}
