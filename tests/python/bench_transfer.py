"""bench-transfer: export and import throughput (cubes/s) and the Python SDK's latency beside the
Rust CLI's, on one node started for the run (embedding off for the load, as bench-backup does).

    .local/venv/bin/python tests/python/bench_transfer.py [--cubes 100000] [--smoke]

Prints: load rate; `memmesh export` and `memmesh import` (into a second fresh node) in cubes/s
with the file size; the Python SDK's put and search p50/p99 in-process beside the CLI's (a
process per call, so its figure includes the process start) and beside the SDK's own gRPC
stub called raw (the baseline: what the wrapper adds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import memmesh  # noqa: E402
from conftest import BIN_DIR, Node, free_addr  # noqa: E402
from memmesh.v1 import cube_pb2, memory_pb2  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def cli(addr: str, *args: str) -> dict:
    out = subprocess.run([str(BIN_DIR / "memmesh"), "--addr", addr, "--json", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cubes", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    if a.smoke:
        a.cubes, a.calls = 2_000, 20
    with tempfile.TemporaryDirectory() as tmp:
        env = {"MEMMESH__EMBEDDING__ENABLED": "false"}
        src = Node(Path(tmp) / "src", free_addr(), [], env)
        dst = Node(Path(tmp) / "dst", free_addr(), [], env)
        try:
            c = memmesh.Client(src.addr)
            t0 = time.perf_counter()
            users = 100
            for start in range(0, a.cubes, 1000):
                n = min(1000, a.cubes - start)
                c.put_batch([{"tenant": "acme", "user": f"u{(start + i) % users}", "text": f"memory {start + i}: " + "lorem ipsum dolor sit amet " * 8} for i in range(n)])
            load = time.perf_counter() - t0
            print(f"load: {a.cubes} cubes in {load:.1f} s ({a.cubes / load:,.0f} cubes/s)")

            f = Path(tmp) / "acme.jsonl.gz"
            t0 = time.perf_counter()
            out = cli(src.addr, "export", "--tenant", "acme", "--out", str(f))
            exp = time.perf_counter() - t0
            assert out["cubes"] == a.cubes, out
            size = f.stat().st_size
            print(f"export: {a.cubes} cubes in {exp:.2f} s = {a.cubes / exp:,.0f} cubes/s; file {size / 1e6:.1f} MB gzip")
            t0 = time.perf_counter()
            out = cli(dst.addr, "import", str(f))
            imp = time.perf_counter() - t0
            assert out["imported"] == a.cubes, out
            print(f"import: {a.cubes} cubes in {imp:.2f} s = {a.cubes / imp:,.0f} cubes/s (baseline, the load through PutBatch: {a.cubes / load:,.0f} cubes/s, ratio {load / imp:.2f})")
            t0 = time.perf_counter()
            out = cli(dst.addr, "import", str(f))
            again = time.perf_counter() - t0
            assert out["existing"] == a.cubes and out["imported"] == 0, out
            print(f"import again (nothing written): {again:.2f} s")

            # Latency: the SDK, the raw generated stub (baseline) and the CLI, interleaved.
            sdk, raw, clip = {"put": [], "search": []}, {"put": [], "search": []}, {"put": [], "search": []}
            stub = c._memory
            for i in range(a.calls):
                t = time.perf_counter(); c.put(tenant="acme", user="lat", text=f"latency probe {i}"); sdk["put"].append(time.perf_counter() - t)
                req = memory_pb2.PutRequest(cube=memory_pb2.CubeInput(scope=cube_pb2.Scope(tenant="acme", user="lat"), content=cube_pb2.Content(text=f"raw probe {i}")), request_id=f"raw-{i}")
                t = time.perf_counter(); stub.Put(req); raw["put"].append(time.perf_counter() - t)
                t = time.perf_counter(); c.search(tenant="acme", user="u1", query="memory ipsum", k=10, mode="LEXICAL"); sdk["search"].append(time.perf_counter() - t)
                sreq = memory_pb2.SearchRequest(query="memory ipsum", k=10, scope=cube_pb2.Scope(tenant="acme", user="u1"), mode=memory_pb2.SEARCH_MODE_LEXICAL)
                t = time.perf_counter(); stub.Search(sreq); raw["search"].append(time.perf_counter() - t)
                if i % 4 == 0:
                    t = time.perf_counter(); cli(src.addr, "put", "--tenant", "acme", "--user", "lat", "--text", f"cli probe {i}"); clip["put"].append(time.perf_counter() - t)
                    t = time.perf_counter(); cli(src.addr, "search", "--tenant", "acme", "--user", "u1", "--query", "memory ipsum", "--k", "10", "--mode", "lexical"); clip["search"].append(time.perf_counter() - t)
            for op in ("put", "search"):
                s, r, k = (statistics.median(x[op]) * 1e3 for x in (sdk, raw, clip))
                print(f"{op}: Python SDK p50 {s:.2f} ms p99 {pct(sdk[op], 0.99) * 1e3:.2f} ms | raw stub p50 {r:.2f} ms (SDK/raw {s / r:.2f}) | memmesh CLI p50 {k:.1f} ms incl. process start (SDK/CLI {s / k:.3f})")
        finally:
            src.kill9()
            dst.kill9()


if __name__ == "__main__":
    main()
