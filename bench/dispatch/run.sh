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
exec bash "$(dirname "${BASH_SOURCE[0]}")/../common/run_with_stepd.sh" dispatch_bench "$@"
