"""The engine's answers laid out as the frames the Teams and Planning pages draw and export.

Pure functions (no Streamlit), so that a table, its chart and its CSV are built from one frame
and can be tested without a running app.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

import metrics
from metrics.views import BANDS
from ui.cost import Price

MICRO = 1_000_000
BAND_LABELS = {"hit": "Hit their limit"}
LAPSED_DAYS = 30


def team_label(team: str | None, all_teams=()) -> str:
    from ui.state import team_label as label

    return label(team, all_teams)


def teams_frame(report: metrics.TeamsReport, price: Price, all_teams=()) -> pd.DataFrame:
    """One row per team (the users without one last, as "No team"), in the report's order."""
    rows = []
    for row in report.teams:
        c = row.credits
        rows.append(
            {
                "team": row.team,
                "label": team_label(row.team, all_teams),
                "licensed_users": row.licensed_users,
                "active_users": row.active_users,
                "adoption": np.nan if row.adoption is None else row.adoption,
                "builtin": c.builtin,
                "topup": c.topup,
                "total": c.total,
                "per_active": c.total / row.active_users if row.active_users else np.nan,
                "limit_hit_users": row.limit_hit_users,
                "cost": price.amount(c.total),
            }
        )
    columns = [
        "team",
        "label",
        "licensed_users",
        "active_users",
        "adoption",
        "builtin",
        "topup",
        "total",
        "per_active",
        "limit_hit_users",
        "cost",
    ]
    frame = pd.DataFrame(rows, columns=columns).astype(
        {"adoption": "float64", "per_active": "float64"}
    )
    # Objects from the start: pandas' string inference would turn "No team" (None) into NaN.
    frame["team"] = pd.Series([r["team"] for r in rows], index=frame.index, dtype=object)
    return frame


def teams_csv_frame(teams: pd.DataFrame, price: Price, period: metrics.Period) -> pd.DataFrame:
    """What the Teams CSV holds: every figure, the period and the estimate's price."""
    return pd.DataFrame(
        {
            "team": teams["label"],
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "licensed_users": teams["licensed_users"],
            "active_users": teams["active_users"],
            "adoption": teams["adoption"],
            "builtin_credits": teams["builtin"],
            "topup_credits": teams["topup"],
            "total_credits": teams["total"],
            "credits_per_active_user": teams["per_active"].round(6),
            "limit_hit_users": teams["limit_hit_users"],
            **price.estimate_columns(teams["total"]),
        }
    )


def at_risk_frame(ds: metrics.Dataset, at_risk, today: date) -> pd.DataFrame:
    """One row per license expected to reach its allowance before its quota period resets:
    who, which license, where it stands, and the days left until the projected day and the
    reset (the day after the period's last day)."""
    columns = [
        "user_id",
        "name",
        "email",
        "team",
        "license_id",
        "plan",
        "spent",
        "allowance",
        "share_used",
        "projected_hit_day",
        "days_to_hit",
        "period_end",
        "resets_on",
        "days_to_reset",
    ]
    if not at_risk:
        return pd.DataFrame(columns=columns)
    risk = pd.DataFrame([vars(r) for r in at_risk])
    users = ds.users.set_index("user_id")[["name", "email", "team"]]
    plans = ds.licenses.set_index("license_id")["plan"]
    risk = risk.join(users, on="user_id")
    risk["plan"] = risk["license_id"].map(plans)
    risk["spent"] = risk["spent"] / MICRO
    risk["allowance"] = risk["allowance"] / MICRO
    risk["share_used"] = np.where(
        risk["allowance"] > 0,
        risk["spent"] / risk["allowance"].where(risk["allowance"] > 0),
        np.nan,
    )
    risk["days_to_hit"] = [(d - today).days for d in risk["projected_hit_day"]]
    risk["resets_on"] = [d + timedelta(days=1) for d in risk["period_end"]]
    risk["days_to_reset"] = [(d - today).days for d in risk["resets_on"]]
    return risk[columns]


def bands_frame(seats: pd.DataFrame) -> pd.DataFrame:
    """Users per band of allowance used (every band, even empty), and each band's share of the
    users who had a license in the last whole quota period."""
    counts = seats["band"].value_counts()
    users = [int(counts.get(b, 0)) for b in BANDS]
    whole = sum(users)
    return pd.DataFrame(
        {
            "band": list(BANDS),
            "label": [BAND_LABELS.get(b, b) for b in BANDS],
            "users": users,
            "share": [u / whole if whole else 0.0 for u in users],
        }
    )


def never_used(seats: pd.DataFrame) -> pd.DataFrame:
    """Reclaim candidates: users holding a license now who never made a counted request."""
    out = seats[seats["licensed"] & (seats["requests"] == 0)]
    return out.sort_values(["team", "name", "user_id"], na_position="last", ignore_index=True)


def lapsed(seats: pd.DataFrame, today: date, days: int = LAPSED_DAYS) -> pd.DataFrame:
    """Users who were active once but not in the last `days` days (today included)."""
    cutoff = today - timedelta(days=days - 1)
    last = seats["last_active"]
    out = seats[last.notna() & (last.map(lambda d: d is not None and d < cutoff))]
    out = out.assign(days_inactive=[(today - d).days for d in out["last_active"]])
    return out.sort_values(["last_active", "user_id"], ascending=[True, True], ignore_index=True)
