"""The quota ledger of section 3, vectorised, and the compact table every report aggregates.

The ledger does not depend on the period shown, so it runs once per dataset. Requests are sorted by
(license, ts, request_id); because a license's quota periods follow each other in time, that order
also keeps every (license, quota period) contiguous, and `spent` is one cumulative sum with a
reset at each group start. The result is folded into one row per (license, quota period, local
day, tool), a table about ten times smaller than the requests. The two halves of the licenses
fold on two threads.

Like everything a report needs, this module imports no pandas: a cold report would pay a third of
a second for that import, on a core the reading needs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from metrics.loading import NAT, Tables, Topups
from metrics.model import MICRO, Tool
from metrics.reading import numpy_to_arrow, to_numpy

DAY_NS = 86_400 * 10**9
CYCLE_NS = 30 * DAY_NS

#: Columns of `Ledger.rows`; day is the local date as days since 1970-01-01.
ROW_TYPES = {
    "day": np.int32,
    "license": np.int32,
    "qp": np.int64,
    "tool": np.int8,
    "builtin": np.int64,
    "topup": np.int64,
    "requests": np.int32,
    "hits": np.int32,
}
ROW_COLUMNS = tuple(ROW_TYPES)
#: The same, as the cache file's Arrow schema.
ROW_SCHEMA = pa.schema([(name, pa.from_numpy_dtype(t)) for name, t in ROW_TYPES.items()])


@dataclass(frozen=True)
class Ledger:
    rows: dict[str, np.ndarray]  # ROW_COLUMNS with ROW_TYPES, sorted by day
    timezone: str

    def __len__(self) -> int:
        return len(self.rows["day"])

    def table(self) -> pa.Table:
        return pa.table([numpy_to_arrow(self.rows[n]) for n in ROW_COLUMNS], schema=ROW_SCHEMA)

    @classmethod
    def from_table(cls, table: pa.Table, timezone: str) -> Ledger | None:
        """A ledger read back from the cache; None when its columns are not the current ones."""
        if table.schema != ROW_SCHEMA:
            return None
        if table.num_rows and any(c.null_count for c in table.columns):
            return None
        return cls(rows={n: to_numpy(table[n]) for n in ROW_COLUMNS}, timezone=timezone)


def micro(values: np.ndarray) -> np.ndarray:
    """Credits to integer micro-credits, rounding half to even exactly as Python's round()."""
    return np.rint(np.asarray(values, dtype=np.float64) * MICRO).astype(np.int64)


def local_days(ts_ns: np.ndarray, tz: str) -> np.ndarray:
    """Local calendar date of each UTC instant, as int days since the epoch."""
    if len(ts_ns) == 0:
        return np.empty(0, dtype=np.int64)
    starts, offsets = utc_offsets(tz, int(ts_ns.min()), int(ts_ns.max()))
    if len(starts) == 1:
        return (ts_ns + offsets[0]) // DAY_NS
    return (ts_ns + offsets[np.searchsorted(starts, ts_ns, side="right") - 1]) // DAY_NS


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PROBE_S = 86_400


def utc_offsets(tz: str, lo_ns: int, hi_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """The UTC offsets of `tz` over [lo, hi] in nanoseconds: `offsets[i]` applies from
    `starts[i]` on (the first start is lo).

    zoneinfo answers for one instant at a time, so the offset is probed once a day and every
    change is narrowed down to its second by bisection (offsets change on whole seconds). A day
    cannot hide a change together with its undoing: no two changes in the tz database are less
    than four days apart (the closest, Africa/Freetown's in 1939, are 95 hours apart). The cost
    is a Python call per day of the span, a millisecond for a year of requests.
    """
    zone = ZoneInfo(tz)

    def offset(s: int) -> int:
        return (_EPOCH + timedelta(seconds=s)).astimezone(zone).utcoffset() // timedelta(seconds=1)

    lo, hi = lo_ns // 10**9, -(-hi_ns // 10**9)
    starts, offsets = [lo], [offset(lo)]
    probes = [*range(lo + _PROBE_S, hi, _PROBE_S), hi]
    for a, b in pairwise([lo, *probes]):
        while offset(b) != offsets[-1]:
            # The first second in (a, b] whose offset differs from the current one.
            before, after = a, b
            while after - before > 1:
                mid = (before + after) // 2
                before, after = (mid, after) if offset(mid) == offsets[-1] else (before, mid)
            starts.append(after)
            offsets.append(offset(after))
            a = after
    ns = np.array(starts, dtype=np.int64) * 10**9
    ns[0] = lo_ns
    return ns, np.array(offsets, dtype=np.int64) * 10**9


def month_index(days: np.ndarray) -> np.ndarray:
    """Months since January 1970 of each day number, looked up per distinct day."""
    if len(days) == 0:
        return np.empty(0, dtype=np.int64)
    first = int(days.min())
    span = np.arange(first, int(days.max()) + 1)
    months = span.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months[days - first]


def quota_period(ts_ns, days, lic, anchors_ns: np.ndarray) -> np.ndarray:
    """The quota period key per request: a month index, or the 30-day cycle number k."""
    anchor = anchors_ns[lic]
    cyc = anchor != NAT
    qp = month_index(days)
    if cyc.any():
        qp = qp.copy()
        qp[cyc] = np.floor_divide(ts_ns[cyc] - anchor[cyc], CYCLE_NS)
    return qp


def _order(lic: np.ndarray, ts: np.ndarray, ids_of) -> np.ndarray:
    """Indices in (license, ts, request_id) order; request ids are only fetched inside ties.

    `ids_of(rows)` returns the request ids of those rows, a costly gather kept to the ties.
    """
    order = np.argsort(ts, kind="stable")
    order = order[_stable_order(lic[order])]
    l_s, t_s = lic[order], ts[order]
    tie = (l_s[1:] == l_s[:-1]) & (t_s[1:] == t_s[:-1])
    if tie.any():
        in_run = np.zeros(len(order), dtype=bool)
        in_run[1:] |= tie
        in_run[:-1] |= tie
        pos = np.flatnonzero(in_run)
        run = np.cumsum(np.r_[True, ~tie][pos])
        ids = ids_of(order[pos])
        resorted = sorted(range(len(pos)), key=lambda i: (run[i], ids[i]))
        order[pos] = order[pos][resorted]
    return order


def topup_limits(top: Topups, user: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """topup_limit(user, ts) in micro-credits per (user, ts) pair: own rows first, then defaults.

    Both lookups are one `searchsorted`: effective dates are replaced by their rank among all
    effective dates, so (user, rank) packs into one sortable integer key. Rows with equal keys
    keep file order, and the last of them wins.
    """
    out = np.zeros(len(ts), dtype=np.int64)
    if len(top.user) == 0 or len(ts) == 0:
        return out
    eff = top.effective_from
    limit = micro(top.monthly_limit)
    who = top.user.astype(np.int64)
    times = np.sort(eff)  # np.unique would import numpy.ma, a cold start's 10 ms
    times = times[np.r_[True, times[1:] != times[:-1]]]
    span = len(times) + 1
    row_key = (who + 1) * span + np.searchsorted(times, eff, side="right")
    order = np.argsort(row_key, kind="stable")
    row_key, limit, who = row_key[order], limit[order], who[order]
    rank = np.searchsorted(times, ts, side="right")
    for users in (np.full(len(ts), -1, dtype=np.int64), user.astype(np.int64)):
        pos = np.searchsorted(row_key, (users + 1) * span + rank, side="right") - 1
        found = (pos >= 0) & (who[np.maximum(pos, 0)] == users) & (rank > 0)
        out = np.where(found, limit[np.maximum(pos, 0)], out)
    return out


def run(tables: Tables) -> Ledger:
    # Licenses spend independently, so the two halves of the licenses fold on two threads.
    halves = _halves(tables.requests.license)
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(lambda rows: _fold(tables, rows), halves))
    # bincount sums in float64; the sums are whole micro-credits far below 2**53, cast exactly.
    cols = {
        name: np.concatenate([np.empty(0, t), *(p[name] for p in parts)], dtype=t, casting="unsafe")
        for name, t in ROW_TYPES.items()
    }
    # Reports slice periods out of rows sorted by day.
    by_day = _stable_order(cols["day"])
    with ThreadPoolExecutor(max_workers=2) as pool:
        rows = dict(zip(cols, pool.map(lambda col: col[by_day], cols.values()), strict=True))
    return Ledger(rows=rows, timezone=tables.timezone)


def _stable_order(values: np.ndarray) -> np.ndarray:
    """A stable argsort; values spanning fewer than 65,536 sort as 16-bit keys, by radix."""
    narrow = values - (values.min() if len(values) else 0)
    if narrow.max(initial=0) < 2**16:
        narrow = narrow.astype(np.uint16)
    return np.argsort(narrow, kind="stable")


def _halves(lic: np.ndarray) -> list[np.ndarray]:
    """Rows of the lower and of the upper licenses, split where half of the rows fall."""
    if len(lic) == 0:
        return []
    cut = int(np.searchsorted(np.cumsum(np.bincount(lic)), len(lic) // 2)) + 1
    lower = lic < cut
    return [rows for rows in (np.flatnonzero(lower), np.flatnonzero(~lower)) if len(rows)]


def _fold(tables: Tables, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The ledger rows of the requests `rows`, whose licenses no other call sees."""
    req = tables.requests
    order = _order(
        req.license[rows], req.ts[rows], lambda r: req.request_id.take(rows[r]).to_pylist()
    )
    order = rows[order]
    lic, ts = req.license[order], req.ts[order]
    c = req.credits[order]
    tool = req.tool[order]
    days = local_days(ts, tables.timezone)

    licenses = tables.licenses
    qp = quota_period(ts, days, lic, licenses.cycle_anchor)

    n = len(order)
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (lic[1:] != lic[:-1]) | (qp[1:] != qp[:-1])
    cum = np.cumsum(c)
    group_first = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    spent_after = cum - (cum[group_first] - c[group_first])
    spent_before = spent_after - c

    quota = micro(licenses.quota)[lic]
    builtin = np.minimum(c, np.maximum(0, quota - spent_before))
    topup = c - builtin
    # A top-up limit is never negative, so only requests that reach the quota can hit.
    reach = np.flatnonzero(spent_after >= quota)
    allowance = quota[reach] + topup_limits(tables.topups, licenses.user[lic[reach]], ts[reach])
    hit = reach[(spent_before[reach] < allowance) & (spent_after[reach] >= allowance)]

    new_seg = new_group.copy()
    new_seg[1:] |= days[1:] != days[:-1]
    seg = np.cumsum(new_seg) - 1
    key = seg * len(Tool) + tool
    size = (int(seg[-1]) + 1) * len(Tool)
    count = np.bincount(key, minlength=size)
    present = np.flatnonzero(count)
    first = np.flatnonzero(new_seg)[present // len(Tool)]

    def total(w):
        return np.bincount(key, weights=w, minlength=size)[present]

    return {
        "day": days[first],
        "license": lic[first],
        "qp": qp[first],
        "tool": present % len(Tool),
        "builtin": total(builtin),
        "topup": total(topup),
        "requests": count[present],
        "hits": np.bincount(key[hit], minlength=size)[present],
    }
