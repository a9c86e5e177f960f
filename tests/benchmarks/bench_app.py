"""How long the app takes to open an organization and to redraw after a filter change.

Not a test: run it by hand, e.g. on the `large` preset (10,000 users) or on a 100,000-user
organization:

    python -m fixtures generate --preset large --out /tmp/large --end 2026-11-24 --quiet
    python tests/benchmarks/bench_app.py --data /tmp/large --as-of 2026-11-24
    python tests/benchmarks/bench_app.py --data /work/data/scale/u100000-m12 --as-of 2026-11-24

It starts a real server with an empty ledger cache and opens the main page in headless
Chromium:

1. **first open**: from the page load to the three charts, the ledger computed from the
   requests; it records whether the progress bar showed, and when;
2. **period changes**: for each of five periods, the click on the period to the moment all
   three charts show the new number of bars, first not yet computed (one aggregation over the
   ledger each), then again from the app's result cache; and a team chosen in the sidebar;
3. **second open**: a new server on the same cache, from the page load to three charts (the
   ledger read back from the cache, as on any later start).
"""

from __future__ import annotations

import argparse
import json
import re
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
    choose_team,
    chromium,
    streamlit_server,
    wait_for_app,
)

ROUND = ["Last 7 days", "Last 3 months", "Last 6 months", "Year to date", "Last 12 months"]
_BY_LABEL = {p.label: p for p in metrics.PeriodName}
PROGRESS = '[data-testid="stProgress"]'


def expected_bars(label: str, as_of: date) -> list[int]:
    period = metrics.Period.named(_BY_LABEL[label], as_of)
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
        polling=50,
    )


def change(page, label: str, counts: list[int]) -> float:
    before = chart_signature(page)
    started = time.perf_counter()
    choose_period(page, label)
    wait_for_bars(page, counts, before)
    return time.perf_counter() - started


def first_open(page, url: str, bars: list[int], timeout: float) -> tuple[float, float | None]:
    """Seconds to three charts, and to the progress bar's first appearance (None: not seen)."""
    started = time.perf_counter()
    page.goto(url + "/")
    seen = None
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if seen is None and page.locator(PROGRESS).count():
            seen = time.perf_counter() - started
            text = page.locator(PROGRESS).first.inner_text().strip()
            print(f"  progress bar at {seen:.1f} s: {text!r}")
        if page.locator(f"{CHART} g.mark-rect path").count():
            break
        page.wait_for_timeout(200)
    wait_for_bars(page, bars, "", timeout=timeout * 1000)
    return time.perf_counter() - started, seen


def show(name: str, xs: list[float]) -> None:
    runs = ", ".join(f"{x:.2f}" for x in xs)
    print(f"{name}: median {statistics.median(xs):.2f} s, max {max(xs):.2f} s (runs: {runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset directory")
    parser.add_argument("--as-of", default="2026-11-24", help="the day periods end at")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for an open")
    parser.add_argument("--team", help="a team to choose after the period changes")
    args = parser.parse_args()
    as_of = date.fromisoformat(args.as_of)
    data = Path(args.data).resolve()
    start_bars = expected_bars("Last 30 days", as_of)

    with tempfile.TemporaryDirectory() as cache, chromium(viewport=(1440, 2400)) as context:
        env = {
            "AI_CONSOLE_DATASET": str(data),
            "AI_CONSOLE_AS_OF": as_of.isoformat(),
            "AI_CONSOLE_CACHE_DIR": cache,
        }
        with streamlit_server(env) as url:
            page = context.new_page()
            page.set_default_timeout(args.timeout * 1000)
            print(f"{data}: first open, empty ledger cache")
            took, bar = first_open(page, url, start_bars, args.timeout)
            print(
                f"first open: {took:.1f} s to three charts; progress bar "
                + (f"shown from {bar:.1f} s" if bar is not None else "NOT seen")
            )
            wait_for_app(page)
            uncached = [change(page, p, expected_bars(p, as_of)) for p in ROUND]
            cached = [change(page, p, expected_bars(p, as_of)) for p in ROUND]
            team = args.team
            if team:
                before = chart_signature(page)
                started = time.perf_counter()
                choose_team(page, team)
                page.wait_for_url(re.compile(r"team="))
                wait_for_bars(page, expected_bars(ROUND[-1], as_of), before)
                print(f"team {team!r} chosen: {time.perf_counter() - started:.2f} s")
            page.close()
        show("period change, not computed yet", uncached)
        show("period change, from the result cache", cached)

        with streamlit_server(env) as url:
            page = context.new_page()
            page.set_default_timeout(args.timeout * 1000)
            took, bar = first_open(page, url, start_bars, args.timeout)
            print(f"second open (new server, ledger from the cache): {took:.1f} s to three charts")
            page.close()


if __name__ == "__main__":
    main()
