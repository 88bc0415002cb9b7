#!/usr/bin/env bash
# Installs what building and running MemMesh needs on a fresh Debian machine. Idempotent: a
# second run installs nothing. Runs as root (CI) or through sudo.
#
#   - libclang-dev: the bundled RocksDB build generates its bindings with bindgen.
#   - etcd-server: the baseline of the cluster write benchmark (bench-cluster); never started
#     by the install itself.
#   - protoc is not needed: the proto crate uses a vendored protoc.
set -euo pipefail

"$(dirname "$0")/apt-install.sh" libclang-dev build-essential etcd-server
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 1; }
# The embedding runtime (ONNX Runtime from PyPI) and the default model, into .local/.
"$(dirname "$0")/setup-models.sh"
