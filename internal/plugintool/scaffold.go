package plugintool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// pumaModule is the module path of Puma, whose sdk a plugin imports.
const pumaModule = "github.com/pumacdc/puma"

// ErrNoSDK reports that the Puma checkout to point a scaffold's SDK at is
// not known: the binary was built without its source path (-trimpath),
// or the source has moved.
var ErrNoSDK = errors.New("cannot tell where the Puma source this binary was built from is: pass -sdk with the path of a Puma checkout")

// BuildCheckout returns the Puma checkout this binary was built from,
// found from the source path compiled into it; ErrNoSDK when it was
// built with -trimpath or the checkout is gone.
func BuildCheckout() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", ErrNoSDK
	}
	dir := filepath.Dir(filepath.Dir(filepath.Dir(file))) // internal/plugintool/scaffold.go
	if _, err := goVersion(dir); err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNoSDK, err)
	}
	return dir, nil
}

// goVersion reads the module path and go directive of dir/go.mod, and
// returns the go version if the module is Puma's and has sdk/.
func goVersion(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("%s is not a Puma checkout: %w", dir, err)
	}
	var module, goVer string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "module" {
			module = strings.Trim(f[1], `"`)
		}
		if len(f) == 2 && f[0] == "go" {
			goVer = f[1]
		}
	}
	if module != pumaModule {
		return "", fmt.Errorf("%s is not a Puma checkout: its go.mod declares module %q, not %s", dir, module, pumaModule)
	}
	if fi, err := os.Stat(filepath.Join(dir, "sdk", "sdk.go")); err != nil || fi.IsDir() {
		return "", fmt.Errorf("%s has no sdk/sdk.go", dir)
	}
	if goVer == "" {
		goVer = "1.25.0"
	}
	return goVer, nil
}

var moduleNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Scaffold writes a new Go plugin into dir, which must be empty or not
// exist: go.mod (its SDK replaced by the checkout at sdk until Puma's
// module is published), main.go (a handler), main_test.go (a test of it
// with sdk/sdktest) and testdata/changes.jsonl (a typed fixture for
// `puma plugin test`). It builds offline with the stock Go toolchain. It
// returns the files written.
func Scaffold(dir, sdk string) ([]string, error) {
	abs, err := filepath.Abs(sdk)
	if err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	goVer, err := goVersion(abs)
	if err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	name := strings.ToLower(filepath.Base(filepath.Clean(dir)))
	if !moduleNameRE.MatchString(name) {
		return nil, fmt.Errorf("%s: the directory's name %q makes no module name: use lowercase letters, digits, '.', '_' and '-'", dir, name)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s is not empty: init writes a new plugin into an empty or new directory", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	files := []struct{ name, text string }{
		{"go.mod", fmt.Sprintf(goModTemplate, name, goVer, pumaModule, pumaModule, filepath.ToSlash(abs))},
		{"main.go", strings.ReplaceAll(mainTemplate, "NAME", name)},
		{"main_test.go", testTemplate},
		{filepath.Join("testdata", "changes.jsonl"), fixtureTemplate},
	}
	var written []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return written, err
		}
		if err := os.WriteFile(p, []byte(f.text), 0o644); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

const goModTemplate = `module %s

go %s

require %s v0.0.0

// Until Puma's module is published, the SDK comes from a checkout
// (puma plugin init -sdk PATH).
replace %s => %s
`

const mainTemplate = `// Command NAME is a Puma handler plugin. As written it drops the rows
// whose column (config "column") holds a value (config "value") and keeps
// every other change; change the handler below to do what you need.
//
//	go test ./...                                   # the handler natively, with sdk/sdktest
//	puma plugin build -o NAME.wasm .                # the Wasm module
//	puma plugin test -config '{"column":"status","value":"test"}' NAME.wasm testdata/changes.jsonl
//
// In puma.toml:
//
//	[[task.handler]]
//	plugin = "NAME.wasm"
//	config = { column = "status", value = "test" }
package main

import (
	"errors"

	"github.com/pumacdc/puma/sdk"
)

type config struct {
	Column string ` + "`json:\"column\"`" + `
	Value  string ` + "`json:\"value\"`" + `
}

var cfg config

// init registers the plugin: a c-shared wasip1 module never runs main.
func init() {
	sdk.Init(func(raw []byte) error {
		cfg = config{}
		if err := sdk.DecodeConfig(raw, &cfg); err != nil {
			return err // an unknown key is an error: a typo is not ignored
		}
		if cfg.Column == "" {
			return errors.New("config: column is required")
		}
		return nil
	})
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		img := r.After()
		if r.Op() == sdk.OpDelete {
			img = r.Before()
		}
		if v := img.Get(cfg.Column); v.Valid() && v.Text() == cfg.Value {
			return sdk.Drop()
		}
		return sdk.Keep()
	})
}

func main() {}
`

const testTemplate = `package main

import (
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

var customers = &sdktest.Table{DB: "shop", Name: "customers", Columns: []sdk.Column{
	{Name: "id", Kind: sdk.KindInt},
	{Name: "status", Kind: sdk.KindEnum, Values: []string{"live", "test"}},
}}

func TestHandler(t *testing.T) {
	if err := sdktest.Init(` + "`" + `{"column":"status","value":"test"}` + "`" + `); err != nil {
		t.Fatal(err)
	}
	res, err := sdktest.Handle(
		sdktest.Insert(customers, int64(1), "live"),
		sdktest.Insert(customers, int64(2), "test"),
		sdktest.Delete(customers, int64(2), "test"),
	)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"keep", "drop", "drop"} {
		if res[i].Verdict != want {
			t.Errorf("change %d: %s, want %s", i, res[i].Verdict, want)
		}
	}
	if err := sdktest.Init(` + "`" + `{"colum":"status"}` + "`" + `); err == nil {
		t.Error("a misspelt config key was accepted")
	}
}
`

const fixtureTemplate = `# Changes for puma plugin test, as builtin:jsonl writes them. The schema
# line gives each column its SQL type, so values reach the plugin with the
# kinds the binary log gives them (a DECIMAL as a decimal, not a string).
{"schema":{"db":"shop","table":"customers","key":["id"],"columns":[{"name":"id","type":"bigint"},{"name":"email","type":"varchar(255)"},{"name":"status","type":"enum('live','test')"},{"name":"balance","type":"decimal(10,2)"}]}}
{"status":"BEGIN","id":"0-1-100","ts_ms":1764064800000,"event_count":null,"data_collections":null,"puma":{"server_id":1,"file":"mariadb-bin.000001","pos":400}}
{"before":null,"after":{"id":1,"email":"ann@example.com","status":"live","balance":"10.50"},"source":{"version":"2.0","connector":"mariadb","name":"test","ts_ms":1764064800000,"snapshot":"false","db":"shop","table":"customers","server_id":1,"gtid":"0-1-100","file":"mariadb-bin.000001","pos":512,"row":0,"thread":null,"query":null},"transaction":{"id":"0-1-100","total_order":1,"data_collection_order":1},"op":"c","ts_ms":0,"ts_us":0,"ts_ns":0,"puma":{"tx":{"id":"0-1-100","seq":1},"key":{"id":1}}}
{"before":null,"after":{"id":2,"email":"bob@test.example","status":"test","balance":"3.00"},"source":{"version":"2.0","connector":"mariadb","name":"test","ts_ms":1764064800000,"snapshot":"false","db":"shop","table":"customers","server_id":1,"gtid":"0-1-100","file":"mariadb-bin.000001","pos":512,"row":1,"thread":null,"query":null},"transaction":{"id":"0-1-100","total_order":2,"data_collection_order":2},"op":"c","ts_ms":0,"ts_us":0,"ts_ns":0,"puma":{"tx":{"id":"0-1-100","seq":2},"key":{"id":2}}}
{"status":"END","id":"0-1-100","ts_ms":1764064800000,"event_count":2,"data_collections":[{"data_collection":"shop.customers","event_count":2}],"puma":{"file":"mariadb-bin.000001","pos":700,"gtid_set":"0-1-100"}}
`
