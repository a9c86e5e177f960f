"""An opened dataset: every answer is a sum over the ledger's partitions.

Each partition holds the ledger rows of its own users, sorted by day, so a period is a slice,
distinct users of different partitions never overlap and every count simply adds up. A partition
is in memory, or, for a ledger larger than the memory setting allows, read from disk while it is
being added up.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from metrics import ledger
from metrics.model import MICRO, ActiveUsers, Credits, LimitHits, Report, TeamRow, TeamsReport, Tool
from metrics.periods import Granularity, Period, PeriodName, auto_granularity, buckets
from metrics.views import Views

EPOCH = date(1970, 1, 1)
_MATRIX_LIMIT = 64_000_000


def day_number(d: date) -> int:
    return (d - EPOCH).days


def from_day(n: int) -> date:
    return EPOCH + timedelta(days=int(n))


@dataclass(frozen=True)
class Licenses:
    """licenses.parquet as validated; times in the dataset's ticks (NEVER: no end)."""

    ids: pa.Array
    owner: np.ndarray  # user code
    plan: pa.Array
    quota: np.ndarray  # micro-credits
    valid_from: np.ndarray
    valid_until: np.ndarray
    phase: np.ndarray  # ledger.NO_CYCLE for calendar months

    def __len__(self) -> int:
        return len(self.owner)


@dataclass(frozen=True)
class Tables:
    name: str
    timezone: str
    unit: str
    users: pa.Table  # user_id, name, email, team; a user's row is its code
    licenses: Licenses
    topups: ledger.Topups


@dataclass(frozen=True)
class Part:
    """One partition of the ledger: its rows, or the Arrow file that holds them."""

    rows: dict | None = None
    path: Path | None = None

    def load(self) -> dict:
        return self.rows if self.rows is not None else ledger.as_rows(ledger.saved(self.path))


class Parts(list):
    """The ledger's partitions as they are added: in memory while they fit `limit` bytes, then
    all in files of a private temporary folder, removed with the last reference to it."""

    ROW_BYTES = 48

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.held, self.folder = limit, 0, None

    def add(self, rows: dict) -> None:
        self.held += len(rows["day"]) * self.ROW_BYTES
        self.append(Part(rows=rows))
        if self.held > self.limit:
            if self.folder is None:
                self.folder = tempfile.TemporaryDirectory(prefix="ai-console-ledger-")
            for i, part in enumerate(self):
                if part.rows is not None:
                    path = Path(self.folder.name) / f"part-{i}.arrow"
                    ledger.save(path, part.rows)
                    self[i] = Part(path=path)


def distinct(index: np.ndarray, user: np.ndarray, n_index: int, n_users: int):
    """Distinct users per index value, and over all of them. A matrix of (index, user) flags
    where it is not much larger than the rows (a month's buckets), else sorted pairs (the
    daily hits of 100,000 users: few rows, a matrix of millions of cells)."""
    if n_index * n_users <= min(_MATRIX_LIMIT, 16 * len(index) + 65_536):
        seen = np.zeros((n_index, max(n_users, 1)), dtype=bool)
        seen[index, user] = True
        return seen.sum(axis=1), int(seen.any(axis=0).sum())
    pairs = _unique(index.astype(np.int64) * n_users + user)
    return np.bincount(pairs // n_users, minlength=n_index), len(_unique(pairs % n_users))


def _unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting: numpy 2.4's own hashes and is some 30 times slower on these."""
    s = np.sort(values)
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def _buckets_of(day: np.ndarray, firsts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each bucket's rows start, and each row's bucket, for rows sorted by day within
    the buckets' days (searched without casting the whole day column)."""
    starts = day.searchsorted(firsts.astype(day.dtype))
    return starts, np.repeat(np.arange(len(firsts)), np.diff(np.r_[starts, len(day)]))


def sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Exact int64 sums of the runs of `values` that begin at `starts` (runs may be empty)."""
    out = np.zeros(len(starts), np.int64)
    filled = np.r_[starts[1:], len(values)] > starts
    if filled.any():
        out[filled] = np.add.reduceat(values.astype(np.int64, copy=False), starts[filled])
    return out


class Dataset(Views):
    """One organization, validated, with its ledger computed or read back from the cache."""

    def __init__(self, path: Path, tables: Tables, parts: list[Part], fingerprint: str):
        self.path, self.fingerprint = path, fingerprint
        self.name, self.timezone, self.unit = tables.name, tables.timezone, tables.unit
        self.tables = tables
        self._parts = parts
        self.n_users = tables.users.num_rows
        team_of = tables.users["team"].to_pylist()
        self.teams: tuple[str, ...] = tuple(sorted({t for t in team_of if t is not None}))
        code = {t: i for i, t in enumerate(self.teams)}
        self.team_code = np.array([code.get(t, -1) for t in team_of], dtype=np.int32)
        days, self.ledger_rows = [], 0
        for r in self._rows(columns=("day",)):  # one pass: parts in files are read once
            self.ledger_rows += len(r["day"])
            if len(r["day"]):
                days.append((int(r["day"][0]), int(r["day"][-1])))
        self.first_day = from_day(min(d[0] for d in days)) if days else None
        self.last_day = from_day(max(d[1] for d in days)) if days else None

    @cached_property
    def users(self):
        """users.parquet as validated, as a frame: user_id, name, email, team."""
        return self.tables.users.to_pandas()

    @cached_property
    def licenses(self):
        import pandas as pd

        lic = self.tables.licenses
        return pd.DataFrame(
            {
                "license_id": lic.ids.to_pylist(),
                "user": lic.owner,
                "plan": lic.plan.to_pylist(),
                "monthly_quota": lic.quota / MICRO,
            }
        )

    def today(self) -> date:
        return datetime.now(ZoneInfo(self.timezone)).date()

    def period(self, name: PeriodName | str, as_of: date | None = None) -> Period:
        return Period.named(name, as_of or self.today(), self.first_day)

    # -- rows -------------------------------------------------------------------------------

    def team_mask(self, teams: Iterable[str | None]) -> np.ndarray | None:
        """Users of the chosen teams; `None` among them stands for the users without a team."""
        teams = set(teams)
        if not teams:
            return None
        codes = [i for i, t in enumerate(self.teams) if t in teams] + (
            [-1] if None in teams else []
        )
        return np.isin(self.team_code, codes)

    def _rows(
        self,
        first: date | None = None,
        last: date | None = None,
        teams=(),
        tools=(),
        hits=False,
        columns=None,
    ) -> Iterator[dict]:
        """The ledger rows of the days [first, last] that pass the filters, partition by part,
        each with the `user` of its license; only `columns` (and `user`) when given."""
        team_ok = self.team_mask(teams)
        tools = {Tool(t) for t in tools}
        tool_ok = None
        if tools and len(tools) < len(Tool):
            tool_ok = np.isin(np.arange(len(Tool)), [t.code for t in tools])
        for part in self._parts:
            rows = part.load()
            day, as_day = rows["day"], rows["day"].dtype.type  # no cast of the whole column
            lo = 0 if first is None else day.searchsorted(as_day(day_number(first)))
            hi = None if last is None else day.searchsorted(as_day(day_number(last)), "right")
            rows = {n: v[lo:hi] for n, v in rows.items()}
            if hits:  # few rows hit a limit: only theirs look up their users
                hit = np.flatnonzero(rows["hits"] > 0)
                rows = {n: v[hit] for n, v in rows.items()}
            rows["user"] = self.tables.licenses.owner[rows["license"]]
            masks = [
                ok[rows[c]] for ok, c in ((team_ok, "user"), (tool_ok, "tool")) if ok is not None
            ]
            if columns is not None:
                rows = {n: rows[n] for n in (*columns, "user")}
            if masks:
                keep = np.logical_and.reduce(masks)
                rows = {n: v[keep] for n, v in rows.items()}
            yield rows

    # -- the contract's three metrics ----------------------------------------------------------

    def report(
        self,
        period: Period,
        granularity: Granularity | str | None = None,
        teams: Iterable[str | None] = (),
        tools: Iterable[Tool | str] = (),
    ) -> Report:
        """Section 5. The tool filter narrows the first two metrics; limit hits ignore it."""
        gran = Granularity(granularity) if granularity else auto_granularity(period)
        teams, tools = frozenset(teams), frozenset(Tool(t) for t in tools)
        bks = buckets(period, gran)
        firsts = np.array([day_number(b.first) for b in bks])
        nb, n = len(bks), self.n_users
        active, builtin, topup, hit_series = np.zeros((4, nb), np.int64)
        active_total = hit_total = 0
        daily = np.zeros(period.days, np.int64)
        credits = ("day", "builtin", "topup")
        for r in self._rows(period.start, period.end, teams, tools, columns=credits):
            starts, b = _buckets_of(r["day"], firsts)
            per_bucket, total = distinct(b, r["user"], nb, n)
            active += per_bucket
            active_total += total
            builtin += sums(r["builtin"], starts)
            topup += sums(r["topup"], starts)
        for r in self._rows(period.start, period.end, teams, hits=True, columns=("day",)):
            _, b = _buckets_of(r["day"], firsts)
            per_bucket, total = distinct(b, r["user"], nb, n)
            hit_series += per_bucket
            hit_total += total
            daily += distinct(r["day"] - day_number(period.start), r["user"], period.days, n)[0]
        peak = int(daily.max(initial=0))
        return Report(
            timezone=self.timezone,
            period=period,
            granularity=gran,
            buckets=bks,
            active_users=ActiveUsers(active_total, tuple(int(v) for v in active)),
            credits=Credits(tuple(int(v) for v in builtin), tuple(int(v) for v in topup)),
            limit_hits=LimitHits(
                hit_total,
                peak,
                period.start + timedelta(days=int(np.argmax(daily))) if peak else None,
                tuple(int(v) for v in hit_series),
            ),
            teams=teams,
            tools=tools,
        )

    # -- per user ----------------------------------------------------------------------------

    def per_user(self, first: date, last: date, teams=(), tools=()) -> dict[str, np.ndarray]:
        """By user code: builtin, topup (exact micro-credits), requests, hits and last active
        day (-1: none) over the days [first, last]; hits ignore the tool filter."""
        n = self.n_users
        out = {k: np.zeros(n, np.int64) for k in ("builtin", "topup", "requests", "hits")}
        out["last_day"] = np.full(n, -1, np.int64)
        for r in self._rows(first, last, teams, tools):
            for k in ("builtin", "topup", "requests"):
                np.add.at(out[k], r["user"], r[k])
            np.maximum.at(out["last_day"], r["user"], r["day"].astype(np.int64))
        for r in self._rows(first, last, teams, hits=True):
            np.add.at(out["hits"], r["user"], r["hits"])
        return out

    def by_team(self, period: Period) -> TeamsReport:
        """Section 9: each team side by side, and the organization."""
        use = self.per_user(period.start, period.end)
        active = use["requests"] > 0
        hit = use["hits"] > 0
        lic = self.tables.licenses
        start, end = self.day_starts([period.start, period.end + timedelta(days=1)])
        valid = (lic.valid_from < end) & (lic.valid_until > start)
        licensed = np.zeros(self.n_users, bool)
        licensed[lic.owner[valid]] = True

        def row(team, members: np.ndarray) -> TeamRow:
            return TeamRow(
                team=team,
                licensed_users=int((licensed & members).sum()),
                active_users=int((active & members).sum()),
                licensed_active_users=int((licensed & active & members).sum()),
                credits=Credits(
                    (int(use["builtin"][members].sum()),), (int(use["topup"][members].sum()),)
                ),
                limit_hit_users=int((hit & members).sum()),
            )

        teams = [row(t, self.team_code == i) for i, t in enumerate(self.teams)]
        if (self.team_code < 0).any():
            teams.append(row(None, self.team_code < 0))
        everyone = np.ones(self.n_users, bool)
        return TeamsReport(self.timezone, period, row(None, everyone), tuple(teams))

    # -- instants and quota periods ----------------------------------------------------------

    def day_starts(self, days: list[date]) -> np.ndarray:
        """The first instant of each local day, in ticks."""
        return ledger.day_starts(np.array([day_number(d) for d in days]), self.timezone, self.unit)

    def quota_periods_at(self, as_of: date, back: int = 0) -> dict[str, np.ndarray]:
        """Per license, the quota period holding the last instant of `as_of` (`back` periods
        earlier): its key, its first and last local day, and the instant its allowance is
        judged at (`now`: the end of `as_of`, or the last instant of an earlier period)."""
        lic = self.tables.licenses
        now = int(self.day_starts([as_of + timedelta(days=1)])[0]) - 1
        n = len(lic)
        month = np.datetime64(as_of, "M") - back
        after = int((month + 1).astype("datetime64[D]").astype(np.int64))
        qp = np.full(n, month.astype(np.int64))
        first = np.full(n, month.astype("datetime64[D]").astype(np.int64))
        last = np.full(n, after - 1)
        judged = np.full(n, int(self.day_starts([from_day(after)])[0]) - 1 if back else now)
        cyc = lic.phase != ledger.NO_CYCLE
        if cyc.any():
            span = 30 * 86_400 * ledger.TICKS[self.unit]
            k = (now - lic.phase[cyc]) // span - back
            begin = lic.phase[cyc] + k * span
            qp[cyc] = k
            first[cyc] = ledger.local_days(begin, self.timezone, self.unit)
            last[cyc] = ledger.local_days(begin + span - 1, self.timezone, self.unit)
            if back:
                judged[cyc] = begin + span - 1
        last = np.minimum(last, day_number(date.max))  # a cycle running past 9999-12-31
        return {"qp": qp, "first": first, "last": last, "now": judged}

    def spending(self, as_of: date, back: int = 0) -> dict:
        """Per license, in the quota period `quota_periods_at` gives, through `as_of`: micro-
        credits spent (builtin, topup) and hits."""
        cur = self.quota_periods_at(as_of, back)
        n = len(self.tables.licenses)
        out = {k: np.zeros(n, np.int64) for k in ("builtin", "topup", "hits")}
        lo = from_day(int(cur["first"].min(initial=day_number(as_of))))
        for r in self._rows(lo, as_of):
            now = r["qp"] == cur["qp"][r["license"]]
            for k in out:
                np.add.at(out[k], r["license"][now], r[k][now])
        return {**out, **{f"period_{k}": v for k, v in cur.items()}}

    def forecast(self, as_of: date, teams=()):
        """Section 10 (metrics.forecast)."""
        from metrics.forecast import forecast

        return forecast(self, as_of, teams)

    def allowances(self, now) -> np.ndarray:
        """Per license, its quota plus its user's top-up limit in force at `now` (an instant, or
        one per license), in micro-credits."""
        lic = self.tables.licenses
        return lic.quota + self.tables.topups.at(lic.owner, np.broadcast_to(now, len(lic)))

    def valid_at(self, instant: int) -> np.ndarray:
        lic = self.tables.licenses
        return (lic.valid_from <= instant) & (lic.valid_until > instant)
