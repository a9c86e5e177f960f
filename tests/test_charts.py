"""The chart builders through their Vega-Lite: encodings, partial buckets, selection, CSV."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import pytest

from metrics import Granularity, Period
from tests import datasets as d
from ui import charts


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    import metrics

    root = d.worked_example(tmp_path_factory.mktemp("worked"))
    ds = metrics.open_dataset(root, cache_dir=False)
    return ds.report(Period(date(2026, 1, 21), date(2026, 2, 28)), "month")


def inline_rows(spec: dict) -> list[dict]:
    (rows,) = spec["datasets"].values()
    return rows


def test_active_users_chart(report):
    spec = charts.active_users_chart(report.frame(), report.granularity).to_dict()
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["y"]["field"] == "active_users"
    assert spec["encoding"]["x"]["sort"] is None
    rows = inline_rows(spec)
    assert [r["active_users"] for r in rows] == [1, 1]
    assert [r["label"] for r in rows] == ["Jan 2026", "Feb 2026"]
    assert [r["coverage"] for r in rows] == ["Partial", "Whole"]
    assert rows[0]["days"] == "Jan 21 – Jan 31, 2026"
    tips = {t["field"] for t in spec["encoding"]["tooltip"]}
    assert {"label", "active_users", "days", "coverage"} <= tips


def test_partial_buckets_are_lighter_with_a_legend(report):
    spec = charts.active_users_chart(report.frame(), report.granularity).to_dict()
    opacity = spec["encoding"]["opacity"]
    assert opacity["field"] == "coverage"
    assert opacity["scale"] == {"domain": ["Whole", "Partial"], "range": [1.0, 0.4]}
    assert opacity["legend"] is not None

    whole = report.frame().assign(partial=False)
    spec = charts.active_users_chart(whole, report.granularity).to_dict()
    assert spec["encoding"]["opacity"]["legend"] is None


def test_credits_chart_stacks_builtin_under_topup(report):
    spec = charts.credits_chart(report.frame(), report.granularity).to_dict()
    enc = spec["encoding"]
    assert enc["y"]["stack"] == "zero"
    assert enc["color"]["scale"]["domain"] == ["Built-in quota", "Top-up AI Credits"]
    assert enc["color"]["scale"]["range"] == [charts.BUILTIN, charts.TOPUP]
    assert enc["order"]["field"] == "stack"
    rows = pd.DataFrame(inline_rows(spec))
    built = rows[rows["kind"] == "Built-in quota"]["credits"].tolist()
    top = rows[rows["kind"] == "Top-up AI Credits"]["credits"].tolist()
    assert built == [0.0, 3.0]
    assert top == [3.0, 0.0]
    assert {t["field"] for t in enc["tooltip"]} >= {"total", "builtin", "topup"}


def test_limit_hits_chart(report):
    spec = charts.limit_hits_chart(report.frame(), report.granularity).to_dict()
    assert spec["mark"]["color"] == charts.HITS
    assert [r["limit_hit_users"] for r in inline_rows(spec)] == [1, 0]


@pytest.mark.parametrize(
    "build", [charts.active_users_chart, charts.credits_chart, charts.limit_hits_chart]
)
def test_every_chart_selects_a_bucket_by_its_days(report, build):
    spec = build(report.frame(), report.granularity).to_dict()
    (param,) = spec["params"]
    assert param["name"] == charts.SELECTION
    assert param["select"] == {"type": "point", "fields": ["first", "last"], "on": "click"}
    fill = spec["encoding"]["fillOpacity"]
    assert fill["condition"] == {"param": charts.SELECTION, "value": 1.0}
    assert fill["value"] == 0.3
    firsts = {r["first"] for r in inline_rows(spec)}
    assert firsts == {"2026-01-21", "2026-02-01"}


@pytest.mark.parametrize(
    ("gran", "label"),
    [
        (Granularity.DAY, "Mar 2"),
        (Granularity.WEEK, "W10 · Mar 2"),
        (Granularity.MONTH, "Mar 2026"),
        (Granularity.YEAR, "2026"),
    ],
)
def test_bucket_labels(gran, label):
    assert charts.bucket_label(date(2026, 3, 2), gran) == label


def test_day_range():
    assert charts.day_range(date(2026, 1, 5), date(2026, 1, 5)) == "Jan 5, 2026"
    assert charts.day_range(date(2025, 12, 29), date(2026, 1, 4)) == "Dec 29, 2025 – Jan 4, 2026"


def test_series_csv(report):
    frame = pd.read_csv(io.BytesIO(charts.series_csv(report.frame(), "credits")))
    assert list(frame.columns) == [
        "bucket",
        "first_day",
        "last_day",
        "partial",
        "builtin",
        "topup",
        "total",
    ]
    assert frame["bucket"].tolist() == ["2026-01-01", "2026-02-01"]
    assert frame["first_day"].tolist() == ["2026-01-21", "2026-02-01"]
    assert frame["total"].tolist() == [3.0, 3.0]
    hits = pd.read_csv(io.BytesIO(charts.series_csv(report.frame(), "hits")))
    assert hits["limit_hit_users"].tolist() == [1, 0]
