#!/usr/bin/env bash
# Installs what building and testing Puma needs and this machine lacks, on
# Debian 12; `make test` and `make quickstart` run it first. It prints
# nothing when everything is present, so running it again costs nothing.
#
# As root it installs the missing Debian packages (and AssemblyScript with
# npm). The packages' system services (MariaDB, PostgreSQL, Redis,
# RabbitMQ, NATS) are never started: tests start private servers. As
# another user it prints what is missing and the commands that install it,
# and fails.
#
# Go (>= 1.26, the go line of go.mod) is not installed here: Debian 12's
# is too old. Get it from https://go.dev/dl and put it on PATH.
set -euo pipefail

# Debian keeps servers in sbin, which a user's PATH often lacks.
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

pkgs=()
need() { # need PACKAGE...: add each package not already listed
	local p
	for p in "$@"; do
		[[ " ${pkgs[*]-} " == *" $p "* ]] || pkgs+=("$p")
	done
}

# internal/testdb's private servers and the quick-start's client.
have mariadbd || need mariadb-server
have mariadb-install-db || need mariadb-server
have mariadb || need mariadb-client
# make itself; go test -race needs cgo; module downloads need the CA list.
have make || need make
have gcc || need gcc
installed libc6-dev || need libc6-dev
[ -e /etc/ssl/certs/ca-certificates.crt ] || need ca-certificates
# Guests the host's tests build: fault modules in WAT, C plugins with
# wasi-libc, hostabi/instrument's C and Rust guests (Rust from /usr/bin,
# Debian's, which has the wasm32 standard library).
have wat2wasm || need wabt
have clang || need clang
have wasm-ld || need lld
installed wasi-libc || need wasi-libc
installed libclang-rt-dev-wasm32 || need libclang-rt-dev-wasm32
[ -x /usr/bin/rustc ] || need rustc
installed libstd-rust-dev-wasm32 || need libstd-rust-dev-wasm32
# hostabi/instrument's AssemblyScript guest: asc comes from npm.
asc=assemblyscript@0.28.20
have asc || have npm || need npm
# Servers the senders' tests run privately.
have nats-server || need nats-server
have redis-server || need redis-server
have rabbitmq-server || need rabbitmq-server
have postgres || compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need postgresql

missing_go=false
have go || missing_go=true

if [ "${#pkgs[@]}" -eq 0 ] && have asc && [ "$missing_go" = false ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: missing, and not root to install it:" >&2
	[ "${#pkgs[@]}" -eq 0 ] || echo "  Debian packages: ${pkgs[*]}" >&2
	have asc || echo "  asc (AssemblyScript, from npm)" >&2
	[ "$missing_go" = false ] || echo "  go (>= 1.26) on PATH" >&2
	echo "install with:" >&2
	if [ "${#pkgs[@]}" -gt 0 ] || ! have asc; then
		echo "  sudo $0" >&2
		echo "or by hand:" >&2
		[ "${#pkgs[@]}" -eq 0 ] || echo "  sudo apt-get install --no-install-recommends ${pkgs[*]}" >&2
		have asc || echo "  sudo npm install -g $asc" >&2
	fi
	[ "$missing_go" = false ] || echo "  Go from https://go.dev/dl, then: export PATH=\$PATH:/usr/local/go/bin" >&2
	exit 1
fi

if [ "${#pkgs[@]}" -gt 0 ]; then
	echo "setup: installing ${pkgs[*]}"
	# Keep the packages' maintainer scripts from starting system services.
	own_policy=false
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=true
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${pkgs[@]}"
	if [ "$own_policy" = true ]; then
		rm -f /usr/sbin/policy-rc.d
		trap - EXIT
	fi
fi

if ! have asc; then
	echo "setup: installing $asc with npm"
	npm install -g --no-fund --no-audit "$asc"
fi

if [ "$missing_go" = true ]; then
	echo "setup: go (>= 1.26) is not on PATH: get it from https://go.dev/dl, then: export PATH=\$PATH:/usr/local/go/bin" >&2
	exit 1
fi
