#!/usr/bin/env bash
# The one command that installs what is needed, builds everything and runs every test:
#   sudo bash scripts/test.sh
# Exits non-zero on any failure and ends with ctest's summary.
# The PostgreSQL tests run against a private server (scripts/postgres.sh) started here and
# stopped at exit; one that was already running is used and left running.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
build_dir=${BUILD_DIR:-build}
if ! bash scripts/postgres.sh status; then
  trap 'bash scripts/postgres.sh stop' EXIT
fi
eval "$(bash scripts/postgres.sh start)"
export STEPD_TEST_PG_URL
ctest --test-dir "$build_dir" --output-on-failure --parallel "$(nproc)" --timeout 600
