#!/usr/bin/env bash
# Runs a benchmark that spawns the real `stepd` (bench/load/run.sh, bench/dispatch/run.sh call it):
# builds `stepd` and the benchmark, starts the private PostgreSQL server of scripts/postgres.sh when
# it can (else the benchmark skips its PostgreSQL rows), and runs the benchmark with the flags.
#
#   bash bench/common/run_with_stepd.sh BENCHMARK [FLAG]...   # BENCHMARK: e.g. load_bench
#   BUILD_DIR=build-bench bash bench/common/run_with_stepd.sh BENCHMARK ...
#
# Messages start with the benchmark's name less "_bench" ("load: build failed").
# Exit: the benchmark's, 1 when a build fails.
set -euo pipefail

bench=$1
shift
tag=${bench%_bench}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD_DIR:-build}
[[ $build = /* ]] || build=$root/$build

if [[ ! -f $build/build.ninja ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" -j2 stepd "$bench" >/dev/null || { echo "$tag: build failed" >&2; exit 1; }

if [[ -z ${STEPD_TEST_PG_URL:-} ]]; then
  if pg=$(bash "$root/scripts/postgres.sh" start 2>/dev/null); then
    eval "$pg"
  else
    echo "$tag: PostgreSQL could not be started; its rows will be skipped" >&2
  fi
fi

exec "$build/bench/$bench" "$@"
