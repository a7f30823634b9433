#!/usr/bin/env bash
# The server load benchmark in one command (bench/README.md, "Server load"): builds `stepd` and
# `load_bench`, starts the private PostgreSQL server of scripts/postgres.sh when it can (else the
# PostgreSQL rows are skipped), and runs load_bench with the given flags.
#
#   bash bench/load/run.sh                         # SQLite and PostgreSQL, 10 s phases
#   bash bench/load/run.sh --only sqlite --duration 5
#   BUILD_DIR=build-bench bash bench/load/run.sh
#
# Exit: load_bench's (0 when every phase verified without error answers), 1 when a build fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD_DIR:-build}
[[ $build = /* ]] || build=$root/$build

if [[ ! -f $build/build.ninja ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" -j2 stepd load_bench >/dev/null || { echo "load: build failed" >&2; exit 1; }

if [[ -z ${STEPD_TEST_PG_URL:-} ]]; then
  if pg=$(bash "$root/scripts/postgres.sh" start 2>/dev/null); then
    eval "$pg"
  else
    echo "load: PostgreSQL could not be started; its rows will be skipped" >&2
  fi
fi

exec "$build/bench/load_bench" "$@"
