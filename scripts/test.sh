#!/usr/bin/env bash
# One command: install (first time) and run the whole test suite. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
exec .venv/bin/python -m pytest "$@"
