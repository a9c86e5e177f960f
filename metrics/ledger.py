"""The quota ledger of section 3 for one partition, folded into the rows every answer adds up.

Requests are sorted by (license, ts, request_id); a license's quota periods follow each other in
time, so every (license, quota period) is a contiguous run and `spent` is one cumulative sum
restarted at each run. The result has one row per (license, quota period, local day, tool), far
fewer than the requests. All arithmetic is in int64 micro-credits: with section 8's bounds no
sum can overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from metrics.model import Tool
from metrics.read import TICKS

NO_CYCLE = -1
ROWS = {
    "day": np.int32,  # local date, days since 1970-01-01
    "license": np.int32,
    "qp": np.int64,  # quota period: a month index, or the 30-day cycle number
    "tool": np.int8,
    "builtin": np.int64,
    "topup": np.int64,
    "requests": np.int64,
    "hits": np.int32,
}
SCHEMA = pa.schema([(name, pa.from_numpy_dtype(t)) for name, t in ROWS.items()])


def save(path, rows: dict, compression: str | None = None) -> int:
    """Ledger rows to the Arrow file that a spilled partition or the cache holds; the count."""
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_file(str(path), SCHEMA, options=options) as f:
        f.write_table(pa.table([rows[n] for n in ROWS], schema=SCHEMA))
    return len(rows["day"])


def saved(path) -> pa.Table:
    with pa.OSFile(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def as_rows(table: pa.Table) -> dict:
    return {n: table[n].to_numpy() for n in ROWS}


@dataclass(frozen=True)
class Topups:
    """topup_limits as lookups: user code (-1 for the organization's default), effective_from
    in ticks and the limit in micro-credits, in file order."""

    user: np.ndarray
    effective: np.ndarray
    limit: np.ndarray

    def at(self, user: np.ndarray, when: np.ndarray) -> np.ndarray:
        """topup_limit(user, when): the newest own row in force, else the newest default, else 0.
        Among rows of equal user and effective_from the later one in the file wins.

        One `searchsorted` per lookup kind: effective dates are replaced by their rank among all
        of them, so (user, rank) packs into one sortable integer key.
        """
        out = np.zeros(len(when), dtype=np.int64)
        if not len(self.user) or not len(when):
            return out
        times = np.unique(self.effective)
        span = len(times) + 1
        key = (self.user.astype(np.int64) + 1) * span + np.searchsorted(
            times, self.effective, "right"
        )
        order = np.argsort(key, kind="stable")
        key, limit, who = key[order], self.limit[order], self.user[order].astype(np.int64)
        rank = np.searchsorted(times, when, side="right")
        for users in (np.full(len(when), -1, dtype=np.int64), user.astype(np.int64)):
            pos = np.searchsorted(key, (users + 1) * span + rank, side="right") - 1
            found = (pos >= 0) & (who[np.maximum(pos, 0)] == users) & (rank > 0)
            out = np.where(found, limit[np.maximum(pos, 0)], out)
        return out


@dataclass(frozen=True)
class Context:
    """Everything a fold needs besides the requests; sent once to every worker."""

    timezone: str
    unit: str
    quota: np.ndarray  # micro-credits by license code
    phase: np.ndarray  # cycle_anchor modulo 30 days, in ticks; NO_CYCLE for calendar months
    owner: np.ndarray  # user code by license code
    topups: Topups

    @property
    def day_ticks(self) -> int:
        return 86_400 * TICKS[self.unit]


def local_days(ticks: np.ndarray, timezone: str, unit: str) -> np.ndarray:
    """The local calendar day of each instant, as days since 1970-01-01.

    pandas, not Arrow: Arrow's time zone rules end in 2037, pandas follows zoneinfo's to 9999.
    """
    import pandas as pd

    utc = pd.DatetimeIndex(np.asarray(ticks, np.int64).view(f"datetime64[{unit}]"), tz="UTC")
    return utc.tz_convert(timezone).tz_localize(None).asi8 // (86_400 * TICKS[unit])


def day_starts(days: np.ndarray, timezone: str, unit: str) -> np.ndarray:
    """The first instant of each local day: a midnight that a clock change skips starts at the
    change, a midnight that happens twice at its first time."""
    import pandas as pd

    days = np.asarray(days, np.int64)
    wall = pd.DatetimeIndex((days * 86_400 * TICKS[unit]).view(f"datetime64[{unit}]"))
    first = wall.tz_localize(
        timezone, ambiguous=np.ones(len(days), bool), nonexistent="shift_forward"
    )
    return first.as_unit(unit).asi8


def quota_periods(ticks, days, lic, ctx: Context) -> np.ndarray:
    """Month index (months since January 1970) of the local day, or the 30-day cycle number."""
    qp = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    phase = ctx.phase[lic]
    cyc = phase != NO_CYCLE
    if cyc.any():
        qp[cyc] = (ticks[cyc] - phase[cyc]) // (30 * ctx.day_ticks)
    return qp


def _order(lic: np.ndarray, ts: np.ndarray, ids: pa.ChunkedArray) -> np.ndarray:
    """Row order by (license, ts, request_id); ids are compared only where license and ts tie,
    which is rare and costly."""
    order = np.lexsort((ts, lic))
    tie = (lic[order][1:] == lic[order][:-1]) & (ts[order][1:] == ts[order][:-1])
    if tie.any():
        runs = np.flatnonzero(np.r_[False, tie] | np.r_[tie, False])
        run = np.cumsum(np.r_[True, ~tie])[runs]
        ids = pc.take(ids, order[runs])
        by_id = pc.sort_indices(
            pa.table({"run": run, "id": ids}), [("run", "ascending"), ("id", "ascending")]
        )
        order[runs] = order[runs][by_id.to_numpy()]
    return order


def fold(requests: pa.Table, ctx: Context) -> dict[str, np.ndarray]:
    """The ledger rows of one partition's counted requests, sorted by day."""
    if not requests.num_rows:
        return {name: np.empty(0, t) for name, t in ROWS.items()}
    order = _order(
        requests["license"].to_numpy(), requests["ts"].to_numpy(), requests["request_id"]
    )
    lic, ts, c, tool = (requests[k].to_numpy()[order] for k in ("license", "ts", "credits", "tool"))
    days = local_days(ts, ctx.timezone, ctx.unit)
    qp = quota_periods(ts, days, lic, ctx)

    n = len(lic)
    start = np.ones(n, dtype=bool)
    start[1:] = (lic[1:] != lic[:-1]) | (qp[1:] != qp[:-1])
    cum = np.cumsum(c)
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    after = cum - (cum[first] - c[first])
    before = after - c
    quota = ctx.quota[lic]
    builtin = np.minimum(c, np.maximum(0, quota - before))
    # A top-up limit is never negative, so only requests that reach the quota can hit.
    reach = np.flatnonzero(after >= quota)
    allowance = quota[reach] + ctx.topups.at(ctx.owner[lic[reach]], ts[reach])
    hit = np.zeros(n, dtype=np.int32)
    hit[reach[(before[reach] < allowance) & (after[reach] >= allowance)]] = 1

    # Rows of one (license, quota period, day) are contiguous; order them by tool within it.
    start[1:] |= days[1:] != days[:-1]
    key = (np.cumsum(start) - 1) * len(Tool) + tool
    order = np.argsort(key, kind="stable")
    key = key[order]
    firsts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    at = order[firsts]

    def total(values):
        return np.add.reduceat(values[order], firsts)

    rows = {
        "day": days[at],
        "license": lic[at],
        "qp": qp[at],
        "tool": tool[at],
        "builtin": total(builtin),
        "topup": total(c - builtin),
        "requests": np.diff(np.r_[firsts, n]),
        "hits": total(hit),
    }
    by_day = np.argsort(rows["day"], kind="stable")
    return {name: rows[name][by_day].astype(t) for name, t in ROWS.items()}
