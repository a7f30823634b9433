#!/usr/bin/env bash
# The task-dispatch benchmark in one command (bench/README.md, "Task dispatch"): builds `stepd` and
# `dispatch_bench`, starts the private PostgreSQL server of scripts/postgres.sh when it can (else
# the PostgreSQL rows are skipped), and runs dispatch_bench with the given flags.
#
#   bash bench/dispatch/run.sh                       # SQLite and PostgreSQL, both modes
#   bash bench/dispatch/run.sh --only sqlite --mode push
#   BUILD_DIR=build-bench bash bench/dispatch/run.sh
#
# Exit: dispatch_bench's (0 when every run verified), 1 when a build fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD_DIR:-build}
[[ $build = /* ]] || build=$root/$build

if [[ ! -f $build/build.ninja ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" -j2 stepd dispatch_bench >/dev/null || { echo "dispatch: build failed" >&2; exit 1; }

if [[ -z ${STEPD_TEST_PG_URL:-} ]]; then
  if pg=$(bash "$root/scripts/postgres.sh" start 2>/dev/null); then
    eval "$pg"
  else
    echo "dispatch: PostgreSQL could not be started; its rows will be skipped" >&2
  fi
fi

exec "$build/bench/dispatch_bench" "$@"
