#!/usr/bin/env bash
# Builds the web pages (trend viewer, GraphiQL) into t3000gql/web/static from the npm packages pinned in
# t3000gql/web/frontend/package-lock.json: `npm ci`, then esbuild (frontend/build.mjs). Skips the build while
# the stamp in static/ matches a hash of the sources (and schema/examples, which the pages offer);
# `--force` builds anyway. Without npm it says so and exits 3: the server then answers 503 on its pages.
set -euo pipefail
cd "$(dirname "$0")/.."
front=t3000gql/web/frontend
out=t3000gql/web/static
stamp="$out/.build-stamp"
want="$(
  { find "$front" -path "$front/node_modules" -prune -o -type f -print; find schema/examples -type f; \
    echo scripts/build_web.sh; } | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
)"
if [ "${1:-}" != "--force" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "build_web.sh: npm (Node.js >= 18) is needed to build the web pages; install it and run again" >&2
  exit 3
fi
echo "building the web pages (npm ci + esbuild)…" >&2
# npm ci only when the lock file changed since node_modules was installed from it.
# --ignore-scripts: no package needs its install script (esbuild finds its binary in @esbuild/<platform>).
lock="$(sha256sum "$front/package-lock.json" | cut -d' ' -f1)"
installed="$front/node_modules/.t3000gql-lock"
if [ ! -f "$installed" ] || [ "$(cat "$installed")" != "$lock" ]; then
  (cd "$front" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
  echo "$lock" > "$installed"
fi
(cd "$front" && node build.mjs) >&2
echo "$want" > "$stamp"
