"""Shared, cached datasets and an independent reference ledger for the generator's tests.

Generating is the slow part, so each dataset is written once per test session. The reference
ledger re-derives the contract's quota periods and allowances with pandas, without sharing code
with the generator, so the statistical tests do not take the generator's word for anything.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from fixtures import GenerationSummary, GeneratorConfig, generate

EXCLUDED = {"code_completion", "next_edit_suggestion"}
MICRO = 1_000_000
MAIN_CONFIG = GeneratorConfig.preset("small", users=160, months=6, end=date(2026, 8, 20), seed=11)


@cache
def _root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="fixtures-tests-"))
    atexit.register(shutil.rmtree, root, True)
    return root


@cache
def generated(config: GeneratorConfig, name: str) -> tuple[Path, GenerationSummary]:
    out = _root() / name
    return out, generate(out, config)


def main_dataset() -> tuple[Path, GenerationSummary]:
    return generated(MAIN_CONFIG, "main")


def read_requests(path: Path) -> pd.DataFrame:
    table = pads.dataset(path / "requests", format="parquet", partitioning="hive").to_table()
    return table.to_pandas()


@cache
def _tables(path: Path) -> dict[str, pd.DataFrame]:
    return {
        "users": pq.read_table(path / "users.parquet").to_pandas(),
        "licenses": pq.read_table(path / "licenses.parquet").to_pandas(),
        "topups": pq.read_table(path / "topup_limits.parquet").to_pandas(),
        "requests": read_requests(path),
    }


def tables(path: Path) -> dict[str, pd.DataFrame]:
    return {k: v.copy() for k, v in _tables(path).items()}


def counted(requests: pd.DataFrame) -> pd.DataFrame:
    return requests[(requests["credits"] > 0) & ~requests["tool"].isin(EXCLUDED)]


def _topup_micro(req: pd.DataFrame, topups: pd.DataFrame) -> np.ndarray:
    req = req[["request_id", "user_id", "ts"]].sort_values("ts")
    org = topups[topups["user_id"].isna()].sort_values("effective_from")
    own = topups[topups["user_id"].notna()].sort_values("effective_from")
    m = pd.merge_asof(
        req,
        org[["effective_from", "monthly_limit"]],
        left_on="ts",
        right_on="effective_from",
    ).rename(columns={"monthly_limit": "org"})
    m = pd.merge_asof(
        m.sort_values("ts"),
        own[["user_id", "effective_from", "monthly_limit"]].rename(
            columns={"effective_from": "own_from"}
        ),
        left_on="ts",
        right_on="own_from",
        by="user_id",
    )
    limit = m["monthly_limit"].fillna(m["org"]).fillna(0.0)
    return pd.Series(np.rint(limit.to_numpy() * MICRO), index=m["request_id"]).astype(np.int64)


@cache
def _ledger(path: Path, timezone: str) -> pd.DataFrame:
    t = _tables(path)
    req = counted(t["requests"]).merge(
        t["licenses"][["license_id", "monthly_quota", "cycle_anchor"]], on="license_id"
    )
    anchored = req["cycle_anchor"].notna()
    local = req["ts"].dt.tz_convert(timezone)
    calendar = -(local.dt.year * 12 + local.dt.month)
    cycles = (req["ts"] - req["cycle_anchor"]).dt.total_seconds() // (30 * 86400)
    req["period"] = np.where(anchored, cycles.fillna(0), calendar).astype(np.int64)
    req["micro"] = np.rint(req["credits"] * MICRO).astype(np.int64)
    req = req.sort_values(["license_id", "period", "ts", "request_id"], kind="stable")
    req["spent_after"] = req.groupby(["license_id", "period"])["micro"].cumsum()
    req["spent_before"] = req["spent_after"] - req["micro"]
    topup = _topup_micro(req, t["topups"])
    req["allowance"] = (
        np.rint(req["monthly_quota"] * MICRO).astype(np.int64)
        + topup.reindex(req["request_id"]).to_numpy()
    )
    req["hit"] = (req["spent_before"] < req["allowance"]) & (req["spent_after"] >= req["allowance"])
    req["local"] = local.reindex(req.index)
    return req


def ledger(path: Path, timezone: str) -> pd.DataFrame:
    return _ledger(path, timezone).copy()
