#!/usr/bin/env bash
# Installs what the Python SDK's checks need into .local/venv (from PyPI, pinned): grpcio and
# protobuf (the SDK's runtime), grpcio-tools (regenerating the stubs to compare), pytest, mypy
# with types-protobuf, and the `mcp` package (a real MCP client for the `memmesh mcp` tests).
# Then installs the SDK itself from client/python, as a user would (`pip install
# ./client/python`). Idempotent: a second run downloads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCAL="$PWD/.local"
[ -x "$LOCAL/venv/bin/python" ] || python3 -m venv "$LOCAL/venv"
PY="$LOCAL/venv/bin/python"
PINS=(grpcio==1.85.3 grpcio-tools==1.85.1 protobuf==7.36.2 types-protobuf==7.35.1.20260906 pytest==9.2.0 mypy==2.4.1 mcp==2.3.0)
if ! "$PY" - "${PINS[@]}" <<'CHECK' 2>/dev/null; then
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    if version(name) != want:
        sys.exit(1)
CHECK
  echo "setup-python: installing ${PINS[*]} into .local/venv" >&2
  "$LOCAL/venv/bin/pip" install -q "${PINS[@]}"
fi
# --no-deps: its dependencies are the pins above. Reinstalled every run (a few seconds), so the
# tests use the SDK as it is in this checkout.
"$LOCAL/venv/bin/pip" install -q --no-deps --force-reinstall ./client/python
