"""An opened dataset: the ledger computed once, and every report answered from it.

All answers are aggregations of the ledger rows (one per license, quota period, local day and
tool), kept as numpy arrays sorted by day so that a period is a contiguous slice. Distinct-user
counts scatter into a bucket-by-user boolean matrix, which is linear in the rows and avoids
sorting on every click.

The report needs no pandas, and a cold `python -m metrics report` would pay a third of a second
to import it; the methods that build frames for the app import it themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from metrics import ledger as ledger_mod
from metrics import loading
from metrics.model import (
    MICRO,
    ActiveUsers,
    Credits,
    LimitHits,
    Report,
    Tool,
    credits,
)
from metrics.periods import Bucket, Granularity, Period, PeriodName, auto_granularity, buckets

if TYPE_CHECKING:
    import pandas as pd

EPOCH = date(1970, 1, 1)
_MATRIX_LIMIT = 64_000_000


def day_number(d: date) -> int:
    return (d - EPOCH).days


def from_day_number(n: int) -> date:
    return EPOCH + timedelta(days=int(n))


def _distinct(bucket: np.ndarray, user: np.ndarray, n_buckets: int, n_users: int):
    """Distinct users per bucket and over all buckets."""
    if n_buckets * n_users <= _MATRIX_LIMIT:
        seen = np.zeros((n_buckets, max(n_users, 1)), dtype=bool)
        seen[bucket, user] = True
        return seen.sum(axis=1), int(seen.any(axis=0).sum())
    pairs = np.unique(bucket.astype(np.int64) * n_users + user)
    series = np.bincount(pairs // n_users, minlength=n_buckets)
    return series, len(np.unique(user))


@dataclass(frozen=True)
class _Slice:
    """Ledger rows of one period after the team and tool filters."""

    day: np.ndarray
    user: np.ndarray
    tool: np.ndarray
    builtin: np.ndarray
    topup: np.ndarray
    requests: np.ndarray
    hits: np.ndarray
    license: np.ndarray


class Dataset:
    """One organization, validated, with its ledger computed (or read back from the cache)."""

    def __init__(self, path: Path, tables: loading.Tables, led: ledger_mod.Ledger, key: str):
        self.path = path
        self.name = tables.name
        self.timezone = tables.timezone
        self.fingerprint = key
        # The counted requests were only the ledger's input; the app may keep several datasets.
        self._tables = replace(tables, requests=None)
        rows = led.rows
        self._day = rows["day"]
        self._license = rows["license"]
        self._qp = rows["qp"]
        self._tool = rows["tool"]
        self._builtin = rows["builtin"]
        self._topup = rows["topup"]
        self._requests = rows["requests"]
        self._hits = rows["hits"]
        self._owner = tables.licenses.user.astype(np.int32)
        self._user = self._owner[self._license] if len(led) else np.empty(0, np.int32)
        self.n_users = tables.users.num_rows
        team_of_user = tables.users["team"].to_pylist()
        self.teams: tuple[str, ...] = tuple(sorted({t for t in team_of_user if t is not None}))
        code = {t: i for i, t in enumerate(self.teams)}
        self._team = np.array([code.get(t, -1) for t in team_of_user], dtype=np.int32)
        self.first_day = from_day_number(self._day[0]) if len(led) else None
        self.last_day = from_day_number(self._day[-1]) if len(led) else None

    @property
    def ledger_rows(self) -> int:
        return len(self._day)

    @cached_property
    def users(self) -> pd.DataFrame:
        """users.parquet as validated: user_id, name, email, team; a user's row is its code."""
        return self._tables.users.to_pandas()

    @cached_property
    def licenses(self) -> pd.DataFrame:
        """licenses.parquet as validated, with each owner's user code and UTC timestamps."""
        import pandas as pd

        lic = self._tables.licenses

        def times(ns: np.ndarray) -> pd.Series:
            return pd.Series(pd.to_datetime(ns.view("datetime64[ns]"), utc=True))

        return pd.DataFrame(
            {
                "license_id": lic.ids.to_pandas(),
                "user": lic.user,
                "plan": lic.plan.to_pandas(),
                "monthly_quota": lic.quota,
                "valid_from": times(lic.valid_from),
                "valid_until": times(lic.valid_until),
                "cycle_anchor": times(lic.cycle_anchor),
            }
        )

    # -- periods -----------------------------------------------------------------------------

    def today(self) -> date:
        return datetime.now(ZoneInfo(self.timezone)).date()

    def period(self, name: PeriodName | str, as_of: date | None = None) -> Period:
        return Period.named(name, as_of or self.today(), self.first_day)

    # -- filtering ---------------------------------------------------------------------------

    def _team_mask(self, teams: Iterable[str | None]) -> np.ndarray | None:
        """Users of the chosen teams; `None` among them stands for the users without a team."""
        teams = set(teams)
        if not teams:
            return None
        codes = [i for i, t in enumerate(self.teams) if t in teams]
        return np.isin(self._team, codes + ([-1] if None in teams else []))

    def _slice(self, first: date, last: date, teams=(), tools=(), hits_only=False) -> _Slice:
        lo = np.searchsorted(self._day, day_number(first), side="left")
        hi = np.searchsorted(self._day, day_number(last), side="right")
        sl = slice(lo, hi)
        mask = None
        team_ok = self._team_mask(teams)
        if team_ok is not None:
            mask = team_ok[self._user[sl]]
        tools = {Tool(t) for t in tools}
        if tools and len(tools) < len(Tool):
            tool_ok = np.zeros(len(Tool), dtype=bool)
            tool_ok[[t.code for t in tools]] = True
            tmask = tool_ok[self._tool[sl]]
            mask = tmask if mask is None else mask & tmask
        if hits_only:
            hmask = self._hits[sl] > 0
            mask = hmask if mask is None else mask & hmask

        def take(a):
            return a[sl] if mask is None else a[sl][mask]

        return _Slice(
            take(self._day),
            take(self._user),
            take(self._tool),
            take(self._builtin),
            take(self._topup),
            take(self._requests),
            take(self._hits),
            take(self._license),
        )

    @staticmethod
    def _bucket_index(day: np.ndarray, bks: tuple[Bucket, ...]) -> np.ndarray:
        """Bucket of each day, by a lookup table over the period's days (all rows lie inside)."""
        table = np.repeat(np.arange(len(bks)), [b.days for b in bks])
        return table[day - day_number(bks[0].first)]

    # -- the contract's three metrics --------------------------------------------------------

    def report(
        self,
        period: Period,
        granularity: Granularity | str | None = None,
        teams: Iterable[str] = (),
        tools: Iterable[Tool | str] = (),
    ) -> Report:
        """Section 5. The tool filter narrows the first two metrics; limit hits ignore it."""
        gran = Granularity(granularity) if granularity else auto_granularity(period)
        teams = frozenset(teams)
        tools = frozenset(Tool(t) for t in tools)
        bks = buckets(period, gran)
        nb = len(bks)

        s = self._slice(period.start, period.end, teams, tools)
        b = self._bucket_index(s.day, bks)
        active, active_total = _distinct(b, s.user, nb, self.n_users)
        builtin = np.bincount(b, weights=s.builtin, minlength=nb).astype(np.int64)
        topup = np.bincount(b, weights=s.topup, minlength=nb).astype(np.int64)

        h = self._slice(period.start, period.end, teams, hits_only=True)
        hb = self._bucket_index(h.day, bks)
        hit_series, hit_users = _distinct(hb, h.user, nb, self.n_users)
        daily, _ = _distinct(h.day - day_number(period.start), h.user, period.days, self.n_users)
        peak = int(daily.max(initial=0))
        peak_day = period.start + timedelta(days=int(np.argmax(daily))) if peak else None

        total = builtin + topup
        return Report(
            timezone=self.timezone,
            period=period,
            granularity=gran,
            buckets=bks,
            active_users=ActiveUsers(active_total, tuple(int(v) for v in active)),
            credits=Credits(
                builtin=credits(int(builtin.sum())),
                topup=credits(int(topup.sum())),
                total=credits(int(total.sum())),
                builtin_series=tuple(credits(int(v)) for v in builtin),
                topup_series=tuple(credits(int(v)) for v in topup),
                total_series=tuple(credits(int(v)) for v in total),
            ),
            limit_hits=LimitHits(hit_users, peak, peak_day, tuple(int(v) for v in hit_series)),
            teams=teams,
            tools=tools,
        )

    def tool_series(
        self, period: Period, granularity: Granularity | str | None = None, teams=()
    ) -> pd.DataFrame:
        """Active users and credits per bucket and tool, in long form for stacked charts."""
        import pandas as pd

        gran = Granularity(granularity) if granularity else auto_granularity(period)
        bks = buckets(period, gran)
        s = self._slice(period.start, period.end, teams)
        b = self._bucket_index(s.day, bks)
        frames = []
        for tool in Tool:
            m = s.tool == tool.code
            active, _ = _distinct(b[m], s.user[m], len(bks), self.n_users)
            bi = np.bincount(b[m], weights=s.builtin[m], minlength=len(bks))
            tu = np.bincount(b[m], weights=s.topup[m], minlength=len(bks))
            frames.append(
                pd.DataFrame(
                    {
                        "bucket": [pd.Timestamp(x.label) for x in bks],
                        "tool": tool.label,
                        "active_users": active.astype(int),
                        "builtin": np.round(bi / MICRO, 6),
                        "topup": np.round(tu / MICRO, 6),
                        "total": np.round((bi + tu) / MICRO, 6),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    # -- drill-downs -------------------------------------------------------------------------

    def bucket_users(self, first: date, last: date, teams=(), tools=()) -> pd.DataFrame:
        """The users behind a bar: everyone with counted requests or a limit hit in the days."""
        import pandas as pd

        s = self._slice(first, last, teams, tools)
        h = self._slice(first, last, teams, hits_only=True)
        use = (
            pd.DataFrame(
                {"user": s.user, "builtin": s.builtin, "topup": s.topup, "requests": s.requests}
            )
            .groupby("user")
            .sum()
        )
        hits = pd.Series(h.hits, index=h.user).groupby(level=0).sum().rename("hits")
        out = use.join(hits, how="outer").fillna(0)
        out = out.astype({"builtin": np.int64, "topup": np.int64, "requests": int, "hits": int})
        people = self.users.iloc[out.index.to_numpy()]
        frame = pd.DataFrame(
            {
                "user_id": people["user_id"].to_numpy(),
                "name": people["name"].to_numpy(),
                "email": people["email"].to_numpy(),
                "team": people["team"].to_numpy(),
                "builtin": np.round(out["builtin"].to_numpy() / MICRO, 6),
                "topup": np.round(out["topup"].to_numpy() / MICRO, 6),
                "total": np.round((out["builtin"] + out["topup"]).to_numpy() / MICRO, 6),
                "requests": out["requests"].to_numpy(),
                "limit_hits": out["hits"].to_numpy(),
                "hit_limit": out["hits"].to_numpy() > 0,
            }
        )
        return frame.sort_values(["total", "user_id"], ascending=[False, True], ignore_index=True)

    def standings(self, as_of: date | None = None, teams=()) -> pd.DataFrame:
        """Each valid license's current quota period at the end of `as_of`: spent vs allowance."""
        import pandas as pd

        as_of = as_of or self.today()
        tz = ZoneInfo(self.timezone)
        end = pd.Timestamp(datetime.combine(as_of + timedelta(days=1), datetime.min.time(), tz))
        end_ns = end.value - 1
        lic = self._tables.licenses
        until = lic.valid_until
        valid = (lic.valid_from <= end_ns) & ((until == loading.NAT) | (until > end_ns))
        team_ok = self._team_mask(teams)
        if team_ok is not None:
            valid &= team_ok[self._owner]
        idx = np.flatnonzero(valid)
        anchors = lic.cycle_anchor
        cyc = anchors != loading.NAT
        n_lic = len(lic)
        current = ledger_mod.quota_period(
            np.full(n_lic, end_ns), np.full(n_lic, day_number(as_of)), np.arange(n_lic), anchors
        )

        m = (self._qp == current[self._license]) & (self._day <= day_number(as_of))
        spent_b = np.bincount(self._license[m], weights=self._builtin[m], minlength=n_lic)
        spent_t = np.bincount(self._license[m], weights=self._topup[m], minlength=n_lic)
        hits = np.bincount(self._license[m], weights=self._hits[m], minlength=n_lic)

        quota = ledger_mod.micro(lic.quota)
        users = np.arange(self.n_users)
        limit = ledger_mod.topup_limits(self._tables.topups, users, np.full(self.n_users, end_ns))
        sel = self.licenses.iloc[idx]
        people = self.users.iloc[self._owner[idx]]
        month_start = as_of.replace(day=1)
        month_end = (month_start + timedelta(days=31)).replace(day=1) - timedelta(days=1)
        starts = np.full(len(idx), day_number(month_start), dtype=np.int64)
        ends = np.full(len(idx), day_number(month_end), dtype=np.int64)
        sel_cyc = cyc[idx]
        if sel_cyc.any():
            first_ns = anchors[idx][sel_cyc] + current[idx][sel_cyc] * ledger_mod.CYCLE_NS
            starts[sel_cyc] = ledger_mod.local_days(first_ns, self.timezone)
            last_ns = first_ns + ledger_mod.CYCLE_NS - 1
            ends[sel_cyc] = ledger_mod.local_days(last_ns, self.timezone)
        allowance = quota[idx] + limit[self._owner[idx]]
        spent = spent_b[idx] + spent_t[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(allowance > 0, spent / np.maximum(allowance, 1), np.nan)
        return pd.DataFrame(
            {
                "user_id": people["user_id"].to_numpy(),
                "name": people["name"].to_numpy(),
                "team": people["team"].to_numpy(),
                "license_id": sel["license_id"].to_numpy(),
                "plan": sel["plan"].to_numpy(),
                "period_start": starts.astype("datetime64[D]").astype(object),
                "period_end": ends.astype("datetime64[D]").astype(object),
                "quota": quota[idx] / MICRO,
                "topup_limit": limit[self._owner[idx]] / MICRO,
                "allowance": allowance / MICRO,
                "builtin_used": spent_b[idx] / MICRO,
                "topup_used": spent_t[idx] / MICRO,
                "spent": spent / MICRO,
                "share_used": share,
                "hits": hits[idx].astype(int),
            }
        )

    def quota_periods(self) -> pd.DataFrame:
        """Built-in and top-up use per license and quota period, for audits and invariants."""
        import pandas as pd

        rows = {
            "license": self._license,
            "qp": self._qp,
            "builtin": self._builtin,
            "topup": self._topup,
            "requests": self._requests,
            "hits": self._hits,
        }
        g = pd.DataFrame(rows).groupby(["license", "qp"], sort=True).sum()
        g = g.reset_index()
        lic = self.licenses.iloc[g["license"].to_numpy()]
        return pd.DataFrame(
            {
                "license_id": lic["license_id"].to_numpy(),
                "user_id": self.users["user_id"].to_numpy()[self._owner[g["license"].to_numpy()]],
                "quota_period": g["qp"].to_numpy(),
                "quota": lic["monthly_quota"].to_numpy(),
                "builtin": g["builtin"].to_numpy() / MICRO,
                "topup": g["topup"].to_numpy() / MICRO,
                "requests": g["requests"].to_numpy(),
                "hits": g["hits"].to_numpy(),
            }
        )

    def users_overview(self, period: Period, teams=()) -> pd.DataFrame:
        """One row per user for the Users page: use in the period and standing at its end."""
        import pandas as pd

        team_ok = self._team_mask(teams)
        codes = np.arange(self.n_users) if team_ok is None else np.flatnonzero(team_ok)
        s = self._slice(period.start, period.end, teams)
        n = self.n_users
        builtin = np.bincount(s.user, weights=s.builtin, minlength=n)
        topup = np.bincount(s.user, weights=s.topup, minlength=n)
        requests = np.bincount(s.user, weights=s.requests, minlength=n)
        hits = np.bincount(s.user, weights=s.hits, minlength=n)
        upto = np.searchsorted(self._day, day_number(period.end), side="right")
        last = np.full(n, -1, dtype=np.int64)
        np.maximum.at(last, self._user[:upto], self._day[:upto].astype(np.int64))

        st = self.standings(period.end, teams)
        per_user = st.groupby("user_id").agg(
            share_used=("share_used", "max"),
            topup_used=("topup_used", "sum"),
            topup_limit=("topup_limit", "sum"),
            allowance=("allowance", "sum"),
            spent=("spent", "sum"),
        )
        per_user["plans"] = _plan_labels(st)
        people = self.users.iloc[codes]
        frame = pd.DataFrame(
            {
                "user_id": people["user_id"].to_numpy(),
                "name": people["name"].to_numpy(),
                "email": people["email"].to_numpy(),
                "team": people["team"].to_numpy(),
                "requests": requests[codes].astype(int),
                "builtin": np.round(builtin[codes] / MICRO, 6),
                "topup": np.round(topup[codes] / MICRO, 6),
                "total": np.round((builtin[codes] + topup[codes]) / MICRO, 6),
                "limit_hits": hits[codes].astype(int),
                "last_active": [from_day_number(d) if d >= 0 else None for d in last[codes]],
            }
        )
        frame = frame.merge(per_user, how="left", left_on="user_id", right_index=True)
        frame["near_limit"] = frame["share_used"].fillna(0) >= 0.8
        return frame


def _plan_labels(standings: pd.DataFrame) -> pd.Series:
    """ "AI Pro, AI Ultimate" per user, built from a bit per plan: few plans, many users."""
    import pandas as pd

    plans = pd.Categorical(standings["plan"])
    bits = np.left_shift(1, plans.codes.astype(np.int64))
    pairs = pd.DataFrame({"user_id": standings["user_id"].to_numpy(), "bit": bits})
    mask = pairs.drop_duplicates().groupby("user_id")["bit"].sum()
    names = list(plans.categories)
    labels = {m: ", ".join(n for i, n in enumerate(names) if m >> i & 1) for m in mask.unique()}
    return mask.map(labels)
