"""Backtest of the forecast of section 10 (a script, not a test).

    python tests/benchmarks/backtest_forecast.py [--data-root DIR] [--only demo-1,demo-2]

It generates synthetic organizations (or reuses them under --data-root), cuts each history at
several `as_of` days, forecasts, and compares with what the full history shows happened next:

- actual: the users holding a license that was open at `as_of` (spent in its current quota
  period below its allowance now) and has a limit hit (section 3, the ledger's `hits`) after
  `as_of` within that same quota period; scored by F1 over users against the users of `at_risk`;
- the relative error of `topup_month.projected` against the month's top-up credits in full.

Each cut is scored for our method and for a naive run-rate baseline. The ledger is causal, so
forecasting on the full dataset with `as_of` equals forecasting on the history cut there
(tests/test_forecast.py checks that once). Seeds are split: the method's constants were chosen
on the `train` datasets; the `validation` ones show whether that carries over.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fixtures import GeneratorConfig, generate  # noqa: E402
from metrics import open_dataset  # noqa: E402
from metrics.dataset import Dataset, day_number, from_day  # noqa: E402

END = date(2026, 10, 31)
DAYS = (5, 10, 15, 20)


@dataclass(frozen=True)
class Case:
    name: str
    preset: str
    seed: int
    role: str  # train | validation
    months: tuple[int, ...]  # months of 2026 to cut in; every cut's quota periods end by END

    def cuts(self) -> list[date]:
        return [date(2026, m, d) for m in self.months for d in DAYS]


CASES = (
    Case("demo-1", "demo", 1, "train", (4, 5, 6, 7, 8, 9)),
    Case("demo-2", "demo", 2, "train", (4, 5, 6, 7, 8, 9)),
    Case("demo-3", "demo", 3, "validation", (4, 5, 6, 7, 8, 9)),
    Case("demo-4", "demo", 4, "validation", (4, 5, 6, 7, 8, 9)),
    Case("large-1", "large", 1, "validation", (4, 5, 6, 7, 8, 9)),
)


@dataclass(frozen=True)
class Outcome:
    actual: frozenset[str]
    topup: int  # the month's top-up micro-credits in full


@dataclass(frozen=True)
class Score:
    f1: float
    precision: float
    recall: float
    topup_error: float  # (projected - actual) / actual


def actual(ds: Dataset, as_of: date) -> Outcome:
    """What happened after `as_of`, straight from the ledger of the full history."""
    s = ds.spending(as_of)
    spent = s["builtin"] + s["topup"]
    open_ = spent < ds.allowances(int(s["period_now"][0]))
    hit = np.zeros(len(spent), bool)
    for r in ds._rows(as_of + timedelta(days=1), from_day(s["period_last"].max()), hits=True):
        same = r["qp"] == s["period_qp"][r["license"]]
        hit[r["license"][same]] = True
    users = ds.tables.users["user_id"].to_pylist()
    owners = ds.tables.licenses.owner[open_ & hit]
    month = as_of.replace(day=1)
    month_end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    topup = int(ds.per_user(month, month_end)["topup"].sum())
    return Outcome(frozenset(users[int(u)] for u in owners), topup)


def baseline(ds: Dataset, as_of: date) -> tuple[set[str], int]:
    """Naive run-rate: this period's spending per elapsed day, carried to the period's end."""
    s = ds.spending(as_of)
    spent = s["builtin"] + s["topup"]
    allowance = ds.allowances(int(s["period_now"][0]))
    elapsed = day_number(as_of) - s["period_first"] + 1
    length = s["period_last"] - s["period_first"] + 1
    risk = (spent < allowance) & (spent / elapsed * length >= allowance)
    users = ds.tables.users["user_id"].to_pylist()
    month = as_of.replace(day=1)
    days = ((month + timedelta(days=32)).replace(day=1) - month).days
    so_far = int(ds.per_user(month, as_of)["topup"].sum())
    projected = round(so_far / as_of.day * days)
    return {users[int(u)] for u in ds.tables.licenses.owner[risk]}, projected


def score(predicted: set[str], outcome: Outcome, projected: int) -> Score:
    a = outcome.actual
    tp = len(predicted & a)
    f1 = 1.0 if not predicted and not a else 2 * tp / (len(predicted) + len(a))
    precision = tp / len(predicted) if predicted else float(not a)
    recall = tp / len(a) if a else 1.0
    error = (projected - outcome.topup) / outcome.topup if outcome.topup else float(projected > 0)
    return Score(f1, precision, recall, error)


def ensure(case: Case, root: Path) -> Path:
    out = root / case.name
    if not (out / "users.parquet").exists():
        print(f"generating {case.name} into {out} ...", flush=True)
        generate(out, GeneratorConfig.preset(case.preset, end=END, seed=case.seed))
    return out


def run(case: Case, root: Path, cache: Path) -> list[tuple[date, Outcome, Score, Score, float]]:
    ds = open_dataset(ensure(case, root), cache_dir=cache)
    rows = []
    for as_of in case.cuts():
        outcome = actual(ds, as_of)
        start = time.process_time()
        f = ds.forecast(as_of)
        seconds = time.process_time() - start
        ours = score({r.user_id for r in f.at_risk}, outcome, f.topup_projected)
        naive, naive_topup = baseline(ds, as_of)
        rows.append((as_of, outcome, ours, score(naive, outcome, naive_topup), seconds))
    return rows


def _fmt(s: Score) -> str:
    return f"{s.f1:5.2f} ({s.precision:4.2f}, {s.recall:4.2f}) {s.topup_error:+7.1%}"


def summary(label: str, scores: list[tuple[Score, Score]]) -> str:
    def mean(f):
        return statistics.fmean(f(x) for x in scores)

    bias = mean(lambda x: x[0].topup_error)
    return (
        f"{label:<22} cuts {len(scores):>3}   F1 ours {mean(lambda x: x[0].f1):.3f}"
        f" baseline {mean(lambda x: x[1].f1):.3f}   |top-up error| ours"
        f" {mean(lambda x: abs(x[0].topup_error)):.1%} (bias {bias:+.1%})"
        f" baseline {mean(lambda x: abs(x[1].topup_error)):.1%}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", help="where the generated organizations are (or go)")
    ap.add_argument("--only", help="comma-separated case names")
    ap.add_argument("--quiet", action="store_true", help="only the summary lines")
    a = ap.parse_args()
    root = Path(a.data_root or tempfile.mkdtemp(prefix="backtest-forecast-"))
    root.mkdir(parents=True, exist_ok=True)
    cache = root / ".ledger-cache"
    chosen = [c for c in CASES if not a.only or c.name in a.only.split(",")]
    per_case, per_day, timings = {}, {}, []
    for case in chosen:
        rows = run(case, root, cache)
        per_case[case] = [(r[2], r[3]) for r in rows]
        for r in rows:
            per_day.setdefault(r[0].day, []).append((r[2], r[3]))
        timings += [r[4] for r in rows]
        if a.quiet:
            continue
        print(f"\n{case.name} ({case.preset}, seed {case.seed}, {case.role})")
        print(f"{'as_of':<11} {'actual':>6}  {'ours: F1 (P, R) top-up':<30} baseline")
        for as_of, outcome, ours, base, _ in rows:
            print(f"{as_of} {len(outcome.actual):>6}  {_fmt(ours):<30} {_fmt(base)}")
    print()
    for case, scores in per_case.items():
        print(summary(f"{case.name} ({case.role})", scores))
    for role in ("train", "validation"):
        scores = [s for c, v in per_case.items() if c.role == role for s in v]
        if scores:
            print(summary(f"all {role}", scores))
    print(summary("all", [s for v in per_case.values() for s in v]))
    for day, scores in sorted(per_day.items()):
        print(summary(f"all, cut on day {day}", scores))
    print(f"forecast CPU time per cut: median {statistics.median(timings) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
