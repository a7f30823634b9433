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
exec bash "$(dirname "${BASH_SOURCE[0]}")/../common/run_with_stepd.sh" load_bench "$@"
