#!/usr/bin/env bash
# Creates .venv and installs the locked versions (requirements.lock, or requirements-dev.lock with "dev"), then
# t3000gql itself (editable, without resolving anything again); again only when pyproject.toml or the lock file
# changed. Used by scripts/serve.sh and scripts/test.sh so that each is one command on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
lock="requirements${extras:+-$extras}.lock"
if [ ! -f "$lock" ]; then
  echo "bootstrap: no lock file $lock for extras '${extras}'" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=".venv/.t3000gql-installed${extras:+-$extras}"
want="$(cat pyproject.toml "$lock" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet -r "$lock"
  .venv/bin/python -m pip install --quiet --no-deps -e .
  echo "$want" > "$stamp"
fi

# The web pages (trend viewer, GraphiQL): built from npm when missing or when their sources changed (the
# script keeps a stamp). Without npm the server still runs and its pages say how to build them.
web_status=0
scripts/build_web.sh || web_status=$?
if [ "$web_status" -ne 0 ] && [ "$web_status" -ne 3 ]; then
  exit "$web_status"
fi
