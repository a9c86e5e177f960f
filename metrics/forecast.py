"""Section 10: who will reach their allowance before their quota period resets, and what the
month's top-up spending will come to.

The method, judged by backtest (tests/benchmarks/backtest_forecast.py, docs/forecast.md): each
license spends ahead at its own recent daily rate, weighted towards the last days, shaped by the
organization's weekday rhythm; it reaches its allowance on the first day its projected spending
does. Spending stops at the allowance, as it does for a user who runs out.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from metrics.dataset import Dataset, day_number, from_day
from metrics.model import AtRisk, Forecast

HISTORY_DAYS = 28
HALF_LIFE_DAYS = 7.0
# A license that spent on fewer days than this in the history is projected more cautiously.
THRESHOLD = 1.0


def forecast(ds: Dataset, as_of: date, teams=()) -> Forecast:
    history = as_of - timedelta(days=HISTORY_DAYS - 1)
    s = ds.spending(as_of, history=history)
    lic = ds.tables.licenses
    now = int(s["period_now"][0]) if len(lic) else 0
    allowance = ds.allowances(now)
    spent = s["builtin"] + s["topup"]
    chosen = ds.valid_at(now) & (spent < allowance)
    team_ok = ds.team_mask(teams)
    if team_ok is not None:
        chosen &= team_ok[lic.owner]

    daily = s["daily"].astype(np.float64)
    days = np.arange(day_number(history), day_number(as_of) + 1)
    rhythm = _weekday_rhythm(daily.sum(axis=0), days)
    weights = 0.5 ** ((days[-1] - days) / HALF_LIFE_DAYS) / rhythm[(days + 3) % 7]
    rate = daily @ weights / weights.sum()  # spending on an average weekday

    month_end = day_number((as_of.replace(day=28) + timedelta(days=4)).replace(day=1)) - 1
    horizon = max(int(s["period_last"].max(initial=0)), month_end) - day_number(as_of)
    quota = lic.quota.astype(np.float64)
    level, cap = spent.astype(np.float64), allowance.astype(np.float64)
    hit_day = np.full(len(lic), -1)
    topup_ahead = np.zeros(len(lic))
    first_cycle = s["period_last"]
    for step in range(1, horizon + 1):
        day = day_number(as_of) + step
        reset = day == first_cycle + 1  # a new quota period of a 30-day cycle begins
        level[reset] = 0.0
        before = level.copy()
        level = np.minimum(level + rate * rhythm[(day + 3) % 7], cap)
        crossing = (
            (hit_day < 0) & (before < cap) & (level >= cap * THRESHOLD) & (day <= first_cycle)
        )
        hit_day[crossing & chosen] = day
        if day <= month_end:
            topup_ahead += np.maximum(level - quota, 0) - np.maximum(before - quota, 0)

    at = np.flatnonzero(chosen & (hit_day > 0))
    users = ds.tables.users["user_id"]
    at_risk = sorted(
        (
            AtRisk(
                user_id=users[int(lic.owner[i])].as_py(),
                license_id=lic.ids[int(i)].as_py(),
                period_end=from_day(int(s["period_last"][i])),
                spent=int(spent[i]),
                allowance=int(allowance[i]),
                projected_hit_day=from_day(int(hit_day[i])),
            )
            for i in at
        ),
        key=lambda r: (r.projected_hit_day, r.user_id, r.license_id),
    )
    month = as_of.replace(day=1)
    scope = np.ones(len(lic), bool) if team_ok is None else team_ok[lic.owner]
    spent_month = ds.per_user(month, as_of, teams)["topup"].sum()
    ahead = int(round(topup_ahead[scope & ds.valid_at(now)].sum()))
    return Forecast(
        ds.timezone, as_of, tuple(at_risk), month, int(spent_month), int(spent_month) + ahead
    )


def _weekday_rhythm(per_day: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Spending of each weekday (Monday first) against the average day; flat without data."""
    totals = np.bincount((days + 3) % 7, weights=per_day, minlength=7)
    counts = np.bincount((days + 3) % 7, minlength=7)
    mean = totals.sum() / max(counts.sum(), 1)
    if mean <= 0:
        return np.ones(7)
    return np.where(counts > 0, totals / np.maximum(counts, 1) / mean, 1.0)
