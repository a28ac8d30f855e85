# Entry points for humans and CI (.ci/run calls `make test`).
# One target per block; keep each recipe a plain command line.

.PHONY: test vet quickstart

# test is what CI runs. Tests that need MariaDB start private servers
# (internal/testdb); with CI set they fail instead of skipping.
test:
	go vet ./... && go test -race -count=1 -timeout 25m ./...

vet:
	go vet ./...

# quickstart starts a private MariaDB, runs Puma with puma.toml, writes rows
# and prints the changes Puma delivered.
quickstart:
	scripts/quickstart.sh
