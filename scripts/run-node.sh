#!/usr/bin/env bash
# Set-up command 1: install dependencies, build, and run a node on its defaults
# (single-node cluster, ./memmesh-data, 127.0.0.1:7070). Extra arguments go to memmesh-node,
# e.g. scripts/run-node.sh --listen 127.0.0.1:7171 --data-dir /tmp/n1
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
cargo build --locked --workspace --bins
exec "$CARGO_TARGET_DIR/debug/memmesh-node" "$@"
