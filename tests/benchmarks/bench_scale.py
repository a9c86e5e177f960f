"""How the engine scales, paired with DuckDB in the same run (a script, not a test).

    python tests/benchmarks/bench_scale.py [--users 10000 100000] [--months 12] [--runs 2]
        [--data-dir DIR] [--memory 2GB] [--dask]

For each size it generates an organization (once; kept in --data-dir), then alternates a cold
`python -m metrics report --period last-12-months --no-cache` in a fresh process with DuckDB
computing the same report in one SQL query in a fresh process, and prints seconds and peak RSS
of both, whether the numbers agree to the micro-credit, the peak RSS of `teams` and `forecast`,
and how time grows from the smallest to the largest size. With --dask it also starts a local
scheduler and two workers and checks that `--scheduler` prints the same bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from metrics.cli import _size  # noqa: E402
from metrics.opening import DEFAULT_MEMORY  # noqa: E402
from tests.benchmarks.bench_metrics import timed  # noqa: E402
from tests.browser.server import free_port  # noqa: E402

END = "2026-11-24"


def agree(ours: bytes, duck: bytes) -> bool:
    o, d = json.loads(ours, parse_float=Decimal), json.loads(duck)
    micro = {k: [int(v * 10**6) for v in o["credits"]["series"][k]] for k in ("builtin", "topup")}
    return (
        o["buckets"] == d["buckets"]
        and o["active_users"] == d["active_users"]
        and micro == d["credits"]["micro"]
        and o["limit_hits"] == d["limit_hits"]
    )


def generate(out: Path, users: int, months: int) -> None:
    if (out / "users.parquet").is_file():
        return
    print(f"generating {users:,} users x {months} months into {out} ...", flush=True)
    t = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "fixtures",
        "generate",
        "--preset",
        "large",
        "--users",
        str(users),
        "--months",
        str(months),
        "--end",
        END,
        "--seed",
        "7",
        "--out",
        str(out),
        "--quiet",
    ]
    subprocess.run(cmd, check=True, cwd=ROOT)
    print(f"  generated in {time.perf_counter() - t:.0f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--data-dir", default="/tmp/bench-scale")
    ap.add_argument("--memory", default=None)
    ap.add_argument("--dask", action="store_true")
    a = ap.parse_args()
    base = Path(a.data_dir)
    results = {}
    for users in a.users:
        data = base / f"u{users}-m{a.months}"
        generate(data, users, a.months)
        rows = sum(
            pq.ParquetFile(p).metadata.num_rows for p in data.rglob("requests*/**/*.parquet")
        )
        metrics = [sys.executable, "-m", "metrics"]
        common = ["--data", str(data), "--no-cache", "--format", "json"]
        common += ["--memory", a.memory] if a.memory else []
        report = [*metrics, "report", *common, "--period", "last-12-months", "--as-of", END]
        duck = [sys.executable, "tests/benchmarks/duckdb_report.py", str(data), "2025-12-01", END]
        ours_runs, duck_runs = [], []
        for _ in range(a.runs):
            ours_runs.append(timed(report))
            duck_runs.append(timed(duck))
        teams = timed([*metrics, "teams", *common, "--period", "last-month", "--as-of", END])
        forecast = timed([*metrics, "forecast", *common, "--as-of", "2026-11-15"])
        ours_s = statistics.median(r[0] for r in ours_runs)
        duck_s = statistics.median(r[0] for r in duck_runs)
        results[users] = ours_s
        print(f"\n{users:,} users x {a.months} months: {rows:,} requests ({data})")
        print(
            f"  ours   report: {ours_s:7.2f} s median of {[round(r[0], 2) for r in ours_runs]},"
            f" peak RSS {max(r[1] for r in ours_runs):,.0f} MB"
        )
        print(
            f"  DuckDB report: {duck_s:7.2f} s median of {[round(r[0], 2) for r in duck_runs]},"
            f" peak RSS {max(r[1] for r in duck_runs):,.0f} MB"
        )
        print(
            f"  ours / DuckDB: {ours_s / duck_s:.2f}; same numbers to the micro-credit: "
            f"{agree(ours_runs[0][2], duck_runs[0][2])}"
        )
        print(
            f"  teams: {teams[0]:.2f} s, peak RSS {teams[1]:,.0f} MB; "
            f"forecast: {forecast[0]:.2f} s, peak RSS {forecast[1]:,.0f} MB"
        )
        setting = (_size(a.memory) if a.memory else DEFAULT_MEMORY) / 2**20
        peak = max(r[1] for r in [*ours_runs, teams, forecast])
        print(
            f"  peak RSS of report, teams and forecast under the memory setting"
            f" ({setting:,.0f} MB): {peak <= setting}"
        )
        if a.dask:
            print(f"  Dask, two local workers, same bytes: {dask_same(report)}")
    if len(results) > 1:
        small, large = min(results), max(results)
        growth = results[large] / results[small]
        print(f"\ntime from {small:,} to {large:,} users grows {growth:.1f}-fold")


def dask_same(report: list[str]) -> bool:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    procs = [
        subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
    ]
    time.sleep(2)
    procs += [
        subprocess.Popen(
            [*dask, "worker", address, "--nthreads", "1", "--no-dashboard"],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        time.sleep(5)
        alone = timed(report)
        spread = timed([*report, "--scheduler", address])
        print(f"  Dask: {spread[0]:.2f} s against {alone[0]:.2f} s alone")
        return alone[2] == spread[2]
    finally:
        for p in procs:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
