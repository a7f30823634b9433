#!/usr/bin/env bash
# Installs what Stepd needs (Debian 12, as root), builds the server and runs it in the
# foreground on its embedded SQLite default: `stepd.db` in the current directory, listening on
# 127.0.0.1:8080. Extra arguments go to stepd (see `stepd --help`), e.g.
#   bash scripts/run.sh --listen 127.0.0.1:9000 --store sqlite:/var/lib/stepd/stepd.db
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh"
BUILD_DIR="${BUILD_DIR:-$root/build}" bash "$root/scripts/build.sh" stepd stepctl
exec "${BUILD_DIR:-$root/build}/server/stepd" "$@"
