#!/usr/bin/env bash
# Builds the MemMesh container image from deploy/Dockerfile.
#
#   scripts/build-image.sh [TAG]          (default tag: memmesh:dev)
#   BASE=debian:bookworm-slim scripts/build-image.sh memmesh:1.0
#
# The binaries are those of the workspace's dev profile, which is already optimised
# (opt-level 3 for MemMesh, 2 for dependencies): a separate release build would compile
# RocksDB's C++ a second time (~15–23 min on 2 cores) for no measured gain, so the image takes
# the binaries the tests ran. Debug line tables are stripped on the way in. BASE defaults to
# memmesh-base:bookworm (made by scripts/setup-deploy.sh) when it exists, else
# debian:bookworm-slim. Prints the image's size.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
TAG=${1:-memmesh:dev}
DOCKER=/usr/bin/docker
if [ -z "${BASE:-}" ]; then
  if "$DOCKER" image inspect memmesh-base:bookworm >/dev/null 2>&1; then BASE=memmesh-base:bookworm; else BASE=debian:bookworm-slim; fi
fi
scripts/setup-models.sh
# MEMMESH_SKIP_BUILD=1: take the binaries already in $CARGO_TARGET_DIR/debug (the tests do: they
# image the binaries they run).
[ "${MEMMESH_SKIP_BUILD:-0}" = 1 ] || cargo build --locked --workspace --bins -q
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin" "$ctx/lib" "$ctx/models"
for b in memmesh-node memmesh; do
  objcopy --strip-debug "$CARGO_TARGET_DIR/debug/$b" "$ctx/bin/$b"
done
cp -L .local/lib/libonnxruntime.so "$ctx/lib/libonnxruntime.so"
cp -r .local/models/all-minilm-l6-v2 "$ctx/models/"
"$DOCKER" build -q -f deploy/Dockerfile --build-arg "BASE=$BASE" -t "$TAG" "$ctx" >/dev/null
size=$("$DOCKER" image inspect -f '{{.Size}}' "$TAG")
echo "built $TAG on $BASE: $((size / 1000000)) MB" >&2
