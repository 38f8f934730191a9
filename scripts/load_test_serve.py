"""Latency of `forgeml serve` under concurrent load: p50 / p99 / max per request, and requests per second.

    python scripts/load_test_serve.py RUN_DIR [--requests 2000] [--clients 4] [--rows 1] [--data test.csv]

Starts `forgeml serve RUN_DIR` on a free local port (or uses --url of a running server), then sends --requests
POST /predict requests from --clients threads, each a JSON body of --rows records: rows of --data when given,
else made up from the model's schema (numbers drawn around 0, categories seen at fit). Every answer must be a 200
with one prediction per record; the script fails otherwise. Needs httpx (the test extra).
"""
from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

SRC = Path(__file__).resolve().parents[1] / "src"


def made_up_rows(schema: dict, n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        row = {}
        for c in schema["columns"]:
            if c["kind"] == "numeric":
                row[c["name"]] = float(np.round(rng.normal(), 4))
            elif c["categories"]:
                row[c["name"]] = c["categories"][rng.integers(len(c["categories"]))]
            else:
                row[c["name"]] = None
        rows.append(row)
    return rows


def start_server(run_dir: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "forgeml.cli.main", "serve", run_dir, "--port", str(port)],
                            env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("the server did not answer /health within 120 s")


def run(url: str, bodies: list[dict], clients: int) -> tuple[np.ndarray, float, list[str]]:
    """Latencies (seconds, one per request), wall time and the failures seen."""
    latencies = np.full(len(bodies), np.nan)
    failures: list[str] = []

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            for i in range(k, len(bodies), clients):
                t = time.perf_counter()
                r = c.post("/predict", json=bodies[i])
                latencies[i] = time.perf_counter() - t
                if r.status_code != 200 or len(r.json()["predictions"]) != len(bodies[i]["records"]):
                    failures.append(f"request {i}: {r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - start, failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", help="the model directory to serve")
    ap.add_argument("--url", default=None, help="a server already running (default: start one)")
    ap.add_argument("--requests", type=int, default=2000, help="requests in all (default 2000)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    ap.add_argument("--rows", type=int, default=1, help="records per request (default 1)")
    ap.add_argument("--data", default=None, help="a CSV/Parquet of rows to send (default: made up from the schema)")
    ap.add_argument("--warmup", type=int, default=50, help="requests sent first and not measured (default 50)")
    a = ap.parse_args()
    proc, url = (None, a.url) if a.url else start_server(a.run_dir)
    try:
        schema = httpx.get(url + "/schema").json()
        if a.data:
            from forgeml.data.load import read_table

            frame = read_table(a.data).drop(columns=[schema["target"]], errors="ignore")
            pool = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in frame.to_dict(orient="records")]
        else:
            pool = made_up_rows(schema, 500)
        bodies = [{"records": [pool[(i * a.rows + j) % len(pool)] for j in range(a.rows)]}
                  for i in range(a.requests)]
        run(url, bodies[: a.warmup], a.clients)
        before = httpx.get(url + "/health").json()
        lat, wall, failures = run(url, bodies, a.clients)
        after = httpx.get(url + "/health").json()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    ms = lat * 1000
    calls = after["model_calls"] - before["model_calls"]
    print(f"{a.requests} requests of {a.rows} record(s) from {a.clients} clients to {url}: "
          f"{a.requests - len(failures)} answered 200, {len(failures)} failed")
    print(f"latency ms: p50 {np.percentile(ms, 50):.1f}  p90 {np.percentile(ms, 90):.1f}  "
          f"p99 {np.percentile(ms, 99):.1f}  max {ms.max():.1f};  {a.requests / wall:.0f} requests/s "
          f"({wall:.1f}s); {calls} model calls ({a.requests / max(calls, 1):.1f} requests per call)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for f in failures[:5]:
        print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
