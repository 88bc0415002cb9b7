#!/usr/bin/env bash
# Installs what building and running MemMesh needs on a fresh Debian machine. Idempotent: a
# second run installs nothing. Runs as root (CI) or through sudo.
#
#   - libclang-dev: the bundled RocksDB build generates its bindings with bindgen.
#   - etcd-server: the baseline of the cluster write benchmark (bench-cluster); never started
#     by the install itself.
#   - protoc is not needed: the proto crate uses a vendored protoc.
set -euo pipefail

need=()
for pkg in libclang-dev build-essential etcd-server; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 1; }
# The embedding runtime (ONNX Runtime from PyPI) and the default model, into .local/.
"$(dirname "$0")/setup-models.sh"
