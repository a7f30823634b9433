#!/usr/bin/env bash
# Runs Stepd's benchmarks and the peer baseline, and prints the comparison table.
#
#   bash bench/run.sh            # build, ops_bench, machines_bench, peer, table
#
# Environment:
#   BUILD_DIR         build directory (default: build)
#   BENCH_BUDGET      timed seconds per machine, for Stepd and for the peer (default: 2)
#   BENCH_WARMUP      warm-up seconds per machine (default: 0.5)
#   BENCH_OPS=0       skip the per-operation benchmarks
#   STEPD_SHARED_DIR  the shared directory (default: ../shared beside the repository)
#
# Exit codes: 0 done (also when the machines or Node.js are absent: said so, figures omitted);
# 1 a build failed or a run failed verification (wrong status or number of states entered).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
build_dir=${BUILD_DIR:-build}
budget=${BENCH_BUDGET:-2}
warmup=${BENCH_WARMUP:-0.5}
shared=${STEPD_SHARED_DIR:-$(cd "$repo/.." && pwd)/shared}
machines="$shared/bench/machines"
export STEPD_SHARED_DIR="$shared"

echo "== building machines_bench ops_bench in $build_dir"
if ! build_log=$(BUILD_DIR="$build_dir" bash scripts/build.sh machines_bench ops_bench 2>&1); then
  echo "$build_log"
  echo "bench: build failed"
  exit 1
fi

if [[ ! -f "$machines/manifest.json" ]]; then
  echo "skipped: no benchmark machines at $machines (set STEPD_SHARED_DIR)"
  exit 0
fi

if [[ "${BENCH_OPS:-1}" != 0 ]]; then
  echo "== per-operation benchmarks (ops_bench)"
  "$build_dir/bench/ops_bench" --benchmark_min_time=0.1
fi

echo "== whole machines: Stepd (single thread, virtual time, no history); load average:" \
  "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
stepd_json=$("$build_dir/bench/machines_bench" --json --budget "$budget" --warmup "$warmup" \
  --machines "$machines")

peer_json='{}'
peer_note=''
if { ! command -v node >/dev/null || ! command -v npm >/dev/null; } && [[ $(id -u) -eq 0 ]]; then
  echo "== installing Node.js and npm (Debian packages) for the peer"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm \
    >/dev/null || true
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  peer_note='peer skipped: node/npm not installed'
else
  if [[ ! -d bench/peer/node_modules/aws-local-stepfunctions ]]; then
    # npm ci when a lock file pins the whole tree; npm install otherwise (package.json pins
    # aws-local-stepfunctions itself to 3.0.0).
    npm_cmd=install
    [[ -f bench/peer/package-lock.json ]] && npm_cmd=ci
    echo "== installing the peer (npm $npm_cmd in bench/peer)"
    if ! (cd bench/peer && npm "$npm_cmd" --no-audit --no-fund --loglevel=error >/dev/null); then
      peer_note="peer skipped: npm $npm_cmd failed in bench/peer"
    fi
  fi
  if [[ -z "$peer_note" ]]; then
    echo "== same final outputs on both? (one run each)"
    outputs_dir=$(mktemp -d)
    trap 'rm -rf "$outputs_dir"' EXIT
    "$build_dir/bench/machines_bench" --outputs --machines "$machines" >"$outputs_dir/stepd.json"
    node bench/peer/run.mjs --outputs --machines "$machines" >"$outputs_dir/peer.json"
    node bench/peer/compare.mjs "$outputs_dir/stepd.json" "$outputs_dir/peer.json" ||
      echo "warning: the outputs differ (the figures below may not compare like with like)"
    echo "== whole machines: peer aws-local-stepfunctions (node $(node --version), one process)"
    peer_json=$(node bench/peer/run.mjs --machines "$machines" --budget "$budget" \
      --warmup "$warmup")
  fi
fi
[[ -n "$peer_note" ]] && echo "$peer_note"

echo
if ! command -v node >/dev/null; then
  # No Node.js: Stepd's figures alone.
  STEPD_JSON="$stepd_json" python3 -c 'import json, os
for m in json.loads(os.environ["STEPD_JSON"])["machines"]:
    print(f"| {m[\"machine\"]} | {m[\"transitions_per_s\"]:,.0f} | n/a | n/a |")'
  exit 0
fi
STEPD_JSON="$stepd_json" PEER_JSON="$peer_json" node bench/peer/table.mjs
