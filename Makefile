# Entry points for humans and CI (.ci/run calls `make test`).
# One target per block; keep each recipe a plain command line.

.PHONY: test vet quickstart setup

# setup installs what the build and the tests need and the machine lacks
# (Debian packages, AssemblyScript); it prints nothing when all is there.
# As another user than root it says what is missing and how to install it.
setup:
	@scripts/setup.sh

# test is what CI runs. Tests that need MariaDB start private servers
# (internal/testdb); with CI set they fail instead of skipping.
test: setup
	gofmt -l $$(git ls-files '*.go') | (! grep .) && go vet ./... && go test -race -count=1 -timeout 40m ./...

vet:
	gofmt -l $$(git ls-files '*.go') | (! grep .) && go vet ./...

# soak-snapshot runs the initial snapshot's kill -9 end-to-end test on a
# million rows (CI runs it on 50 000; see README, Set-up).
.PHONY: soak-snapshot
soak-snapshot:
	CI=true PUMA_SNAPSHOT_ROWS=1000000 go test -count=1 -timeout 30m -run '^TestSnapshotKillNineConverges$$' -v ./e2e/

.PHONY: wasm fuzz

# wasm rebuilds the built-in plugins (plugins/builtins, one module holding
# plugins/amqp, filter, http, jsonl, mask, rename, route and stdout) to Wasm into
# plugins/embedded/wasm, which the puma binary embeds. The module is
# committed; run this and commit plugins/embedded/wasm after changing what
# it is built from (plugins/, sdk/, hostabi/wire): TestModuleCurrent fails
# until then.
wasm:
	go generate ./plugins/embedded

# fuzz runs each ABI decoder's fuzz target for FUZZTIME (CI runs the seeds
# only, as part of test).
FUZZTIME ?= 30s
fuzz: fuzz-capabilities
	go test ./sdk -run '^$$' -fuzz FuzzBatch -fuzztime $(FUZZTIME)
	go test ./sdk -run '^$$' -fuzz FuzzGroup -fuzztime $(FUZZTIME)
	go test ./hostabi -run '^$$' -fuzz FuzzReply -fuzztime $(FUZZTIME)
	go test ./hostabi/wire -run '^$$' -fuzz FuzzChangeParse -fuzztime $(FUZZTIME)
	go test ./hostabi/wire -run '^$$' -fuzz FuzzJSONString -fuzztime $(FUZZTIME)
	go test ./hostabi/instrument -run '^$$' -fuzz FuzzInstrument -fuzztime $(FUZZTIME)
	go test ./engine -run '^$$' -fuzz FuzzDecodeRows -fuzztime $(FUZZTIME)
	go test ./engine -run '^$$' -fuzz FuzzToUTF8 -fuzztime $(FUZZTIME)
	go test ./engine -run '^$$' -fuzz FuzzDecodeSchemaState -fuzztime $(FUZZTIME)
	go test ./internal/config -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)

# quickstart starts a private MariaDB, runs Puma with puma.toml, writes rows
# and prints the changes Puma delivered.
quickstart: setup
	scripts/quickstart.sh

# bench starts a private MariaDB, loads the benchmark workloads and measures
# go-mysql's decoder (the floor) and Puma with each sender on the same
# binary-log range, then rewrites the tables in BENCHMARKS.md. Takes ~15
# minutes; scale it with BENCH_FLAGS, e.g.
#   make bench BENCH_FLAGS="-rows 100000 -repeat 1 -steady-duration 10s"
.PHONY: bench
bench:
	go run -buildvcs=true ./cmd/puma-bench -out BENCHMARKS.md $(BENCH_FLAGS)

# plugins builds the example plugins (Go, and the C one with clang and
# wasi-libc) into var/plugins, for trying them with `puma plugin test`.
.PHONY: plugins
plugins:
	mkdir -p var/plugins
	for p in dropvalue emaildomain natstenant pgdaily rowcount webhook; do GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o var/plugins/$$p.wasm ./examples/$$p || exit 1; done
	clang --target=wasm32-wasi -mexec-model=reactor -O2 -o var/plugins/rowcount-c.wasm examples/rowcount/c/rowcount.c

# golden rewrites the `puma plugin test` golden files from the examples'
# fixtures.
.PHONY: golden
golden: wasm
	go test ./cmd/puma -run TestPluginTestGolden -update

# fuzz-capabilities runs the fuzz targets of the capability messages, kv
# state and `puma plugin test`'s envelope reader for FUZZTIME each.
.PHONY: fuzz-capabilities
fuzz-capabilities:
	go test ./hostabi/wire -run '^$$' -fuzz FuzzHTTPRequest -fuzztime $(FUZZTIME)
	go test ./hostabi/wire -run '^$$' -fuzz FuzzHTTPResponse -fuzztime $(FUZZTIME)
	go test ./hostabi/wire -run '^$$' -fuzz FuzzKV -fuzztime $(FUZZTIME)
	go test ./hostabi/wire -run '^$$' -fuzz FuzzRedisBatch -fuzztime $(FUZZTIME)
	go test ./hostabi/wire -run '^$$' -fuzz FuzzRedisReply -fuzztime $(FUZZTIME)
	go test ./hostabi/wire -run '^$$' -fuzz FuzzAMQPPublish -fuzztime $(FUZZTIME)
	go test ./hostabi/wire -run '^$$' -fuzz FuzzAMQPDeclare -fuzztime $(FUZZTIME)
	go test ./internal/plugintool -run '^$$' -fuzz FuzzReadBatches -fuzztime $(FUZZTIME)
