#!/usr/bin/env bash
# Runs the whole test suite: starts a private PostgreSQL cluster for the database tests, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PGDIR=$(mktemp -d /tmp/viewbox-pg.XXXXXX)
cleanup() { [ -n "${PGBIN}" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PGDIR"; }
trap cleanup EXIT
if [ -n "${PGBIN}" ] && [ -z "${VIEWBOX_TEST_POSTGRES_URL:-}" ]; then
  chown postgres "$PGDIR"
  runuser -u postgres -- "$PGBIN/initdb" -A trust -U postgres -D "$PGDIR/data" >/dev/null 2>&1
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
    -o "-k $PGDIR -c listen_addresses='' -c fsync=off -c max_connections=200" start >/dev/null
  runuser -u postgres -- "$PGBIN/createdb" -h "$PGDIR" -U postgres viewbox_test
  export VIEWBOX_TEST_POSTGRES_URL="postgresql://postgres@/viewbox_test?host=$PGDIR"
fi
export TCP_NODELAY=1
PYTHON=python3; [ -x .venv/bin/python ] && PYTHON=.venv/bin/python  # setup.sh's venv, if it made one
# Conventions first (lint + import order): a change that breaks them fails like a failing test.
"$PYTHON" -m ruff check --quiet src tests bench
# Types (configured in pyproject [tool.mypy]): a change that breaks them fails too.
"$PYTHON" -m mypy
PRETTIER=tools/web/node_modules/.bin/prettier  # setup.sh installs it (npm ci --prefix tools/web)
[ -x "$PRETTIER" ] || npm ci --prefix tools/web --no-audit --no-fund --loglevel=error  # a new work tree
"$PRETTIER" --check --log-level warn src/viewbox/web/static
"$PYTHON" -m pytest -q -p no:cacheprovider "$@"
