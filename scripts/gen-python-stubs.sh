#!/usr/bin/env bash
# Generates the Python SDK's protobuf and gRPC modules from proto/ into
# client/python/src/memmesh/v1/ (they are committed; tests/python/test_stubs.py checks that they
# match what this script makes from the current .proto files). Usage: scripts/gen-python-stubs.sh [OUT_DIR]
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
out=${1:-client/python/src}
mkdir -p "$out"
.local/venv/bin/python -m grpc_tools.protoc -I proto \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" proto/memmesh/v1/{cube,memory,memstore,cluster,admin}.proto
touch "$out/memmesh/v1/__init__.py"
