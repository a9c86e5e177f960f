"""Section 10: who will reach their allowance before their quota period resets, and what the
month's top-up spending will come to.

The method (docs/forecast.md; judged by tests/benchmarks/backtest_forecast.py): each license
makes requests at a pace, counted per working day of the organization's weekly rhythm. This
period's pace is what it did so far, steadied by its usual pace of the half year before (days
after a limit hit, when it could not spend, left out). Expected credits ahead are that pace times
the working days left times its credits per request, with a spread for chance. A license is at
risk once its spending, expected plus `CAUTION` spreads, reaches its allowance before the period
ends; the month's top-up is the expected part of spending between quota and allowance.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np

from metrics import ledger
from metrics.dataset import Dataset, day_number, from_day
from metrics.model import AtRisk, Forecast
from metrics.read import NEVER

HISTORY_DAYS = 182
PRIOR_REQUESTS = 1.0  # the usual pace weighs as much as one request seen this period
SPREAD = 2.0  # mean square credits of a request against its squared mean
BLOCK = 8192  # licenses whose day-by-day history is held at once
CAUTION = 0.52  # spreads above the expectation: flagged at a 30% chance of running out


def _upper(z):
    """P(Z > z) for a standard normal Z (Abramowitz and Stegun 7.1.26, error below 1e-7)."""
    x = np.abs(z) / math.sqrt(2)
    t = 1 / (1 + 0.3275911 * x)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    tail = 0.5 * poly * np.exp(-(x**2))
    return np.where(z >= 0, tail, 1 - tail)


def forecast(ds: Dataset, as_of: date, teams=()) -> Forecast:
    lic = ds.tables.licenses
    today, month = day_number(as_of), as_of.replace(day=1)
    spent_month = int(ds.per_user(month, as_of, teams)["topup"].sum())
    if not len(lic):
        return Forecast(ds.timezone, as_of, (), month, spent_month, spent_month)
    s = ds.spending(as_of)
    now = int(s["period_now"][0])
    allowance = ds.allowances(now)
    spent = s["builtin"] + s["topup"]
    valid = ds.valid_at(now)
    scope = np.ones(len(lic), bool) if (m := ds.team_mask(teams)) is None else m[lic.owner]
    pace, size, basis, rhythm = _pace(ds, as_of, s)

    month_end = day_number((as_of.replace(day=28) + timedelta(days=4)).replace(day=1)) - 1
    stop = np.full(len(lic), month_end + 31)
    ends = lic.valid_until < NEVER
    stop[ends] = ledger.local_days(lic.valid_until[ends] - 1, ds.timezone, ds.unit)
    period_last = s["period_last"]
    days = np.arange(today, max(int(period_last.max(initial=today)), month_end) + 1)
    working = np.cumsum(np.r_[0.0, rhythm[(days[1:] + 3) % 7]])
    worked = np.minimum(working, working[np.clip(stop - today, 0, len(days) - 1)][:, None])
    mean = (pace * size)[:, None] * worked  # credits expected from tomorrow through each day
    sd = np.sqrt(mean * size[:, None] * SPREAD + mean**2 / basis[:, None])
    ahead = (days > today) & (days <= period_last[:, None])
    risky = ((spent[:, None] + mean + CAUTION * sd >= allowance[:, None]) & ahead).any(axis=1)
    at = np.flatnonzero(valid & scope & (spent < allowance) & risky)
    expected = (spent[:, None] + mean >= allowance[:, None]) & ahead
    hit_day = np.where(expected.any(axis=1), days[expected.argmax(axis=1)], period_last)

    user_ids = ds.tables.users["user_id"].take(lic.owner[at]).to_pylist()
    at_risk = sorted(
        (
            AtRisk(
                user_id=u,
                license_id=license_id,
                period_end=from_day(int(period_last[i])),
                spent=int(spent[i]),
                allowance=int(allowance[i]),
                projected_hit_day=from_day(int(hit_day[i])),
            )
            for i, u, license_id in zip(at, user_ids, lic.ids.take(at).to_pylist(), strict=True)
        ),
        key=lambda r: (r.projected_hit_day, r.user_id, r.license_id),
    )

    quota, cap = lic.quota.astype(float), allowance.astype(float)
    rows = np.arange(len(lic))
    now_end = np.clip(np.minimum(period_last, month_end) - today, 0, None)
    m1, s1 = mean[rows, now_end], sd[rows, now_end]
    topup = _topup(spent.astype(float), m1, s1, quota, cap, size)
    m2 = mean[:, month_end - today] - m1  # a 30-day cycle renewing within the month
    s2 = np.sqrt(m2 * size * SPREAD + m2**2 / basis)
    topup += np.where(period_last < month_end, _topup(0.0, m2, s2, quota, cap, size), 0.0)
    projected = spent_month + int(round(topup[scope & valid].sum(), -4))  # hundredths of credits
    return Forecast(ds.timezone, as_of, tuple(at_risk), month, spent_month, projected)


def _topup(level, mean, sd, quota, cap, size):
    """Expected top-up credits still to come when `level` is spent and normal(mean, sd) more
    will be: the part of spending above the quota, up to the allowance where users stop, and
    the request that crosses the allowance overshoots it by about one request."""
    sd = np.maximum(sd, 1e-9)

    def excess(t):  # E[max(level + X - t, 0)]
        z = (t - level - mean) / sd
        return sd * (np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi) - z * _upper(z))

    between = np.maximum(excess(np.maximum(level, quota)) - excess(cap), 0.0)
    crossing = np.where(level < cap, _upper((cap - level - mean) / sd), 0.0)
    return between + crossing * size * SPREAD / 2


def _pace(ds: Dataset, as_of: date, s: dict):
    """Per license: requests per working day ahead, credits per request, and how many requests
    that pace rests on (its certainty); and the weekday rhythm that defines a working day.
    Licenses are taken a block at a time, so memory stays flat however many there are."""
    n, today = len(ds.tables.licenses), day_number(as_of)
    first = as_of - timedelta(days=HISTORY_DAYS - 1)
    days = np.arange(today - HISTORY_DAYS + 1, today + 1)
    rows = list(ds._rows(first, as_of))
    lic, day, spent, count = _columns(rows, days[0])
    rhythm = _weekday_rhythm(np.bincount(day, spent, HISTORY_DAYS), days)
    mass = rhythm[(days + 3) % 7]
    blocked = _after_hits(ds, first, as_of, days)
    pace, size, seen = np.zeros(n), np.zeros(n), np.zeros(n)
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        sel = (lic >= lo) & (lic < hi)
        at = (lic[sel] - lo) * HISTORY_DAYS + day[sel]
        credits = np.bincount(at, spent[sel], (hi - lo) * HISTORY_DAYS).reshape(hi - lo, -1)
        requests = np.bincount(at, count[sel], (hi - lo) * HISTORY_DAYS).reshape(hi - lo, -1)
        usable = np.maximum.accumulate(requests > 0, axis=1) & ~blocked(lo, hi)
        current = usable & (days >= s["period_first"][lo:hi, None])
        earlier = usable & ~current
        usual = (requests * earlier).sum(axis=1) / np.maximum((earlier * mass).sum(axis=1), 1e-9)
        # A newcomer's clock starts at its first request, which therefore does not count.
        prior = np.where(usual > 0, PRIOR_REQUESTS, -1.0)
        seen[lo:hi] = np.maximum((requests * current).sum(axis=1) + prior, 0.0)
        days_now = (current * mass).sum(axis=1) + np.maximum(prior, 0) / np.maximum(usual, 1e-9)
        pace[lo:hi] = seen[lo:hi] / np.maximum(days_now, 1.0)
        size[lo:hi] = (credits * usable).sum(axis=1) / np.maximum(
            (requests * usable).sum(axis=1), 1
        )
    return pace, size, np.maximum(seen, 1.0), rhythm


def _columns(rows: list[dict], first_day: int):
    """License, day (from `first_day`), credits and requests of the ledger rows, as int64."""
    return (
        _cat(r["license"] for r in rows),
        _cat(r["day"] for r in rows) - first_day,
        _cat(r["builtin"] + r["topup"] for r in rows),
        _cat(r["requests"] for r in rows),
    )


def _cat(values) -> np.ndarray:
    return np.concatenate([np.empty(0, np.int64)] + [np.asarray(v, np.int64) for v in values])


def _after_hits(ds: Dataset, first: date, as_of: date, days: np.ndarray):
    """Days on which a license could not spend: after a limit hit, to the end of that earlier
    quota period; counting them would understate how fast its user spends. Returns the
    license-by-day matrix of a block of licenses on demand."""
    back = [ds.quota_periods_at(as_of, b) for b in range(1, HISTORY_DAYS // 28 + 2)]
    qp, last = np.array([p["qp"] for p in back]), np.array([p["last"] for p in back])
    spans = []
    for r in ds._rows(first, as_of, hits=True):
        lic, day = r["license"], r["day"].astype(np.int64)
        same = qp[:, lic] == r["qp"]
        stop = np.minimum((last[:, lic] * same).max(axis=0, initial=0) + 1, days[-1] + 1)
        keep = same.any(axis=0) & (day + 1 < stop)
        spans.append((lic[keep], day[keep] + 1 - days[0], stop[keep] - days[0]))
    lic, begin, end = (_cat(s[i] for s in spans) for i in range(3))

    def blocked(lo: int, hi: int) -> np.ndarray:
        out = np.zeros((hi - lo, len(days) + 1), np.int32)
        mine = (lic >= lo) & (lic < hi)
        np.add.at(out, (lic[mine] - lo, begin[mine]), 1)
        np.add.at(out, (lic[mine] - lo, end[mine]), -1)
        return np.cumsum(out, axis=1)[:, :-1] > 0

    return blocked


def _weekday_rhythm(per_day: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Spending of each weekday (Monday first) against the average day; flat without data."""
    totals = np.bincount((days + 3) % 7, weights=per_day, minlength=7)
    counts = np.bincount((days + 3) % 7, minlength=7)
    if totals.sum() <= 0:
        return np.ones(7)
    per = totals / np.maximum(counts, 1)
    return np.maximum(per / per.mean(), 0.01)
