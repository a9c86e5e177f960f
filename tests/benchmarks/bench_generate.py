"""Benchmark of the generator: requests per second and peak memory for a preset.

Run `python tests/benchmarks/bench_generate.py [--preset large]`; it writes into a temporary
directory and removes it. Imports happen before the clock starts so that the figure measures
generation, not Python start-up.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pandas  # noqa: E402, F401  (pyarrow imports it lazily; keep that out of the timing)

from fixtures import GeneratorConfig, TerminalProgress, generate  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="large", choices=GeneratorConfig.PRESETS)
    p.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 20))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    config = GeneratorConfig.preset(args.preset, end=args.end, seed=args.seed)
    root = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    try:
        cpu = time.process_time()
        started = time.perf_counter()
        summary = generate(
            root / "data", config, progress=None if args.quiet else TerminalProgress()
        )
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        size = sum(f.stat().st_size for f in (root / "data").rglob("*") if f.is_file())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"preset            {args.preset} ({config.users:,} users, {config.months} months)")
    print(f"requests          {summary.requests:,} ({summary.counted_requests:,} counted)")
    print(f"seconds           {seconds:.2f} (CPU {cpu:.2f}, parquet is written on a 2nd thread)")
    print(f"requests/second   {summary.requests / seconds:,.0f}")
    print(f"peak RSS          {peak_mb:,.0f} MB")
    print(f"on disk           {size / 2**20:,.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
