#!/usr/bin/env bash
# The quick-start: start a private MariaDB (binary log in ROW format with full
# metadata) on 127.0.0.1:33306, run Puma with puma.toml, write some rows and
# show the changes Puma delivered. Everything lives under var/; run
# `go run ./cmd/puma-testdb stop -dir var/mariadb` to stop the server.
# `make quickstart` runs scripts/setup.sh first, which installs MariaDB.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

mkdir -p var/bin
go build -o var/bin/puma ./cmd/puma
go build -o var/bin/puma-testdb ./cmd/puma-testdb

addr=$(var/bin/puma-testdb start -dir var/mariadb -port 33306 -server-id 1 | tail -n 1)
echo "quickstart: MariaDB at $addr"
sql() { mariadb --protocol=tcp -h127.0.0.1 -P33306 -uroot -e "$1"; }
sql "CREATE DATABASE IF NOT EXISTS shop;
     CREATE TABLE IF NOT EXISTS shop.customers (
       id INT PRIMARY KEY AUTO_INCREMENT, email VARCHAR(100), balance DECIMAL(10,2), joined DATETIME(3));"

var/bin/puma check -c puma.toml
var/bin/puma run -c puma.toml 2>var/puma.log &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
# Wait until the task is streaming (asking the admin API), so the rows below
# come after its start. The first run compiles the plugins: a few seconds.
for _ in $(seq 300); do var/bin/puma status -c puma.toml shop 2>/dev/null | grep -q streaming && break; sleep 0.1; done

out=var/out/shop.jsonl
before=$( [ -f $out ] && wc -l <$out || echo 0 )
sql "INSERT INTO shop.customers (email, balance, joined) VALUES
       ('ada@example.com', 10.50, NOW(3)), ('grace@example.com', 99.99, NOW(3));
     UPDATE shop.customers SET balance = balance + 1 ORDER BY id DESC LIMIT 1;
     DELETE FROM shop.customers ORDER BY id LIMIT 1;"
for _ in $(seq 100); do [ "$(wc -l <$out 2>/dev/null || echo 0)" -ge $((before + 8)) ] && break; sleep 0.1; done

kill -TERM $pid && wait $pid || true
trap - EXIT
echo "quickstart: changes delivered to $out (begin/commit markers around each transaction):"
tail -n +$((before + 1)) $out
echo "quickstart: Puma's log is var/puma.log; stop MariaDB with: var/bin/puma-testdb stop -dir var/mariadb"
