"""How long a period change takes in the browser on a large organization.

Not a test: run it by hand, e.g. after `python -m fixtures generate --preset large --out
/tmp/large --end 2026-11-24`:

    python tests/benchmarks/bench_app.py --data /tmp/large --as-of 2026-11-24

It starts a real server, opens the main page in headless Chromium and, for each period change,
times the click on the period to the moment all three charts show the new number of bars. The
first round hits periods not computed yet (one aggregation over the ledger each); the second
round repeats them and is answered from the app's result cache.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import metrics  # noqa: E402
from tests.browser.server import (  # noqa: E402
    CHART,
    chart_signature,
    choose_period,
    chromium,
    streamlit_server,
)

ROUND = ["Last 7 days", "Last 3 months", "Last 6 months", "Year to date", "Last 12 months"]
_BY_LABEL = {p.label: p for p in metrics.PeriodName}


def expected_bars(label: str, as_of: date, first_day: date | None) -> list[int]:
    period = metrics.Period.named(_BY_LABEL[label], as_of, first_day)
    n = len(metrics.buckets(period, metrics.auto_granularity(period)))
    return [n, 2 * n, n]


def wait_for_bars(page, counts: list[int], before: str, timeout: float = 60_000) -> None:
    expected = json.dumps(counts, separators=(",", ":"))
    page.wait_for_function(
        f"""([before]) => {{
            const charts = Array.from(document.querySelectorAll('{CHART}'));
            const counts = charts.map(c => c.querySelectorAll('g.mark-rect path').length);
            if (JSON.stringify(counts) !== '{expected}') return false;
            const sig = charts.map(c => Array.from(c.querySelectorAll('g.mark-rect path'))
                .map(p => p.getAttribute('d')).join('|')).join('#');
            return sig !== before;
        }}""",
        arg=[before],
        timeout=timeout,
    )


def change(page, label: str, counts: list[int]) -> float:
    before = chart_signature(page)
    started = time.perf_counter()
    choose_period(page, label)
    wait_for_bars(page, counts, before)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset directory (the large preset)")
    parser.add_argument("--as-of", default="2026-11-24", help="the day periods end at")
    args = parser.parse_args()
    as_of = date.fromisoformat(args.as_of)

    t = time.perf_counter()
    ds = metrics.open_dataset(args.data, cache_dir=False)
    print(
        f"dataset: {ds.name}, {ds.n_users:,} users; "
        f"ledger computed in {time.perf_counter() - t:.1f} s (no disk cache)"
    )
    first_day = ds.first_day
    del ds

    with tempfile.TemporaryDirectory() as cache:
        env = {
            "AI_CONSOLE_DATASET": str(Path(args.data).resolve()),
            "AI_CONSOLE_AS_OF": as_of.isoformat(),
            "AI_CONSOLE_CACHE_DIR": cache,
        }
        with streamlit_server(env) as url, chromium(viewport=(1440, 2400)) as context:
            page = context.new_page()
            for name in ("cold", "warm"):
                t = time.perf_counter()
                page.goto(url + "/")
                wait_for_bars(page, expected_bars("Last 30 days", as_of, first_day), "")
                print(
                    f"main page, {name} (ledger {'computed' if name == 'cold' else 'cached'})"
                    f": {time.perf_counter() - t:.2f} s to three charts"
                )
            uncached = [change(page, p, expected_bars(p, as_of, first_day)) for p in ROUND]
            cached = [change(page, p, expected_bars(p, as_of, first_day)) for p in ROUND]

    def show(name: str, xs: list[float]) -> None:
        runs = ", ".join(f"{x:.2f}" for x in xs)
        print(f"{name}: median {statistics.median(xs):.2f} s (runs: {runs})")

    show("period change, not computed yet", uncached)
    show("period change, from the result cache", cached)


if __name__ == "__main__":
    main()
