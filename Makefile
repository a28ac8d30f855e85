# Entry points for humans and CI (.ci/run calls `make test`).
# One target per block; keep each recipe a plain command line.

.PHONY: test vet quickstart

# test is what CI runs. Tests that need MariaDB start private servers
# (internal/testdb); with CI set they fail instead of skipping.
test: wasm
	go vet ./... && go test -race -count=1 -timeout 25m ./...

vet: wasm
	go vet ./...

.PHONY: wasm fuzz

# wasm builds the built-in plugins (plugins/filter, jsonl, stdout) to Wasm
# into plugins/embedded/wasm, which the puma binary embeds. `go build
# ./cmd/puma` fails with a message naming this target until it has run.
wasm:
	go generate ./plugins/embedded

# fuzz runs each ABI decoder's fuzz target for FUZZTIME (CI runs the seeds
# only, as part of test).
FUZZTIME ?= 30s
fuzz:
	go test ./sdk -run '^$$' -fuzz FuzzBatch -fuzztime $(FUZZTIME)
	go test ./hostabi -run '^$$' -fuzz FuzzReply -fuzztime $(FUZZTIME)

# quickstart starts a private MariaDB, runs Puma with puma.toml, writes rows
# and prints the changes Puma delivered.
quickstart:
	scripts/quickstart.sh

# bench starts a private MariaDB, loads the benchmark workloads and measures
# go-mysql's decoder (the floor) and Puma with each sender on the same
# binary-log range, then rewrites the tables in BENCHMARKS.md. Takes ~10
# minutes; scale it with BENCH_FLAGS, e.g.
#   make bench BENCH_FLAGS="-rows 100000 -repeat 1 -steady-duration 10s"
.PHONY: bench
bench:
	go run -buildvcs=true ./cmd/puma-bench -out BENCHMARKS.md $(BENCH_FLAGS)
