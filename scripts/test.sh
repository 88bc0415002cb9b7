#!/usr/bin/env bash
# Set-up command 2: install dependencies, check formatting and lints, build, run the whole test
# suite, then each benchmark as a short smoke run (so benches cannot rot; real figures come from
# running them directly).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Docker (the image and compose tests), the base image, helm and kubernetes-validate.
scripts/setup-deploy.sh
. scripts/env.sh
echo "== formatting (rustfmt.toml) and lints"
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
# Integration tests start the real binaries, so they must be current before the tests run.
cargo build --locked --workspace --bins
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --workspace 2>&1 | tee "$log"
echo "== coverage-guided fuzzing (cargo fuzz, 20 s per target from a fixed seed; README, Testing)"
scripts/fuzz.sh --seconds 20
echo "== Python SDK (mypy --strict on the wrapper; pytest against real nodes, the MCP server too)"
scripts/setup-python.sh
(cd client/python && ../../.local/venv/bin/python -m mypy)
MEMMESH_BIN_DIR="$CARGO_TARGET_DIR/debug" .local/venv/bin/python -m pytest -q -p no:cacheprovider tests/python
echo "== helm chart (lint, kubernetes-validate, rendered wiring, start script)"
.local/venv/bin/python tests/deploy/helm_test.py "$PWD" "$CARGO_TARGET_DIR/debug/memmesh-node"
echo "== benchmark smoke runs"
"$CARGO_TARGET_DIR/debug/bench-write" --smoke
"$CARGO_TARGET_DIR/debug/bench-feed" --smoke
"$CARGO_TARGET_DIR/debug/bench-cluster" --smoke
"$CARGO_TARGET_DIR/debug/bench-embed" --smoke
"$CARGO_TARGET_DIR/debug/bench-search" --smoke
"$CARGO_TARGET_DIR/debug/bench-index-growth" --smoke
"$CARGO_TARGET_DIR/debug/bench-lifecycle" --smoke
# The sweep's own CPU per expired cube (no writers): the figure changes to the sweep are judged by.
"$CARGO_TARGET_DIR/debug/bench-lifecycle" --smoke --clients 0
"$CARGO_TARGET_DIR/debug/bench-backup" --smoke
MEMMESH_BIN_DIR="$CARGO_TARGET_DIR/debug" .local/venv/bin/python tests/python/bench_transfer.py --smoke
# The LoCoMo benches take a data directory; their smoke runs use the small conversation the
# project wrote in the same layout (tests/data/locomo-mini), so the test command needs nothing
# outside the clone. Real figures: run them on the LoCoMo data set (see the README).
"$CARGO_TARGET_DIR/debug/bench-locomo" --smoke tests/data/locomo-mini
# The adapter path: feedback, training (its 20 smoke questions give 21 pairs, just over the
# minimum), AUTO search; the figures come from --leave-one-out on the real data.
"$CARGO_TARGET_DIR/debug/bench-locomo" --smoke --adapter-train tests/data/locomo-mini tests/data/locomo-mini
"$CARGO_TARGET_DIR/debug/bench-dedupe" --smoke tests/data/locomo-mini
# One closing line over every test binary (cargo prints one summary per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
