"""Benchmark of the generator: requests per second and peak memory for a preset.

Run `python tests/benchmarks/bench_generate.py [--preset large] [--traits]`; it writes into a
temporary directory and removes it. `--traits` asks for every trait of contract section 12, so
the figure includes calibration (chosen adopters and hit users, the pushes over the limit, the
capped spending of everyone else and the relabelled tool mix). Imports happen before the clock
starts so that the figure measures generation, not Python start-up.
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

import holidays.countries  # noqa: E402, F401  (hundreds of modules, compiled when uncached)
import pandas  # noqa: E402, F401  (pyarrow imports it lazily; keep that out of the timing)

from fixtures import GeneratorConfig, TerminalProgress, generate  # noqa: E402

TRAITS = {
    "adoption": 0.8,
    "hit_share": 0.35,
    "tool_mix": "junie=0.4,claude_agent=0.3,ai_assistant_chat=0.2,other=0.1",
    "teams": 20,
    "multi_license_share": 0.12,
    "cycle_share": 0.25,
    "raise_after_hit": 0.5,
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="large", choices=GeneratorConfig.PRESETS)
    p.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 20))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--traits", action="store_true", help="ask for every trait (calibration)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    config = GeneratorConfig.preset(
        args.preset, end=args.end, seed=args.seed, **(TRAITS if args.traits else {})
    )
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
    scale = f"{config.users:,} users, {config.months} months"
    asked = ", every trait asked for" if args.traits else ""
    print(f"preset            {args.preset} ({scale}{asked})")
    print(f"requests          {summary.requests:,} ({summary.counted_requests:,} counted)")
    print(f"seconds           {seconds:.2f} (CPU {cpu:.2f}, parquet is written on a 2nd thread)")
    print(f"requests/second   {summary.requests / seconds:,.0f}")
    print(f"peak RSS          {peak_mb:,.0f} MB")
    print(f"on disk           {size / 2**20:,.1f} MB")
    t = summary.traits
    mix = ", ".join(f"{k} {v:.3f}" for k, v in (t["tool_mix"] or {}).items())
    shares = f"adoption {t['adoption']:.3f}, hit share {t['hit_share']:.3f}"
    print(f"measured traits   {shares}, {t['teams']} teams, {mix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
