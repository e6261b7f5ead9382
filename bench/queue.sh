#!/usr/bin/env bash
# Queue benchmark: wavekeep's queue on SQLite and PostgreSQL, then
# graphile-worker (npm) on the same PostgreSQL in the same run.
#   bench/queue.sh   (WAVEKEEP_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/test)
set -euo pipefail
source "$(dirname "$0")/../scripts/setup.sh"
cd "$ROOT"
PG=${WAVEKEEP_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
echo "== queue: no-op jobs ($(nproc) cores)"
WAVEKEEP_BENCH_PG_URL="$PG" cargo bench -q -p server --bench queue
command -v node >/dev/null || apt_install nodejs npm
(cd bench/graphile && { [ -d node_modules ] || npm ci --no-audit --no-fund; })
node bench/graphile/run.mjs "$PG"
