"""The answers the app lays out as tables and downloads: frames built from the same sums as the
reports, so a table and a chart can never disagree. pandas lives here, at the surface; the rows
underneath stay numpy."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np

from metrics.model import MICRO
from metrics.periods import Period

if TYPE_CHECKING:
    import pandas as pd

BANDS = ("< 20 %", "20–80 %", "≥ 80 %", "hit")
# The columns of a user's fullest license that users_overview carries.
FULLEST = [
    "license_id",
    "plan",
    "quota",
    "topup_limit",
    "allowance",
    "spent",
    "share_used",
    "topup_used",
    "quota_start",
    "quota_end",
]


def _credits(micro) -> np.ndarray:
    return np.round(np.asarray(micro, dtype=np.float64) / MICRO, 6)


def _days(days) -> np.ndarray:
    """Dates (None: no day), each distinct day made once: a Python date per row of 100,000
    took most of a second."""
    found, at = np.unique(np.asarray(days, np.int64), return_inverse=True)
    dates = [None if d < 0 else date(1970, 1, 1) + timedelta(days=int(d)) for d in found]
    return np.array(dates, dtype=object)[at]


class Views:
    """Mixed into `Dataset`; relies on its `report`, `per_user`, `spending` and tables."""

    def _people(self, codes: np.ndarray) -> dict:
        u = self.tables.users.take(codes)
        return {c: u[c].to_pylist() for c in ("user_id", "name", "email", "team")}

    def bucket_users(self, first: date, last: date, teams=(), tools=()) -> pd.DataFrame:
        """The users behind a bar: everyone with counted requests or a limit hit in the days."""
        import pandas as pd

        use = self.per_user(first, last, teams, tools)
        codes = np.flatnonzero((use["requests"] > 0) | (use["hits"] > 0))
        b, t = use["builtin"][codes], use["topup"][codes]
        frame = pd.DataFrame(
            {
                **self._people(codes),
                "builtin": _credits(b),
                "topup": _credits(t),
                "total": _credits(b + t),
                "requests": use["requests"][codes],
                "limit_hits": use["hits"][codes],
                "hit_limit": use["hits"][codes] > 0,
            }
        )
        return frame.sort_values(["total", "user_id"], ascending=[False, True], ignore_index=True)

    def standings(self, as_of: date | None = None, teams=(), back: int = 0) -> pd.DataFrame:
        """Each license valid at the end of `as_of`, in its current quota period (or `back`
        periods earlier): spent against the allowance in force then."""
        import pandas as pd

        as_of = as_of or self.today()
        s = self.spending(as_of, back)
        lic = self.tables.licenses
        allowance = self.allowances(s["period_now"])
        keep = self.valid_at(s["period_now"])
        team_ok = self.team_mask(teams)
        if team_ok is not None:
            keep &= team_ok[lic.owner]
        idx = np.flatnonzero(keep)
        spent = s["builtin"] + s["topup"]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(allowance > 0, spent / np.maximum(allowance, 1), np.nan)
        people = self._people(lic.owner[idx])
        return pd.DataFrame(
            {
                "user_id": people["user_id"],
                "name": people["name"],
                "team": people["team"],
                "license_id": lic.ids.take(idx).to_pylist(),
                "plan": lic.plan.take(idx).to_pylist(),
                "period_start": _days(s["period_first"][idx]),
                "period_end": _days(s["period_last"][idx]),
                "quota": _credits(lic.quota[idx]),
                "topup_limit": _credits(allowance[idx] - lic.quota[idx]),
                "allowance": _credits(allowance[idx]),
                "builtin_used": _credits(s["builtin"][idx]),
                "topup_used": _credits(s["topup"][idx]),
                "spent": _credits(spent[idx]),
                "share_used": share[idx],
                "hits": s["hits"][idx],
            }
        )

    def users_overview(self, period: Period, teams=()) -> pd.DataFrame:
        """One row per user: use in the period, and where they stand at its end. With several
        licenses, every allowance column describes the same one, the fullest (the largest share
        used, then the most spent, then the first id); `licenses` says how many the user holds."""
        import pandas as pd

        team_ok = self.team_mask(teams)
        codes = np.arange(self.n_users) if team_ok is None else np.flatnonzero(team_ok)
        use = self.per_user(period.start, period.end, teams)
        last = self.per_user(self.first_day or period.end, period.end, teams)["last_day"]
        b, t = use["builtin"][codes], use["topup"][codes]
        frame = pd.DataFrame(
            {
                **self._people(codes),
                "requests": use["requests"][codes],
                "builtin": _credits(b),
                "topup": _credits(t),
                "total": _credits(b + t),
                "limit_hits": use["hits"][codes],
                "last_active": _days(last[codes]),
            }
        )
        st = self.standings(period.end, teams)
        fullest = (
            st.assign(order=st["share_used"].fillna(-1.0))
            .sort_values(["order", "spent", "license_id"], ascending=[False, False, True])
            .drop_duplicates("user_id")
            .set_index("user_id")
            .rename(columns={"period_start": "quota_start", "period_end": "quota_end"})
        )
        extra = fullest[FULLEST].assign(licenses=st.groupby("user_id").size())
        frame = frame.join(extra, on="user_id")
        frame["licenses"] = frame["licenses"].fillna(0).astype(int)
        frame["near_limit"] = frame["share_used"].fillna(0) >= 0.8
        return frame

    def seats(self, as_of: date, teams=()) -> pd.DataFrame:
        """One row per user for seat planning: licensed at the end of `as_of`, ever active,
        last active day, and the share of the allowance used in the last whole quota period
        (the fullest license; `band` is one of BANDS, or None without a license then)."""
        import pandas as pd

        team_ok = self.team_mask(teams)
        codes = np.arange(self.n_users) if team_ok is None else np.flatnonzero(team_ok)
        ever = self.per_user(self.first_day or as_of, as_of, teams)
        lic = self.tables.licenses
        now = self.quota_periods_at(as_of)["now"][0] if len(lic) else 0
        licensed = np.zeros(self.n_users, bool)
        licensed[lic.owner[self.valid_at(now)]] = True
        last = self.standings(as_of, teams, back=1)
        per_user = last.groupby("user_id").agg(share=("share_used", "max"), hits=("hits", "sum"))
        band = pd.cut(
            per_user["share"].fillna(0), [-np.inf, 0.2, 0.8, np.inf], right=False, labels=BANDS[:3]
        ).astype(object)
        per_user["band"] = band.where(per_user["hits"] == 0, BANDS[3])
        frame = pd.DataFrame(
            {
                **self._people(codes),
                "licensed": licensed[codes],
                "requests": ever["requests"][codes],
                "last_active": _days(ever["last_day"][codes]),
            }
        )
        return frame.join(per_user[["share", "band"]], on="user_id")
