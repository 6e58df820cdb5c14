#!/usr/bin/env bash
# One command: install (first time) and run the server. Arguments go to `t3000gql serve` (e.g. --demo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/t3000gql serve "$@"
