#!/usr/bin/env bash
# The durable engine's benchmarks W1-W3 on SQLite and on PostgreSQL, in one process run:
#   bash bench/engine.sh [--json]
# Builds engine_bench, starts the private PostgreSQL of scripts/postgres.sh (and stops it again
# if it was not running), and prints each workload's figures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh engine_bench
build_dir=${BUILD_DIR:-build}
if ! bash scripts/postgres.sh status >/dev/null 2>&1; then
  trap 'bash scripts/postgres.sh stop >/dev/null' EXIT
fi
eval "$(bash scripts/postgres.sh start)"
"$build_dir/bench/engine_bench" --postgres "$STEPD_TEST_PG_URL" "$@"
