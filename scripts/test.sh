#!/usr/bin/env bash
# One command: install (first time) and run the whole test suite. Arguments go to pytest.
# SQLite alone, unless T3000GQL_TEST_POSTGRES_URL names a PostgreSQL server (e.g.
# postgresql://postgres@127.0.0.1:5432/postgres): then every storage and API test runs on both databases, each
# PostgreSQL test in a database of its own, created and dropped (tests/conftest.py, tests/postgres.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
if [ -n "${T3000GQL_TEST_POSTGRES_URL:-}" ]; then
  echo "test.sh: SQLite and PostgreSQL (T3000GQL_TEST_POSTGRES_URL)" >&2
else
  echo "test.sh: SQLite only (set T3000GQL_TEST_POSTGRES_URL to run on PostgreSQL too)" >&2
fi
# The tests mostly wait (sockets, devices that do not answer, browsers), so they run in several processes even on
# two cores (pytest-xdist): T3000GQL_TEST_PROCESSES (default 4); 0 runs them in this process, as does `-n 0`.
processes=(-n "${T3000GQL_TEST_PROCESSES:-4}")
for arg in "$@"; do
  case "$arg" in -n|-n*|--numprocesses*|-p) processes=() ;; esac
done
exec .venv/bin/python -m pytest "${processes[@]}" "$@"
