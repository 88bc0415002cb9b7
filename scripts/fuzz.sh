#!/usr/bin/env bash
# Coverage-guided fuzzing of the node: the cargo fuzz (libFuzzer) targets of node/fuzz, each
# started from the seed corpus the node's tests write (memmesh_node::fuzzing::seeds).
#
#   scripts/fuzz.sh [--seconds N] [--seed S] [TARGET ...]
#
# Runs every target (or those named) for N seconds each (default 20: the smoke run of the test
# command) with libFuzzer seed S (default: a fixed one, so CI is repeatable) and prints the
# executions of each. A crash stops the script and leaves the input in
# node/fuzz/artifacts/TARGET/; it becomes a regression test (README, Testing). The corpus grows
# in $MEMMESH_FUZZ_CORPUS (default: beside the build cache), so longer runs build on earlier ones.
#
# Built on stable Rust without a sanitizer (`-s none`): Rust code is memory-safe, so what is
# sought is panics, failed assertions, hangs and runaway allocation. The node links RocksDB's C++
# library from the main build (ROCKSDB_LIB_DIR) instead of compiling it a second time.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
seconds=20
seed=20261202
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(log_entry peer_message snapshot stored text client_request)

# cargo-fuzz, from crates.io (once).
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz --version 0.13.2
fi

# RocksDB as the main build compiled it (the test command builds it first; so does this).
lib=$(ls -t "$CARGO_TARGET_DIR"/debug/build/librocksdb-sys-*/out/librocksdb.a 2>/dev/null | head -1 || true)
if [ -z "$lib" ]; then
  cargo build --locked -p memmesh-node --lib
  lib=$(ls -t "$CARGO_TARGET_DIR"/debug/build/librocksdb-sys-*/out/librocksdb.a | head -1)
fi
# Only for the fuzz builds: librocksdb-sys reruns its build script when these change, so the
# main build's cargo commands must never see them (one that did recompiled the C++ twice).
rocks=(env ROCKSDB_LIB_DIR="$(dirname "$lib")" ROCKSDB_STATIC=1)
"${rocks[@]}" cargo fuzz build --fuzz-dir node/fuzz -s none

corpus=${MEMMESH_FUZZ_CORPUS:-$CARGO_TARGET_DIR/../fuzz-corpus}
mkdir -p "$corpus"
MEMMESH_FUZZ_SEEDS_DIR="$corpus" cargo test --locked -q -p memmesh-node --lib fuzzing::seeds::tests::write_fuzz_seeds -- --ignored --exact >/dev/null

total=0
for t in "${targets[@]}"; do
  mkdir -p "node/fuzz/artifacts/$t"
  log=$(mktemp)
  # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: a node and its RocksDB fit.
  if ! "${rocks[@]}" cargo fuzz run --fuzz-dir node/fuzz -s none "$t" "$corpus/$t" -- \
      -max_total_time="$seconds" -seed="$seed" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="node/fuzz/artifacts/$t/" >"$log" 2>&1; then
    tail -60 "$log"
    echo "fuzz: $t FAILED (seed $seed); the input is in node/fuzz/artifacts/$t/"
    rm -f "$log"
    exit 1
  fi
  runs=$(awk '/stat::number_of_executed_units:/ { print $2 }' "$log")
  cov=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -1 | grep -oE 'cov: [0-9]+' || true)
  echo "fuzz: $t: ${runs:-?} executions in ${seconds} s, seed $seed, ${cov:-cov: ?}, corpus $(ls "$corpus/$t" | wc -l) inputs, no crash"
  total=$((total + ${runs:-0}))
  rm -f "$log"
done
echo "fuzz: ${#targets[@]} targets, $total executions, no crash"
