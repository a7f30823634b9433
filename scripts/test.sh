#!/usr/bin/env bash
# The one command that installs what is needed, builds everything and runs every test:
#   sudo bash scripts/test.sh
# Exits non-zero on any failure and ends with ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
build_dir=${BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure --parallel "$(nproc)" --timeout 600
