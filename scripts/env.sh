# Sourced by the other scripts: one shared cargo target directory outside the clone, so RocksDB's
# C++ build (the long pole: ~20 min on 2 cores) is done once per machine, not once per clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/memmesh/target}"
