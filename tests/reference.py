"""A deliberately simple, loop-based implementation of the contract, as a test oracle.

It shares no code with `metrics` beyond nothing at all: it reads the Parquet files with pandas,
walks requests one by one and counts with Python sets, so a bug in the vectorised engine cannot
hide in both.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow.dataset as pads

EXCLUDED = {"code_completion", "next_edit_suggestion"}


def _utc(v):
    t = pd.Timestamp(v)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def load(root: Path, tz: str | None = None):
    root = Path(root)
    org = root / "organization.json"
    zone = tz or (json.loads(org.read_text()).get("timezone", "UTC") if org.exists() else "UTC")
    users = pd.read_parquet(root / "users.parquet")
    licenses = pd.read_parquet(root / "licenses.parquet")
    tl = root / "topup_limits.parquet"
    topups = (
        pd.read_parquet(tl)
        if tl.exists()
        else pd.DataFrame(columns=["user_id", "effective_from", "monthly_limit"])
    )
    if (root / "requests.parquet").exists():
        requests = pd.read_parquet(root / "requests.parquet")
    else:
        requests = pads.dataset(root / "requests", partitioning="hive").to_table().to_pandas()
    return zone, users, licenses, topups, requests


def ledger(root: Path, tz: str | None = None) -> tuple[str, list[dict], pd.DataFrame]:
    zone, users, licenses, topups, requests = load(root, tz)
    z = ZoneInfo(zone)
    lic = {r.license_id: r for r in licenses.itertuples()}
    rows = []
    for r in requests.itertuples():
        if not (r.credits > 0) or r.tool in EXCLUDED:
            continue
        ts = _utc(r.ts)
        rows.append(
            {
                "rid": r.request_id,
                "ts": ts,
                "user": r.user_id,
                "lic": r.license_id,
                "tool": r.tool,
                "c": round(r.credits * 1_000_000),
                "local": ts.astimezone(z).date(),
            }
        )
    rows.sort(key=lambda x: (x["ts"], x["rid"]))

    def limit_at(user, t):
        eligible = [tr for tr in topups.itertuples() if _utc(tr.effective_from) <= t]
        own = [tr for tr in eligible if isinstance(tr.user_id, str) and tr.user_id == user]
        rows = own or [tr for tr in eligible if not isinstance(tr.user_id, str)]
        if not rows:
            return 0
        newest = max(_utc(tr.effective_from) for tr in rows)
        last = [tr for tr in rows if _utc(tr.effective_from) == newest][-1]
        return round(last.monthly_limit * 1_000_000)

    spent = defaultdict(int)
    for x in rows:
        L = lic[x["lic"]]
        anchor = getattr(L, "cycle_anchor", None)
        if anchor is not None and not pd.isna(anchor):
            k = (x["ts"] - _utc(anchor)) // timedelta(days=30)
            qp = ("cycle", k)
        else:
            local = x["ts"].astimezone(z)
            qp = ("month", local.year, local.month)
        quota = round(L.monthly_quota * 1_000_000)
        before = spent[(x["lic"], qp)]
        builtin = min(x["c"], max(0, quota - before))
        after = before + x["c"]
        spent[(x["lic"], qp)] = after
        allowance = quota + limit_at(x["user"], x["ts"])
        x.update(builtin=builtin, topup=x["c"] - builtin, hit=before < allowance <= after)
    return zone, rows, users


def _floor(d: date, gran: str) -> date:
    if gran == "day":
        return d
    if gran == "week":
        return d - timedelta(days=d.weekday())
    if gran == "month":
        return d.replace(day=1)
    return date(d.year, 1, 1)


def report(
    root: Path,
    start: date,
    end: date,
    granularity: str | None = None,
    teams: tuple[str, ...] = (),
    tz: str | None = None,
) -> dict:
    zone, rows, users = ledger(root, tz)
    n = (end - start).days + 1
    gran = granularity or ("day" if n <= 31 else "month" if n <= 731 else "year")
    labels = []
    d = start
    while d <= end:
        lab = _floor(d, gran)
        if lab not in labels:
            labels.append(lab)
        d += timedelta(days=1)
    team_of = dict(zip(users["user_id"], users["team"], strict=True))
    keep = [
        x
        for x in rows
        if start <= x["local"] <= end and (not teams or team_of.get(x["user"]) in teams)
    ]
    active = {lab: set() for lab in labels}
    bi = dict.fromkeys(labels, 0)
    tu = dict.fromkeys(labels, 0)
    hits = {lab: set() for lab in labels}
    daily = defaultdict(set)
    for x in keep:
        lab = _floor(x["local"], gran)
        active[lab].add(x["user"])
        bi[lab] += x["builtin"]
        tu[lab] += x["topup"]
        if x["hit"]:
            hits[lab].add(x["user"])
            daily[x["local"]].add(x["user"])
    peak = max((len(v) for v in daily.values()), default=0)
    peak_day = min((d for d, v in daily.items() if len(v) == peak), default=None) if peak else None
    cr = lambda m: round(m / 1_000_000, 6)  # noqa: E731
    return {
        "timezone": zone,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "granularity": gran,
        "buckets": [lab.isoformat() for lab in labels],
        "active_users": {
            "total": len({x["user"] for x in keep}),
            "series": [len(active[lab]) for lab in labels],
        },
        "credits": {
            "builtin": cr(sum(bi.values())),
            "topup": cr(sum(tu.values())),
            "total": cr(sum(bi.values()) + sum(tu.values())),
            "series": {
                "builtin": [cr(bi[lab]) for lab in labels],
                "topup": [cr(tu[lab]) for lab in labels],
                "total": [cr(bi[lab] + tu[lab]) for lab in labels],
            },
        },
        "limit_hits": {
            "users": len(set().union(*hits.values())) if hits else 0,
            "peak_daily_users": peak,
            "peak_day": peak_day.isoformat() if peak_day else None,
            "series": [len(hits[lab]) for lab in labels],
        },
    }
