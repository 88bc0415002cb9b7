#!/usr/bin/env bash
# Set-up command 2: install dependencies, build, run the whole test suite, then each benchmark
# as a short smoke run (so benches cannot rot; real figures come from running them directly).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
# Integration tests start the real binaries, so they must be current before the tests run.
cargo build --locked --workspace --bins
cargo test --locked --workspace
echo "== benchmark smoke runs"
"$CARGO_TARGET_DIR/debug/bench-write" --smoke
