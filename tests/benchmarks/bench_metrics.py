"""Benchmark of the metrics engine on a large organization (a script, not a test).

    python tests/benchmarks/bench_metrics.py [--data DIR] [--end YYYY-MM-DD] [--runs 3]

Without --data it generates the `large` preset into a temporary directory first. It prints:
- cold: `python -m metrics report --period last-12-months` in a fresh process with an empty cache,
  against DuckDB computing the same report in one SQL query in a fresh process (whose numbers must
  agree with ours);
- warm: other periods, granularities and team filters in the same process after that;
- second process: the same command again, with the ledger cache on disk;
- peak resident memory of each process.
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
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and stdout of a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    out = proc.stdout.read()
    proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed with {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024, out.decode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data")
    ap.add_argument("--end", default="2026-11-24")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    data = Path(a.data) if a.data else tmp / "large"
    if not a.data:
        print(f"generating the large preset into {data} ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "fixtures",
                "generate",
                "--preset",
                "large",
                "--out",
                str(data),
                "--end",
                a.end,
                "--seed",
                "7",
            ],
            check=True,
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
    end = date.fromisoformat(a.end)
    start = date(end.year - 1 + (end.month == 12), end.month % 12 + 1, 1)
    report = [
        sys.executable,
        "-m",
        "metrics",
        "report",
        "--data",
        str(data),
        "--period",
        "last-12-months",
        "--as-of",
        a.end,
        "--format",
        "json",
    ]

    cold, second, duck = [], [], []
    for i in range(a.runs):
        cache = tmp / f"cache-{i}"
        env = {**os.environ, "AI_CONSOLE_CACHE_DIR": str(cache)}
        cold.append(timed(report, env))
        second.append(timed(report, env))
        duck.append(
            timed(
                [
                    sys.executable,
                    "tests/benchmarks/duckdb_report.py",
                    str(data),
                    start.isoformat(),
                    a.end,
                ]
            )
        )
    ours = json.loads(cold[0][2])
    theirs = json.loads(duck[0][2])
    agree = (
        ours["buckets"] == theirs["buckets"]
        and ours["active_users"] == theirs["active_users"]
        and ours["credits"]["builtin"] == theirs["credits"]["builtin"]
        and ours["credits"]["topup"] == theirs["credits"]["topup"]
        and ours["limit_hits"] == theirs["limit_hits"]
    )

    def med(runs, k=0):
        return statistics.median(r[k] for r in runs)

    print(f"dataset: {data}")
    print(
        f"cold report, fresh process, empty cache: {med(cold):.2f} s (runs: "
        f"{', '.join(f'{r[0]:.2f}' for r in cold)}), peak RSS {max(r[1] for r in cold):.0f} MB"
    )
    print(
        f"DuckDB, one SQL query, fresh process:    {med(duck):.2f} s (runs: "
        f"{', '.join(f'{r[0]:.2f}' for r in duck)}), peak RSS {max(r[1] for r in duck):.0f} MB"
    )
    print(f"  same numbers as DuckDB: {agree}")
    print(
        f"second process, cache on disk:          {med(second):.2f} s (runs: "
        f"{', '.join(f'{r[0]:.2f}' for r in second)}), peak RSS {max(r[1] for r in second):.0f} MB"
    )

    sys.path.insert(0, str(ROOT))
    import pandas  # noqa: F401 - loaded in the app before any frame is asked for; not timed below

    import metrics

    ds = metrics.open_dataset(data, cache_dir=tmp / "cache-0")
    teams = ds.teams
    views = []
    for name in metrics.PeriodName:
        for gran in (None, "day", "week", "month", "year"):
            views.append((ds.period(name, end), gran, ()))
    views += [
        (ds.period("last-12-months", end), None, teams[:1]),
        (ds.period("last-12-months", end), "week", teams[:3]),
        (metrics.Period(end - timedelta(days=100), end), "day", teams[1:2]),
    ]
    times = []
    for period, gran, tm in views:
        t = time.perf_counter()
        ds.report(period, gran, teams=tm)
        times.append((time.perf_counter() - t) * 1000)
    print(
        f"warm reports in the same process ({len(times)} views): "
        f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms"
    )
    extras = {
        "bucket_users (one month)": lambda: ds.bucket_users(end.replace(day=1), end),
        "users_overview (12 months)": lambda: ds.users_overview(ds.period("last-12-months", end)),
    }
    for label, fn in extras.items():
        t = time.perf_counter()
        fn()
        print(f"  {label}: {(time.perf_counter() - t) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
