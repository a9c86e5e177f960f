"""How long the Teams and Planning pages' engine answers take, in process, once a dataset is open.

Not a test: run it by hand, e.g. on the `large` preset (10,000 users, about 7 million requests):

    python -m fixtures generate --preset large --out /tmp/large --end 2026-11-24 --quiet
    python tests/benchmarks/bench_answers.py --data /tmp/large --as-of 2026-11-24

It opens the dataset once (from the ledger cache when there is one), then times each answer the
two pages ask for, several runs each, and prints the median and the slowest run against the
app's budget of 200 ms per answer. Each run is a fresh call into `metrics`: the app's own result
cache (`st.cache_data`) is not involved, so these are the figures of a filter change that the
app has not seen before.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import metrics  # noqa: E402
from metrics import Period, PeriodName  # noqa: E402

BUDGET = 0.200
PERIODS = [
    PeriodName.LAST_30_DAYS,
    PeriodName.MONTH_TO_DATE,
    PeriodName.LAST_MONTH,
    PeriodName.QUARTER_TO_DATE,
    PeriodName.LAST_QUARTER,
    PeriodName.LAST_12_MONTHS,
]


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/data/large", help="dataset directory")
    parser.add_argument("--as-of", help="the app's today (default: the last day with data)")
    parser.add_argument("--runs", type=int, default=7, help="runs per answer")
    parser.add_argument("--memory-mb", type=int, default=8192, help="the engine's memory setting")
    parser.add_argument("--cache-dir", help="ledger cache (default: the engine's default)")
    args = parser.parse_args()

    started = time.perf_counter()
    ds = metrics.open_dataset(
        args.data, memory=args.memory_mb << 20, cache_dir=args.cache_dir or None
    )
    as_of = date.fromisoformat(args.as_of) if args.as_of else ds.last_day
    print(
        f"{ds.name}: {ds.n_users:,} users, {ds.ledger_rows:,} ledger rows, "
        f"opened in {time.perf_counter() - started:.1f} s; as of {as_of}; {args.runs} runs each"
    )

    periods = [(name, Period.named(name, as_of, ds.first_day)) for name in PERIODS]
    answers = [(f"by_team({name.value})", functools.partial(ds.by_team, p)) for name, p in periods]
    answers += [
        ("forecast(as_of)", lambda: ds.forecast(as_of)),
        ("seats(as_of)", lambda: ds.seats(as_of)),
        ("standings(as_of)", lambda: ds.standings(as_of)),
    ]
    width = max(len(name) for name, _ in answers)
    over = []
    for name, fn in answers:
        runs = timed(fn, args.runs)
        median, worst = statistics.median(runs), max(runs)
        flag = "" if worst <= BUDGET else f"  over the budget by {(worst - BUDGET) * 1000:.0f} ms"
        if worst > BUDGET:
            over.append(name)
        print(f"{name:<{width}}  median {median * 1000:7.1f} ms  max {worst * 1000:7.1f} ms{flag}")
    print("all within 200 ms" if not over else f"over 200 ms: {', '.join(over)}")


if __name__ == "__main__":
    main()
