#!/usr/bin/env bash
# Installs what a fresh clone lacks before the demo or the tests run: npm packages, and the Debian packages
# for the real MariaDB server the integration tests start and for the Helm chart's template renderer (Go and
# sprig). PostgreSQL 15 is expected to be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "stillpoint: installing npm packages (npm ci)…" >&2
  npm ci --no-audit --no-fund >&2
fi

[ "${1:-}" = "--npm-only" ] && exit 0

missing=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
command -v mariabackup >/dev/null 2>&1 || missing+=(mariadb-backup)
# The Helm chart's tests render it with Helm's template engine (Go text/template + sprig), built from these.
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/Masterminds/sprig ] || missing+=(golang-github-masterminds-sprig-dev)
[ -d /usr/share/gocode/src/sigs.k8s.io/yaml ] || missing+=(golang-k8s-sigs-yaml-dev)
# The dashboard's browser test (test/serve/) drives Debian's chromium through playwright-core.
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "stillpoint: installing Debian packages: ${missing[*]}…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${missing[@]}" >&2
  else
    echo "stillpoint: missing ${missing[*]}; install them (apt-get install -y ${missing[*]}) for the MariaDB and Helm chart tests." >&2
  fi
fi
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && [ -z "${STILLPOINT_PG_BIN:-}" ]; then
  echo "stillpoint: PostgreSQL 15 binaries not found under /usr/lib/postgresql/15/bin; set STILLPOINT_PG_BIN." >&2
fi
