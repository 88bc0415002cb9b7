"""Real `memmesh-node` processes for the Python SDK's tests (as tests/src/lib.rs starts them
for the Rust tests): each on a free loopback port, in its own temporary data directory,
killed at the end. The binaries come from MEMMESH_BIN_DIR (scripts/test.sh sets it to the
cargo target directory)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("MEMMESH_BIN_DIR", Path.home() / ".cache/memmesh/target/debug"))
BOOT = "bootstrap-secret-for-python-tests"


def free_addr() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


class Node:
    """A running node; `addr` is where it listens."""

    def __init__(self, data_dir: Path, listen: str, args: List[str], env: Dict[str, str]) -> None:
        self.data_dir, self.listen, self.args, self.env = data_dir, listen, args, env
        self.proc: Optional[subprocess.Popen[str]] = None
        self.addr = ""
        self.start()

    def start(self) -> None:
        exe = BIN_DIR / "memmesh-node"
        assert exe.exists(), f"{exe} not found: run `cargo build --workspace --bins` first (scripts/test.sh does)"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            {
                "MEMMESH__EMBEDDING__ENABLED": "true",
                "MEMMESH__EMBEDDING__MODEL_DIR": str(ROOT / ".local/models/all-minilm-l6-v2"),
                "MEMMESH__EMBEDDING__ORT_DYLIB": str(ROOT / ".local/lib/libonnxruntime.so"),
            }
        )
        env.update(self.env)
        log = open(self.data_dir.with_suffix(".log"), "a")
        self.proc = subprocess.Popen(
            [str(exe), "--data-dir", str(self.data_dir), "--listen", self.listen, *self.args],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "memmesh-node <id> listening on <addr>"
        parts = line.split()
        assert parts[2:4] == ["listening", "on"], f"node did not start: {line!r}; log: {self.data_dir.with_suffix('.log').read_text()}"
        self.addr = parts[4]
        out = self.proc.stdout
        threading.Thread(target=lambda: [None for _ in out], daemon=True).start()  # keep draining

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[List[Node]]:
    """Started nodes, killed at the end (tests append to it through `start_node`)."""
    started: List[Node] = []
    yield started
    for n in started:
        n.kill9()


def start_node(started: List[Node], tmp_path: Path, join: Optional[str] = None, auth: bool = False) -> Node:
    env = {"MEMMESH__AUTH__ENABLED": "true", "MEMMESH__AUTH__BOOTSTRAP_TOKEN": BOOT, "MEMMESH__AUTH__CLUSTER_SECRET": "peer-secret"} if auth else {}
    args = ["--join", join] if join else []
    n = Node(tmp_path / f"n{len(started)}", free_addr(), args, env)
    started.append(n)
    return n


def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
